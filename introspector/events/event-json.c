/* The JSON form of an event: the only code that makes it.
 * docs/events.md describes the result; change both together.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <xxhash.h>

#include "event.h"

#define NS_PER_SEC 1000000000u

/* Keys are fixed ASCII names.  A NULL value (jansson ran out of
 * memory) makes this fail; the caller collects failures and checks
 * once at the end.
 */
static int
put (json_t *o, const char *key, json_t *v)
{
  return json_object_set_new_nocheck (o, key, v);
}

/* jansson integers are long long.  Nothing real reaches 2^63 (sizes,
 * sequence numbers, nanoseconds until the year 2262), but a corrupt
 * disk can claim it: saturate rather than wrap to a negative number.
 */
static json_t *
uint_json (uint64_t v)
{
  return json_integer (v > INT64_MAX ? INT64_MAX : (json_int_t) v);
}

/* RFC 3339 in UTC with all nine digits, so that the strings sort like
 * the times they stand for.
 */
static json_t *
time_json (uint64_t ns)
{
  time_t sec = ns / NS_PER_SEC;
  struct tm tm;
  char buf[64];
  size_t n;

  if (gmtime_r (&sec, &tm) == NULL)
    return NULL;
  n = strftime (buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf (buf + n, sizeof buf - n, ".%09uZ", (unsigned) (ns % NS_PER_SEC));
  return json_string_nocheck (buf);
}

/* Modes the way ls, stat and chmod show them: "0100644". */
static json_t *
mode_json (uint64_t mode)
{
  char buf[32];

  snprintf (buf, sizeof buf, "%#" PRIo64, mode);
  return json_string_nocheck (buf);
}

/* host, vm, disk, field and detail are text for people, UTF-8 in
 * practice; but a detail can quote a guest-written GPT name, and
 * jansson refuses invalid UTF-8.  Rather than lose the event, bytes
 * that are not UTF-8 become U+FFFD.  bw_escape_bytes finds them: they
 * are its escapes of bytes >= 0x80 ('%' and control characters are
 * escaped too and are put back).
 */
static json_t *
text_json (const char *s)
{
  json_t *j = json_string (s);
  char *esc, *out, *q;
  const char *p;

  if (j != NULL || (esc = bw_escape_bytes (s, strlen (s))) == NULL)
    return j;
  /* Each "%XX" becomes at most three bytes. */
  out = q = malloc (strlen (esc) + 1);
  if (out != NULL) {
    for (p = esc; *p; ) {
      unsigned b;

      if (*p != '%') {
        *q++ = *p++;
        continue;
      }
      b = strtoul ((char[3]) { p[1], p[2], '\0' }, NULL, 16);
      if (b >= 0x80) {
        memcpy (q, "\xef\xbf\xbd", 3);
        q += 3;
      }
      else
        *q++ = b;
      p += 3;
    }
    *q = '\0';
    j = json_string (out);
  }
  free (out);
  free (esc);
  return j;
}

/* Omitted when absent (NULL). */
static int
put_text (json_t *o, const char *key, const char *s)
{
  return s ? put (o, key, text_json (s)) : 0;
}

static int
put_path (json_t *o, const char *key, const char *path, size_t len)
{
  char *esc;
  int r;

  if (path == NULL)
    return 0;
  esc = bw_escape_bytes (path, len);
  if (esc == NULL)
    return -1;
  /* Escaped text is valid UTF-8 by construction. */
  r = put (o, key, json_string_nocheck (esc));
  free (esc);
  return r;
}

/* Times as {"sec": S, "nsec": N}, the time being S + N/10^9 like a
 * struct timespec: exact over the whole int64 range (RFC 3339 stops at
 * the year 9999) and before 1970 too.  ext4 has 30 bits for the
 * nanoseconds, so a corrupt inode can hold more than a second's worth:
 * carry it into sec, so that 0 <= nsec < 10^9 always holds.
 */
static json_t *
value_json (const char *field, const struct bw_value *v)
{
  json_t *t;
  int64_t sec;

  if (!v->is_time) {
    if (field != NULL && strcmp (field, "mode") == 0)
      return mode_json (v->sec);
    return json_integer (v->sec);
  }
  if (__builtin_add_overflow (v->sec, v->nsec / NS_PER_SEC, &sec))
    sec = INT64_MAX;
  t = json_object ();
  if (t == NULL
      || put (t, "sec", json_integer (sec)) == -1
      || put (t, "nsec", json_integer (v->nsec % NS_PER_SEC)) == -1) {
    json_decref (t);
    return NULL;
  }
  return t;
}

/* Standard alphabet, padded (RFC 4648 section 4). */
static json_t *
base64_json (const uint8_t *p, size_t n)
{
  static const char abc[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i, len = (n + 2) / 3 * 4;
  char *out, *q;
  json_t *j;

  out = q = malloc (len + 1);
  if (out == NULL)
    return NULL;
  for (i = 0; i + 2 < n; i += 3) {
    *q++ = abc[p[i] >> 2];
    *q++ = abc[(p[i] & 3) << 4 | p[i + 1] >> 4];
    *q++ = abc[(p[i + 1] & 15) << 2 | p[i + 2] >> 6];
    *q++ = abc[p[i + 2] & 63];
  }
  if (i < n) {
    *q++ = abc[p[i] >> 2];
    if (i + 1 < n) {
      *q++ = abc[(p[i] & 3) << 4 | p[i + 1] >> 4];
      *q++ = abc[(p[i + 1] & 15) << 2];
    }
    else {
      *q++ = abc[(p[i] & 3) << 4];
      *q++ = '=';
    }
    *q++ = '=';
  }
  j = json_stringn_nocheck (out, len);
  free (out);
  return j;
}

/* XXH3-128, not SHA-256: libxxhash is linked already (the tap uses it)
 * and runs at memory speed, while a cryptographic hash would add
 * libcrypto and cost CPU on every write.  The hash tells which content
 * a write left, for comparing with a known copy; it is not meant to
 * resist a guest that crafts collisions.  Digits in canonical
 * (big-endian) order, as xxhsum -H2 prints them.
 */
static json_t *
xxh128_json (const uint8_t *p, size_t n)
{
  XXH128_canonical_t c;
  char hex[2 * sizeof c.digest + 1];
  size_t i;

  XXH128_canonicalFromHash (&c, XXH3_128bits (p, n));
  for (i = 0; i < sizeof c.digest; i++)
    snprintf (hex + 2 * i, 3, "%02x", c.digest[i]);
  return json_string_nocheck (hex);
}

static int
put_data (json_t *o, const struct bw_event *ev,
          const struct bw_data_policy_cfg *policy)
{
  enum bw_data_policy pol = policy ? policy->policy : BW_DATA_NONE;
  int err = 0;

  if (pol != BW_DATA_HASH && pol != BW_DATA_BYTES)
    return 0;
  err |= put (o, "data_length", uint_json (ev->data_len));
  if (pol == BW_DATA_HASH)
    err |= put (o, "xxh128", xxh128_json (ev->data, ev->data_len));
  else if (ev->data_len > policy->max_bytes) {
    err |= put (o, "data", base64_json (ev->data, policy->max_bytes));
    err |= put (o, "data_truncated", json_true ());
  }
  else
    err |= put (o, "data", base64_json (ev->data, ev->data_len));
  return err;
}

/* The fields of one type; everything else is left out. */
static int
put_type_fields (json_t *o, const struct bw_event *ev,
                 const struct bw_data_policy_cfg *policy)
{
  int err = 0;

  switch (ev->type) {
  case BW_EV_CREATE:
  case BW_EV_DELETE:
    err |= put (o, "file_type",
                json_string_nocheck (bw_file_type_name (ev->file_type)));
    err |= put (o, "mode", mode_json (ev->mode));
    err |= put (o, "uid", json_integer (ev->uid));
    err |= put (o, "gid", json_integer (ev->gid));
    err |= put (o, "size", uint_json (ev->size));
    break;
  case BW_EV_RENAME:
  case BW_EV_EXCHANGE:
    err |= put_path (o, "old_path", ev->old_path, ev->old_path_len);
    break;
  case BW_EV_METADATA:
    err |= put_text (o, "field", ev->field);
    err |= put (o, "old", value_json (ev->field, &ev->old_value));
    err |= put (o, "new", value_json (ev->field, &ev->new_value));
    break;
  case BW_EV_WRITE:
    err |= put (o, "offset", uint_json (ev->offset));
    err |= put (o, "length", uint_json (ev->length));
    err |= put_data (o, ev, policy);
    break;
  case BW_EV_TRUNCATE:
    err |= put (o, "length", uint_json (ev->length));
    break;
  case BW_EV_MOUNT:
  case BW_EV_UNMOUNT:
    err |= put (o, "fs_state", json_integer (ev->fs_state));
    err |= put (o, "mount_count", json_integer (ev->mount_count));
    err |= put (o, "mount_time", json_integer (ev->mount_time));
    break;
  case BW_EV_PARTITION:
  case BW_EV_RESYNC:
    err |= put_text (o, "detail", ev->detail);
    break;
  case BW_EV_OVERFLOW:
    /* Records lost before the introspector, writes it gave up, or
     * events lost after it: different things, so different keys.
     */
    if (ev->lost_events) {
      err |= put (o, "lost_events", uint_json (ev->lost_events));
      if (ev->unconfirmed_events)
        err |= put (o, "unconfirmed_events",
                    uint_json (ev->unconfirmed_events));
    }
    else if (ev->lost_writes)
      err |= put (o, "lost_writes", uint_json (ev->lost_writes));
    else
      err |= put (o, "lost", uint_json (ev->length));
    err |= put_text (o, "detail", ev->detail);
    break;
  case BW_EV_LINK:
  case BW_EV_UNLINK:
    break;
  }
  return err;
}

bool
bw_event_of_file (const struct bw_event *ev)
{
  switch (ev->type) {
  case BW_EV_CREATE: case BW_EV_DELETE: case BW_EV_RENAME:
  case BW_EV_EXCHANGE: case BW_EV_LINK: case BW_EV_UNLINK: case BW_EV_METADATA:
  case BW_EV_WRITE: case BW_EV_TRUNCATE:
    return true;
  case BW_EV_OVERFLOW:
    /* A loss of a file's writes, as the JSON has it: lost_events
     * would be said instead (put_type_fields), and an inode without
     * lost_writes would not come back from it.
     */
    return ev->lost_writes && !ev->lost_events && ev->inode;
  default:
    return false;
  }
}

char *
bw_event_to_json (const struct bw_event *ev,
                  const struct bw_data_policy_cfg *policy)
{
  json_t *o = json_object ();
  char id[17], *s = NULL;
  int err = 0;

  if (o == NULL)
    return NULL;
  /* A string: all 64 bits survive every JSON parser (JavaScript's
   * numbers stop at 2^53, jansson's at 2^63).
   */
  snprintf (id, sizeof id, "%016" PRIx64, ev->id);
  err |= put (o, "v", json_integer (BW_EVENT_SCHEMA));
  err |= put (o, "id", json_string_nocheck (id));
  err |= put (o, "seq", uint_json (ev->seq));
  err |= put (o, "txn", uint_json (ev->txn));
  err |= put (o, "time", time_json (ev->time_ns));
  err |= put (o, "time_ns", uint_json (ev->time_ns));
  err |= put_text (o, "host", ev->host);
  err |= put_text (o, "vm", ev->vm);
  err |= put_text (o, "disk", ev->disk);
  err |= put (o, "part", json_integer (ev->part));
  err |= put (o, "type", json_string_nocheck (bw_event_type_name (ev->type)));
  err |= put_path (o, "path", ev->path, ev->path_len);
  if (ev->path_too_long)
    err |= put (o, "path_too_long", json_true ());
  if (bw_event_of_file (ev))
    err |= put (o, "inode", uint_json (ev->inode));
  err |= put_type_fields (o, ev, policy);
  if (err == 0)
    s = json_dumps (o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref (o);
  if (s == NULL)
    errno = ENOMEM;
  return s;
}
