/* The forms of blockwatchd's configuration values (see config-value.h). */

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/size.h"
#include "config-value.h"
#include "config.h"
#include "engine/engine.h"
#include "event-sink.h"
#include "iscsi-values.h"
#include "storage/storage-uri.h"
#include "tap-ring.h"
#include "topic.h"

static int
fail (char *msg, size_t len, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));

static int
fail (char *msg, size_t len, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (msg, len, fmt, ap);
  va_end (ap);
  return -1;
}

/* Stores a copy of v in a char * field. */
static int
set_string (const char *v, void *field, char *msg, size_t len)
{
  char *s = strdup (v);

  if (s == NULL)
    return fail (msg, len, "out of memory");
  *(char **) field = s;
  return 0;
}

/* v is one of the NULL-terminated words. */
static bool
one_of (const char *v, const char *const *words)
{
  for (; *words; words++)
    if (strcmp (v, *words) == 0)
      return true;
  return false;
}

/* An unsigned decimal number from min to max, nothing after it. */
static int
number (const char *v, uint64_t min, uint64_t max, uint64_t *n)
{
  char *end;

  if (*v < '0' || *v > '9')
    return -1;
  errno = 0;
  *n = strtoull (v, &end, 10);
  return errno || *end || *n < min || *n > max ? -1 : 0;
}

static bool
has_control (const char *v)
{
  for (const char *p = v; *p; p++)
    if ((unsigned char) *p < 0x20 || *p == 0x7f)
      return true;
  return false;
}

int
value_name (const char *v, void *field, char *msg, size_t len)
{
  if (has_control (v))
    return fail (msg, len, "control characters are not allowed");
  return set_string (v, field, msg, len);
}

int
value_path (const char *v, void *field, char *msg, size_t len)
{
  if (*v != '/')
    return fail (msg, len, "expected an absolute path");
  return value_name (v, field, msg, len);
}

int
value_program (const char *v, void *field, char *msg, size_t len)
{
  if (*v != '/' && strchr (v, '/'))
    return fail (msg, len, "expected an absolute path, or a name to look "
                 "for in $PATH");
  return value_name (v, field, msg, len);
}

int
value_bool (const char *v, void *field, char *msg, size_t len)
{
  static const char *const yes[] = { "yes", "true", "on", "1", NULL };
  static const char *const no[] = { "no", "false", "off", "0", NULL };

  if (one_of (v, yes))
    *(bool *) field = true;
  else if (one_of (v, no))
    *(bool *) field = false;
  else
    return fail (msg, len, "expected yes or no");
  return 0;
}

/* An unsigned field from 0 to max; "expected WHAT, 0 to MAX" if not. */
static int
unsigned_up_to (const char *v, void *field, unsigned max, const char *what,
                char *msg, size_t len)
{
  uint64_t n;

  if (number (v, 0, max, &n) == -1)
    return fail (msg, len, "expected %s, 0 to %u", what, max);
  *(unsigned *) field = n;
  return 0;
}

int
value_seconds (const char *v, void *field, char *msg, size_t len)
{
  return unsigned_up_to (v, field, 3600, "seconds", msg, len);
}

/* How much lower than blockwatchd's a process's CPU priority is: a nice
 * increment.  Only up: raising a priority takes a privilege.
 */
int
value_nice (const char *v, void *field, char *msg, size_t len)
{
  return unsigned_up_to (v, field, 19, "a nice increment", msg, len);
}

/* The least oom_score_adj of a process (proc(5)); 0 leaves it as
 * blockwatchd's.
 */
int
value_oom_score_adj (const char *v, void *field, char *msg, size_t len)
{
  return unsigned_up_to (v, field, 1000, "an OOM score adjustment", msg, len);
}

int
value_milliseconds (const char *v, void *field, char *msg, size_t len)
{
  return unsigned_up_to (v, field, 3600000, "milliseconds", msg, len);
}

int
value_log_level (const char *v, void *field, char *msg, size_t len)
{
  for (int l = BWD_LOG_ERROR; l <= BWD_LOG_DEBUG; l++)
    if (strcmp (v, bwd_log_level_name (l)) == 0) {
      *(enum bwd_log_level *) field = l;
      return 0;
    }
  return fail (msg, len, "expected error, warning, info or debug");
}

