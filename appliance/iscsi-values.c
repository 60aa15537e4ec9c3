/* The forms of iSCSI front-end values (see iscsi-values.h). */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iscsi-values.h"

#define SECRET_MIN 12           /* 96 bits: RFC 3720, 8.2.1 */
#define SECRET_MAX 255

static bool
all_of (const char *s, size_t n, const char *set)
{
  return n > 0 && strspn (s, set) >= n;
}

#define HEX "0123456789abcdefABCDEF"
#define DIGITS "0123456789"

const char *
iscsi_check_name (const char *name)
{
  size_t n = strlen (name);

  if (n > 223)                  /* RFC 3720, 3.2.6.1 */
    return "an iSCSI name has at most 223 bytes";
  if (strncmp (name, "eui.", 4) == 0 && n == 20 &&
      all_of (name + 4, 16, HEX))
    return NULL;
  if (strncmp (name, "naa.", 4) == 0 && (n == 20 || n == 36) &&
      all_of (name + 4, n - 4, HEX))
    return NULL;
  /* iqn.YYYY-MM.reversed.domain[:anything], lowercase: initiators
   * send names normalized to lowercase (RFC 3722) and tgtd compares
   * them byte by byte.
   */
  if (strncmp (name, "iqn.", 4) == 0 && n > 12 &&
      all_of (name + 4, 4, DIGITS) && name[8] == '-' &&
      all_of (name + 9, 2, DIGITS) && name[11] == '.' &&
      all_of (name + 12, n - 12, "abcdefghijklmnopqrstuvwxyz" DIGITS ".-:"))
    return NULL;
  return "expected an iSCSI name: iqn.YYYY-MM.DOMAIN[:NAME] (lowercase "
         "letters, digits, '.', '-', ':'), eui.HEX16 or naa.HEX16|HEX32";
}

const char *
iscsi_check_address (const char *a)
{
  static const char *const bad = "expected an IPv4 or IPv6 address, with "
                                 "/PREFIX for a network";
  unsigned char buf[sizeof (struct in6_addr)];
  const char *slash = strchr (a, '/');
  char addr[INET6_ADDRSTRLEN];
  size_t n = slash ? (size_t) (slash - a) : strlen (a);
  unsigned long bits, max;
  char *end;

  if (n >= sizeof addr)
    return bad;
  memcpy (addr, a, n);
  addr[n] = '\0';
  if (inet_pton (AF_INET, addr, buf) == 1)
    max = 32;
  else if (inet_pton (AF_INET6, addr, buf) == 1)
    max = 128;
  else
    return bad;
  if (slash == NULL)
    return NULL;
  errno = 0;
  bits = strtoul (slash + 1, &end, 10);
  if (slash[1] < '0' || slash[1] > '9' || *end || errno || bits > max)
    return max == 32 ? "the prefix after '/' is 0 to 32"
                     : "the prefix after '/' is 0 to 128";
  return NULL;
}

const char *
iscsi_parse_portal (const char *v, struct iscsi_portal *p)
{
  const char *colon = strrchr (v, ':');
  unsigned char buf[sizeof (struct in6_addr)];
  char addr[INET6_ADDRSTRLEN + 2], *end;
  int family = AF_INET;
  size_t n;

  memset (p, 0, sizeof *p);
  if (colon == NULL || colon[1] < '0' || colon[1] > '9' ||
      (p->port = strtoul (colon + 1, &end, 10), *end) || p->port == 0 ||
      p->port > 65535)
    return "expected ADDRESS:PORT, PORT 1 to 65535";
  n = colon - v;
  if (*v == '[' && n > 2 && colon[-1] == ']') {
    family = AF_INET6;
    v++;
    n -= 2;
  }
  if (n >= sizeof addr)
    n = sizeof addr - 1;
  memcpy (addr, v, n);
  addr[n] = '\0';
  if (inet_pton (family, addr, buf) != 1 ||
      inet_ntop (family, buf, p->address, sizeof p->address) == NULL)
    return "expected an IPv4 address, or an IPv6 one in [brackets], before "
           ":PORT (0.0.0.0 or [::] for every address; no host names)";
  p->any = true;
  for (size_t i = 0; i < (family == AF_INET ? 4u : 16u); i++)
    p->any &= buf[i] == 0;
  snprintf (p->shown, sizeof p->shown, family == AF_INET ? "%s:%u"
            : "[%s]:%u", p->address, p->port);
  return NULL;
}

const char *
iscsi_check_chap_user (const char *u)
{
  for (const char *c = u; *c; c++)
    if (*c <= ' ' || *c == 0x7f || *c == ',' || *c == '=')
      return "a CHAP user name is printable, without spaces, ',' or '='";
  return *u ? NULL : "the CHAP user name is empty";
}

const char *
iscsi_read_secret (const char *path, char **secret)
{
  char buf[SECRET_MAX + 4];
  const char *msg = NULL;
  size_t n = 0;
  ssize_t r;
  int fd = open (path, O_RDONLY | O_CLOEXEC);

  if (fd == -1)
    return strerror (errno);
  while (n < sizeof buf - 1 &&
         (r = read (fd, buf + n, sizeof buf - 1 - n)) != 0) {
    if (r == -1 && errno != EINTR) {
      msg = strerror (errno);
      goto out;
    }
    if (r > 0)
      n += r;
  }
  buf[n] = '\0';
  if (n && buf[n - 1] == '\n')
    buf[--n] = '\0';
  if (n && buf[n - 1] == '\r')
    buf[--n] = '\0';
  for (size_t i = 0; i < n && msg == NULL; i++)
    if (buf[i] < ' ' || buf[i] == 0x7f)
      msg = "the CHAP secret is one line of printable characters";
  if (msg == NULL && (n < SECRET_MIN || n > SECRET_MAX))
    msg = "the CHAP secret needs 12 to 255 characters";
  else if (msg == NULL && (*secret = strdup (buf)) == NULL)
    msg = "out of memory";
 out:
  explicit_bzero (buf, sizeof buf);
  close (fd);
  return msg;
}
