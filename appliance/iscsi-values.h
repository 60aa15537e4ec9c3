/* The forms of what an iSCSI front end is configured with: names,
 * portals, initiator addresses, CHAP credentials.  blockwatchd checks
 * its configuration file with these, and blockwatch iscsi-target its
 * options, so a value one takes the other takes too.  Each check
 * returns NULL, or what is wrong.
 */
#ifndef BLOCKWATCH_ISCSI_VALUES_H
#define BLOCKWATCH_ISCSI_VALUES_H

#include <arpa/inet.h>
#include <stdbool.h>

/* An iSCSI name (RFC 3720, 3.2.6.3): iqn.YYYY-MM.NAMING-AUTHORITY[...]
 * in lowercase, eui. and 16 hex digits, or naa. and 16 or 32; at most
 * 223 bytes.
 */
const char *iscsi_check_name (const char *name);

/* An initiator address tgtd can match: an IPv4 or IPv6 literal, with
 * /PREFIX for a network.
 */
const char *iscsi_check_address (const char *a);

/* A portal, ADDRESS:PORT or [IPV6]:PORT with address literals; shown
 * is the form tgtd lists it in (the address as inet_ntop writes it).
 */
struct iscsi_portal {
  char address[INET6_ADDRSTRLEN];
  unsigned port;
  bool any;                     /* the wildcard address of its family */
  char shown[INET6_ADDRSTRLEN + 8];
};
const char *iscsi_parse_portal (const char *v, struct iscsi_portal *p);

/* A CHAP user name tgtadm can take: printable, no ',' or '='. */
const char *iscsi_check_chap_user (const char *u);

/* The CHAP secret in a file: one line of 12 to 255 printable
 * characters (a trailing newline is not part of it).  A new string in
 * *secret.  The message does not name the file.
 */
const char *iscsi_read_secret (const char *path, char **secret);

#endif /* BLOCKWATCH_ISCSI_VALUES_H */