/* ADDRESS:PORT or [ADDRESS]:PORT, the address a literal (no name to
 * resolve: what is listened on must not depend on DNS).  Sets *addr
 * (a new string) and *port.
 */
static int
host_port (const char *v, char **addr, char **port, char *msg, size_t len)
{
  const char *colon = strrchr (v, ':');
  unsigned char buf[sizeof (struct in6_addr)];
  uint64_t n;
  char *a;
  int af = AF_INET;

  if (colon == NULL || number (colon + 1, 1, 65535, &n) == -1)
    return fail (msg, len, "expected ADDRESS:PORT, PORT 1 to 65535");
  if (*v == '[' && colon > v + 1 && colon[-1] == ']') {
    a = strndup (v + 1, colon - v - 2);
    af = AF_INET6;
  }
  else
    a = strndup (v, colon - v);
  if (a == NULL)
    return fail (msg, len, "out of memory");
  if (inet_pton (af, a, buf) != 1) {
    free (a);
    return fail (msg, len, "expected an IPv4 address, or an IPv6 one in "
                 "[brackets], before :PORT (no host names)");
  }
  *port = strdup (colon + 1);
  if (*port == NULL) {
    free (a);
    return fail (msg, len, "out of memory");
  }
  *addr = a;
  return 0;
}

int
value_metrics (const char *v, void *field, char *msg, size_t len)
{
  char *addr, *port;

  if (strcmp (v, "off") == 0)
    return 0;
  if (host_port (v, &addr, &port, msg, len) == -1)
    return -1;
  free (addr);
  free (port);
  return set_string (v, field, msg, len);
}

int
value_user (const char *v, void *field, char *msg, size_t len)
{
  struct bwd_account *a = field;
  struct passwd *pw;

  errno = 0;
  pw = getpwnam (v);
  if (pw == NULL)
    return fail (msg, len, "%s", errno ? strerror (errno) : "no such user");
  a->uid = pw->pw_uid;
  a->gid = pw->pw_gid;
  return set_string (v, &a->name, msg, len);
}

int
value_group (const char *v, void *field, char *msg, size_t len)
{
  struct bwd_account *a = field;
  struct group *gr;

  errno = 0;
  gr = getgrnam (v);
  if (gr == NULL)
    return fail (msg, len, "%s", errno ? strerror (errno) : "no such group");
  a->gid = gr->gr_gid;
  return set_string (v, &a->name, msg, len);
}

int
value_broker_uri (const char *v, void *field, char *msg, size_t len)
{
  if (strncmp (v, "mqtts://", 8) != 0 && strncmp (v, "mqtt://", 7) != 0)
    return fail (msg, len, "expected mqtts://HOST[:PORT] (or mqtt:// "
                 "with plaintext = yes)");
  return value_name (v, field, msg, len);
}

int
value_qos (const char *v, void *field, char *msg, size_t len)
{
  if (strcmp (v, "0") != 0 && strcmp (v, "1") != 0)
    return fail (msg, len, "expected 0 or 1");
  *(int *) field = *v - '0';
  return 0;
}

int
value_mqtt_version (const char *v, void *field, char *msg, size_t len)
{
  static const char *const versions[] = { "5", "3.1.1", NULL };

  if (!one_of (v, versions))
    return fail (msg, len, "expected 5 or 3.1.1");
  return set_string (v, field, msg, len);
}

int
value_window (const char *v, void *field, char *msg, size_t len)
{
  uint64_t n;

  if (number (v, 1, 65535, &n) == -1)
    return fail (msg, len, "expected messages in flight, 1 to 65535");
  *(int64_t *) field = n;
  return 0;
}

int
value_count (const char *v, void *field, char *msg, size_t len)
{
  uint64_t n;

  if (number (v, 1, INT_MAX, &n) == -1)
    return fail (msg, len, "expected a count, 1 to %d", INT_MAX);
  *(int64_t *) field = n;
  return 0;
}

