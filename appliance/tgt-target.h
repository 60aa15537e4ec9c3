/* One iSCSI target in a tgtd of its own, configured with tgtadm.
 *
 * tgtd starts empty and is configured at run time through its
 * management socket (the path is $TGT_IPC_SOCKET, which the caller
 * sets for tgtd and tgtadm alike).  The target is tid 1 with one LUN,
 * backed by a file with tgtd's rdwr store opened O_DIRECT; initiators
 * can log in only once everything else is in place (the ACL comes
 * last).
 */
#ifndef BLOCKWATCH_TGT_TARGET_H
#define BLOCKWATCH_TGT_TARGET_H

#include <stdbool.h>
#include <stddef.h>

struct tgt_target {
  const char *iqn;              /* target name */
  const char *portal;           /* as tgtd shows it: A.B.C.D:P or [V6]:P */
  const char *backing;          /* the LUN's file */
  bool readonly;
  const char *chap_user;        /* NULL: no CHAP */
  const char *chap_secret;
  const char *const *addresses; /* initiator addresses or networks */
  size_t naddresses;
  const char *const *names;     /* initiator names */
  size_t nnames;
};

/* Checks that tgtd listens on t->portal and nowhere else (tgtd falls
 * back to every address on port 3260 when it cannot bind the portal it
 * was given), then creates the target (*created says whether it got
 * that far).  -1 after saying why on stderr.
 */
int tgt_configure (const struct tgt_target *t, bool *created);

/* Removes the target if created, dropping its sessions, and asks tgtd
 * to exit.  -1 if tgtd did not take it (it may be dead).
 */
int tgt_shutdown (bool created);

#endif /* BLOCKWATCH_TGT_TARGET_H */
