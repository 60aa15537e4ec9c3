/* The JSON form of an event, read back: what a subscriber receives
 * made into a struct bw_event again, so that it prints and filters
 * like the events the introspector emits.  event-json.c writes the
 * form; docs/events.md describes it.  The text comes from the network:
 * every key is optional, every type is checked.
 */

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "event.h"

static uint64_t
uint_of (json_t *o, const char *key)
{
  json_int_t v = json_integer_value (json_object_get (o, key));

  return v < 0 ? 0 : (uint64_t) v;
}

/* NULL when absent or not a string. */
static const char *
str_of (json_t *o, const char *key)
{
  return json_string_value (json_object_get (o, key));
}

/* A name of bw_event_type_name or bw_file_type_name back to its
 * number; 0 ("unknown") for names this version does not know.
 */
static int
named (const char *name, const char *(*name_of) (int), int last)
{
  for (int i = 0; name && i <= last; i++)
    if (strcmp (name_of (i), name) == 0)
      return i;
  return 0;
}

static const char *
event_type_name (int t)
{
  return bw_event_type_name (t);
}

static const char *
file_type_name (int t)
{
  return bw_file_type_name (t);
}

static int
fail (char *err, size_t errlen, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (err, errlen, fmt, ap);
  va_end (ap);
  return -1;
}

/* An escaped path to its bytes; false if it is not a canonical escape. */
static bool
path_of (json_t *o, const char *key, char **bytes, const char **path,
         size_t *len)
{
  const char *s = str_of (o, key);

  if (s == NULL)
    return true;
  *bytes = bw_unescape (s, len);
  *path = *bytes;
  return *bytes != NULL;
}

/* A mode as event-json.c writes it: octal digits, at most max (absent:
 * 0).  False for anything else (a sign, garbage, too big), which would
 * not be written back the same.
 */
static bool
octal_of (const char *s, uint64_t max, uint64_t *v)
{
  char *end;

  *v = 0;
  if (s == NULL)
    return true;
  if (*s < '0' || *s > '7')
    return false;
  errno = 0;
  *v = strtoull (s, &end, 8);
  return errno == 0 && *end == '\0' && *v <= max;
}

/* A metadata value: a mode string, a {sec, nsec} time or a number.
 * False for a mode that is not one.
 */
static bool
value_of (json_t *v, struct bw_value *out)
{
  uint64_t mode;

  *out = (struct bw_value) { 0 };
  if (json_is_string (v)) {
    if (!octal_of (json_string_value (v), INT64_MAX, &mode))
      return false;
    out->sec = mode;
  }
  else if (json_is_object (v)) {
    out->is_time = true;
    out->sec = json_integer_value (json_object_get (v, "sec"));
    out->nsec = uint_of (v, "nsec") % 1000000000u;
  }
  else
    out->sec = json_integer_value (v);
  return true;
}

/* Standard base64 (what event-json.c writes) with OpenSSL's decoder,
 * which counts padding as bytes: take them off.
 */
static int
data_of (const char *b64, struct bw_parsed_event *pe)
{
  size_t n = strlen (b64);
  int len;

  if (n % 4 != 0 || n > INT_MAX)
    return -1;
  pe->data = malloc (n / 4 * 3 + 1);
  if (pe->data == NULL)
    return -1;
  len = EVP_DecodeBlock (pe->data, (const unsigned char *) b64, n);
  if (len < 0)
    return -1;
  if (n && b64[n - 1] == '=')
    len--;
  if (n > 1 && b64[n - 2] == '=')
    len--;
  pe->ev.data = pe->data;
  pe->ev.data_len = len;
  return 0;
}

int
bw_event_from_json (const char *text, size_t len,
                    struct bw_parsed_event *pe, char *err, size_t errlen)
{
  struct bw_event *ev = &pe->ev;
  json_error_t je;
  json_t *o;
  const char *id, *data;
  uint64_t mode;

  *pe = (struct bw_parsed_event) { 0 };
  o = json_loadb (text, len, 0, &je);
  if (o == NULL)
    return fail (err, errlen, "not JSON: %s", je.text);
  pe->json = o;
  if (!json_is_object (o) ||
      json_integer_value (json_object_get (o, "v")) != BW_EVENT_SCHEMA) {
    bw_parsed_event_free (pe);
    return fail (err, errlen, "not an event of schema version %d",
                 BW_EVENT_SCHEMA);
  }
  id = str_of (o, "id");
  ev->id = id ? strtoull (id, NULL, 16) : 0;
  ev->seq = uint_of (o, "seq");
  ev->txn = uint_of (o, "txn");
  ev->time_ns = uint_of (o, "time_ns");
  ev->host = str_of (o, "host");
  ev->vm = str_of (o, "vm");
  ev->disk = str_of (o, "disk");
  ev->part = json_integer_value (json_object_get (o, "part"));
  ev->type = named (str_of (o, "type"), event_type_name, BW_EV_RESYNC);
  ev->inode = uint_of (o, "inode");
  if (!path_of (o, "path", &pe->path, &ev->path, &ev->path_len) ||
      !path_of (o, "old_path", &pe->old_path, &ev->old_path,
                &ev->old_path_len)) {
    bw_parsed_event_free (pe);
    return fail (err, errlen, "a path that is not escaped as events are");
  }
  ev->path_too_long = json_is_true (json_object_get (o, "path_too_long"));
  ev->file_type = named (str_of (o, "file_type"), file_type_name, BW_FT_SOCK);
  ev->uid = uint_of (o, "uid");
  ev->gid = uint_of (o, "gid");
  ev->size = uint_of (o, "size");
  ev->field = str_of (o, "field");
  if (!octal_of (str_of (o, "mode"), UINT32_MAX, &mode) ||
      !value_of (json_object_get (o, "old"), &ev->old_value) ||
      !value_of (json_object_get (o, "new"), &ev->new_value)) {
    bw_parsed_event_free (pe);
    return fail (err, errlen, "a mode that is not an octal number");
  }
  ev->mode = mode;
  ev->offset = uint_of (o, "offset");
  ev->length = uint_of (o, ev->type == BW_EV_OVERFLOW ? "lost" : "length");
  ev->lost_events = uint_of (o, "lost_events");
  ev->unconfirmed_events = uint_of (o, "unconfirmed_events");
  ev->lost_writes = uint_of (o, "lost_writes");
  ev->fs_state = uint_of (o, "fs_state");
  ev->mount_count = uint_of (o, "mount_count");
  ev->mount_time = json_integer_value (json_object_get (o, "mount_time"));
  ev->detail = str_of (o, "detail");
  data = str_of (o, "data");
  if (data && data_of (data, pe) == -1) {
    bw_parsed_event_free (pe);
    return fail (err, errlen, "write data that is not base64");
  }
  return 0;
}

void
bw_parsed_event_free (struct bw_parsed_event *pe)
{
  json_decref (pe->json);
  free (pe->path);
  free (pe->old_path);
  free (pe->data);
  *pe = (struct bw_parsed_event) { 0 };
}