int
value_bytes (const char *v, void *field, char *msg, size_t len)
{
  uint64_t n;

  if (bw_parse_size (v, 1024, INT_MAX, &n) == -1)
    return fail (msg, len, "expected a size from 1K to 2047M (suffix K, M "
                 "or G)");
  *(int64_t *) field = n;
  return 0;
}

int
value_long_seconds (const char *v, void *field, char *msg, size_t len)
{
  uint64_t n;

  if (number (v, 0, INT_MAX, &n) == -1)
    return fail (msg, len, "expected seconds, 0 to %d", INT_MAX);
  *(int64_t *) field = n;
  return 0;
}

/* Appends a copy of v to a list. */
static int
list_add (struct bwd_list *l, const char *v, char *msg, size_t len)
{
  char **nv = realloc (l->v, (l->n + 1) * sizeof *nv);

  if (nv == NULL)
    return fail (msg, len, "out of memory");
  l->v = nv;
  if ((l->v[l->n] = strdup (v)) == NULL)
    return fail (msg, len, "out of memory");
  l->n++;
  return 0;
}

int
value_path_glob (const char *v, void *field, char *msg, size_t len)
{
  if (*v != '/')
    return fail (msg, len, "expected a path glob starting with '/' (** "
                 "for any depth)");
  if (has_control (v))
    return fail (msg, len, "control characters are not allowed");
  return list_add (field, v, msg, len);
}

int
value_type_glob (const char *v, void *field, char *msg, size_t len)
{
  const char *name;

  /* A glob no type matches is a typo: it would filter out everything
   * (type) or nothing (not-type) without a word.
   */
  for (unsigned t = 1; strcmp (name = bw_event_type_name (t), "unknown");
       t++)
    if (bw_glob_name (v, name))
      return list_add (field, v, msg, len);
  return fail (msg, len, "matches no event type (create, delete, rename, "
               "write, metadata ... as in docs/events.md)");
}

int
value_data_rule (const char *v, void *field, char *msg, size_t len)
{
  const char *eq = strrchr (v, '='), *policy;
  struct bw_data_policy_cfg pol;
  size_t glob_len;
  char *rule;
  int r;

  if (eq == NULL)
    return fail (msg, len, "expected PATH-GLOB = none, hash, bytes or "
                 "bytes:N");
  policy = eq + 1 + strspn (eq + 1, " \t");
  for (glob_len = eq - v; glob_len && strchr (" \t", v[glob_len - 1]);
       glob_len--)
    ;
  if (*v != '/' || parse_data_policy (policy, &pol) == -1)
    return fail (msg, len, "expected PATH-GLOB = none, hash, bytes or "
                 "bytes:N, the glob starting with '/'");
  if (has_control (v))
    return fail (msg, len, "control characters are not allowed");
  if (asprintf (&rule, "%.*s=%s", (int) glob_len, v, policy) == -1)
    return fail (msg, len, "out of memory");
  r = list_add (field, rule, msg, len);
  free (rule);
  return r;
}

int
value_tap_buffer (const char *v, void *field, char *msg, size_t len)
{
  uint64_t n;

  if (bw_parse_size (v, TAP_MIN_BUFFER, (uint64_t) 1 << 40, &n) == -1)
    return fail (msg, len, "expected a size from %uM to 1T (suffix K, M, "
                 "G or T)", (unsigned) (TAP_MIN_BUFFER >> 20) + 1);
  *(uint64_t *) field = n;
  return 0;
}

int
value_exact_size (const char *v, void *field, char *msg, size_t len)
{
  return engine_exact_size (v, field, msg, len);
}

int
value_model_size (const char *v, void *field, char *msg, size_t len)
{
  return engine_model_size (v, field, msg, len);
}

int
value_tap_overflow (const char *v, void *field, char *msg, size_t len)
{
  uint64_t ms;

  if (strcmp (v, "drop") != 0 && strcmp (v, "block") != 0 &&
      (strncmp (v, "block:", 6) != 0 || number (v + 6, 0, 3600000, &ms)))
    return fail (msg, len, "expected drop, block or block:MS (MS at most "
                 "3600000)");
  return set_string (v, field, msg, len);
}

int
value_data_policy (const char *v, void *field, char *msg, size_t len)
{
  struct bw_data_policy_cfg p;

  if (parse_data_policy (v, &p) == -1)
    return fail (msg, len, "expected none, hash, bytes or bytes:N");
  return set_string (v, field, msg, len);
}

int
value_backend (const char *v, void *field, char *msg, size_t len)
{
  switch (storage_kind (v)) {
  case STORAGE_FILE:
    if (*storage_file_path (v) != '/')
      return fail (msg, len, "a file is named by its absolute path");
    break;
  case STORAGE_NBD:
  case STORAGE_ISCSI:
    break;
  default:
    return fail (msg, len, "expected " STORAGE_URI_FORMS);
  }
  return value_name (v, field, msg, len);
}

int
value_listen (const char *v, void *field, char *msg, size_t len)
{
  struct bwd_export *e = field;
  uint64_t n;

  if (strncmp (v, "unix:", 5) == 0)
    return value_path (v + 5, &e->socket, msg, len);
  if (strncmp (v, "tcp:", 4) != 0)
    return fail (msg, len, "expected unix:PATH or tcp:[ADDRESS:]PORT");
  if (strchr (v + 4, ':') == NULL) {   /* every address */
    if (number (v + 4, 1, 65535, &n) == -1)
      return fail (msg, len, "expected a port, 1 to 65535");
    return set_string (v + 4, &e->port, msg, len);
  }
  return host_port (v + 4, &e->address, &e->port, msg, len);
}

int
value_tls (const char *v, void *field, char *msg, size_t len)
{
  static const char *const modes[] = { "off", "on", "require", NULL };

  if (!one_of (v, modes))
    return fail (msg, len, "expected off, on or require");
  return set_string (v, field, msg, len);
}

/* A check of iscsi-values.h as a value parser. */
static int
checked (const char *why, const char *v, void *field, char *msg, size_t len)
{
  if (why)
    return fail (msg, len, "%s", why);
  return set_string (v, field, msg, len);
}

int
value_iscsi_name (const char *v, void *field, char *msg, size_t len)
{
  return checked (iscsi_check_name (v), v, field, msg, len);
}

int
value_iscsi_portal (const char *v, void *field, char *msg, size_t len)
{
  const char *why = iscsi_parse_portal (v, field);

  return why ? fail (msg, len, "%s", why) : 0;
}

int
value_chap_user (const char *v, void *field, char *msg, size_t len)
{
  return checked (iscsi_check_chap_user (v), v, field, msg, len);
}

/* A comma-separated list, each item checked; stored as ITEM,ITEM. */
static int
list (const char *v, const char *(*check) (const char *), void *field,
      char *msg, size_t len)
{
  char *out = malloc (strlen (v) + 1), *item = NULL;
  size_t n = 0;

  if (out == NULL)
    return fail (msg, len, "out of memory");
  for (const char *p = v; ; p++) {
    const char *end = p + strcspn (p, ","), *why;
    while (*p == ' ' || *p == '\t')
      p++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
      end--;
    free (item);
    if ((item = strndup (p, end - p)) == NULL) {
      free (out);
      return fail (msg, len, "out of memory");
    }
    if (*item == '\0' || (why = check (item)) != NULL) {
      fail (msg, len, "%s: %s", *item ? item : "an empty item",
            *item ? why : "expected items separated by commas");
      free (item);
      free (out);
      return -1;
    }
    n += sprintf (out + n, "%s%s", n ? "," : "", item);
    p += strcspn (p, ",");
    if (*p == '\0')
      break;
  }
  free (item);
  *(char **) field = out;
  return 0;
}

int
value_initiator_addresses (const char *v, void *field, char *msg,
                           size_t len)
{
  return list (v, iscsi_check_address, field, msg, len);
}

int
value_initiator_names (const char *v, void *field, char *msg, size_t len)
{
  return list (v, iscsi_check_name, field, msg, len);
}

int
value_disk_name (const char *name, char *msg, size_t len)
{
  size_t n = strlen (name);

  if (n == 0 || n > 64 || *name == '.' ||
      strspn (name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
              "0123456789._-") != n)
    return fail (msg, len, "a disk name is 1 to 64 letters, digits, '.', "
                 "'_' or '-', not starting with '.'");
  return 0;
}
