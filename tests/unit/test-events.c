/* The event JSON schema (docs/events.md): every type has exactly its
 * fields, in order, with their values; times, modes and write data in
 * their documented forms; and the path escaping is exactly reversible
 * for any byte string while its output is always clean UTF-8.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "events/event.h"

#define COMMON "v id seq txn time time_ns host vm disk part type"
#define FILE_COMMON COMMON " path inode"

static struct bw_event
sample (enum bw_event_type type)
{
  static const char path[] = "/var/log/syslog";
  struct bw_event ev = {
    .type = type, .id = 0x8000000100000002ull, .seq = 42, .txn = 7,
    .time_ns = 1795435200123456789ull,        /* 2026-11-23T12:00:00.123456789Z */
    .host = "host-1", .vm = "vm-01", .disk = "nbd://store/disk%201",
    .part = 2, .path = path, .path_len = sizeof path - 1, .inode = 1234,
  };

  return ev;
}

/* The JSON of ev, checked to be one line, parsed back. */
static json_t *
to_json (const struct bw_event *ev, const struct bw_data_policy_cfg *policy)
{
  char *s = bw_event_to_json (ev, policy);
  json_error_t e;
  json_t *o;

  assert_non_null (s);
  assert_null (strchr (s, '\n'));
  o = json_loads (s, JSON_REJECT_DUPLICATES, &e);
  if (o == NULL)
    fail_msg ("%s: %s", s, e.text);
  free (s);
  return o;
}

/* The keys of o, in order, space-separated, must be want. */
static void
assert_keys (json_t *o, const char *want)
{
  char got[512] = "";
  const char *key;
  json_t *v;

  json_object_foreach (o, key, v) {
    if (got[0])
      strcat (got, " ");
    strcat (got, key);
  }
  assert_string_equal (got, want);
}

static long long
int_field (json_t *o, const char *key)
{
  json_t *v = json_object_get (o, key);

  assert_true (json_is_integer (v));
  return json_integer_value (v);
}

/* ev's JSON has exactly keys, and key (a count) is want. */
static void
assert_count (const struct bw_event *ev, const char *keys, const char *key,
              long long want)
{
  json_t *o = to_json (ev, NULL);

  assert_keys (o, keys);
  assert_int_equal (int_field (o, key), want);
  json_decref (o);
}

static const char *
str_field (json_t *o, const char *key)
{
  json_t *v = json_object_get (o, key);

  assert_true (json_is_string (v));
  return json_string_value (v);
}

static void
names (void **state)
{
  static const char *const types[] = {
    NULL, "create", "delete", "rename", "exchange", "link", "unlink", "metadata",
    "write", "truncate", "mount", "unmount", "partition", "overflow",
    "resync",
  };
  static const char *const ftypes[] = {
    "unknown", "file", "dir", "symlink", "chardev", "blockdev", "fifo",
    "socket",
  };

  (void) state;
  for (int t = BW_EV_CREATE; t <= BW_EV_RESYNC; t++)
    assert_string_equal (bw_event_type_name (t), types[t]);
  for (int t = BW_FT_UNKNOWN; t <= BW_FT_SOCK; t++)
    assert_string_equal (bw_file_type_name (t), ftypes[t]);
  assert_string_equal (bw_event_type_name (0), "unknown");
  assert_string_equal (bw_event_type_name (BW_EV_RESYNC + 1), "unknown");
  assert_string_equal (bw_event_type_name (-1), "unknown");
  assert_string_equal (bw_file_type_name (BW_FT_SOCK + 1), "unknown");
  assert_string_equal (bw_file_type_name (-1), "unknown");
}

static void
common_fields (void **state)
{
  struct bw_event ev = sample (BW_EV_LINK);
  json_t *o;

  (void) state;
  o = to_json (&ev, NULL);
  assert_keys (o, FILE_COMMON);
  assert_int_equal (int_field (o, "v"), BW_EVENT_SCHEMA);
  assert_string_equal (str_field (o, "id"), "8000000100000002");
  assert_int_equal (int_field (o, "seq"), 42);
  assert_int_equal (int_field (o, "txn"), 7);
  assert_string_equal (str_field (o, "time"), "2026-11-23T12:00:00.123456789Z");
  assert_int_equal (int_field (o, "time_ns"), 1795435200123456789ll);
  assert_string_equal (str_field (o, "host"), "host-1");
  assert_string_equal (str_field (o, "vm"), "vm-01");
  /* Labels are not escaped: a disk id is often a URI with escapes. */
  assert_string_equal (str_field (o, "disk"), "nbd://store/disk%201");
  assert_int_equal (int_field (o, "part"), 2);
  assert_string_equal (str_field (o, "type"), "link");
  assert_string_equal (str_field (o, "path"), "/var/log/syslog");
  assert_int_equal (int_field (o, "inode"), 1234);
  json_decref (o);

  /* Absent labels are left out; ids keep all 64 bits; times keep
   * nine digits; numbers past 2^63 saturate instead of going negative.
   */
  ev.type = BW_EV_UNLINK;
  ev.host = ev.vm = ev.disk = NULL;
  ev.id = UINT64_MAX;
  ev.seq = UINT64_MAX;
  ev.time_ns = 0;
  o = to_json (&ev, NULL);
  assert_keys (o, "v id seq txn time time_ns part type path inode");
  assert_string_equal (str_field (o, "id"), "ffffffffffffffff");
  assert_int_equal (int_field (o, "seq"), INT64_MAX);
  assert_string_equal (str_field (o, "time"), "1970-01-01T00:00:00.000000000Z");
  assert_string_equal (str_field (o, "type"), "unlink");
  json_decref (o);
}

static void
create_delete (void **state)
{
  struct bw_event ev = sample (BW_EV_CREATE);
  json_t *o;

  (void) state;
  ev.file_type = BW_FT_REG;
  ev.mode = 0100644;
  ev.uid = 1000;
  ev.gid = 100000;                              /* needs the high 16 bits */
  ev.size = 5000000000ull;                      /* beyond 32 bits */
  o = to_json (&ev, NULL);
  assert_keys (o, FILE_COMMON " file_type mode uid gid size");
  assert_int_equal (int_field (o, "size"), 5000000000ll);
  assert_string_equal (str_field (o, "type"), "create");
  assert_string_equal (str_field (o, "file_type"), "file");
  assert_string_equal (str_field (o, "mode"), "0100644");
  assert_int_equal (int_field (o, "uid"), 1000);
  assert_int_equal (int_field (o, "gid"), 100000);
  json_decref (o);

  ev.type = BW_EV_DELETE;
  ev.file_type = BW_FT_DIR;
  ev.mode = 041777;
  ev.uid = UINT32_MAX;
  o = to_json (&ev, NULL);
  assert_keys (o, FILE_COMMON " file_type mode uid gid size");
  assert_string_equal (str_field (o, "type"), "delete");
  assert_string_equal (str_field (o, "file_type"), "dir");
  assert_string_equal (str_field (o, "mode"), "041777");
  assert_int_equal (int_field (o, "uid"), UINT32_MAX);
  json_decref (o);
}

/* rename and exchange: both have the other name, escaped like path;
 * an exchange is a file's event (on path's topic), as a rename is.
 */
static void
rename_escapes_both_paths (void **state)
{
  static const char new_path[] = "/tmp/caf\xc3\xa9 100%";
  static const char old_path[] = "/tmp/\xff\x00x\n";   /* 9 bytes incl. NUL */
  struct bw_event ev = sample (BW_EV_RENAME);
  json_t *o;
  char *back;
  size_t len;

  (void) state;
  ev.path = new_path;
  ev.path_len = sizeof new_path - 1;
  ev.old_path = old_path;
  ev.old_path_len = sizeof old_path - 1;
  o = to_json (&ev, NULL);
  assert_keys (o, FILE_COMMON " old_path");
  assert_string_equal (str_field (o, "path"), "/tmp/caf\xc3\xa9 100%25");
  assert_string_equal (str_field (o, "old_path"), "/tmp/%FF%00x%0A");
  back = bw_unescape (str_field (o, "old_path"), &len);
  assert_non_null (back);
  assert_int_equal (len, sizeof old_path - 1);
  assert_memory_equal (back, old_path, len);
  free (back);
  json_decref (o);
  assert_true (bw_event_of_file (&ev));

  ev.type = BW_EV_EXCHANGE;
  o = to_json (&ev, NULL);
  assert_keys (o, FILE_COMMON " old_path");
  assert_string_equal (str_field (o, "type"), "exchange");
  assert_string_equal (str_field (o, "old_path"), "/tmp/%FF%00x%0A");
  json_decref (o);
  assert_true (bw_event_of_file (&ev));

  /* A write to an inode without a known name has no path. */
  ev.type = BW_EV_TRUNCATE;
  ev.path = NULL;
  ev.length = 4096;
  o = to_json (&ev, NULL);
  assert_keys (o, COMMON " inode length");
  assert_int_equal (int_field (o, "length"), 4096);
  json_decref (o);
}

static void
assert_time (json_t *t, long long sec, long long nsec)
{
  assert_true (json_is_object (t));
  assert_keys (t, "sec nsec");
  assert_int_equal (int_field (t, "sec"), sec);
  assert_int_equal (int_field (t, "nsec"), nsec);
}

static void
metadata_values (void **state)
{
  struct bw_event ev = sample (BW_EV_METADATA);
  json_t *o;

  (void) state;
  ev.field = "size";
  ev.old_value = (struct bw_value) { .sec = 0 };
  ev.new_value = (struct bw_value) { .sec = INT64_MAX };
  o = to_json (&ev, NULL);
  assert_keys (o, FILE_COMMON " field old new");
  assert_string_equal (str_field (o, "field"), "size");
  assert_int_equal (int_field (o, "old"), 0);
  assert_int_equal (int_field (o, "new"), INT64_MAX);
  json_decref (o);

  ev.field = "mode";
  ev.old_value = (struct bw_value) { .sec = 0100644 };
  ev.new_value = (struct bw_value) { .sec = 0104755 };
  o = to_json (&ev, NULL);
  assert_string_equal (str_field (o, "old"), "0100644");
  assert_string_equal (str_field (o, "new"), "0104755");
  json_decref (o);

  /* Times: exact, before 1970 too (floor seconds, positive nsec). */
  ev.field = "mtime";
  ev.old_value = (struct bw_value) { .is_time = true, .sec = -1,
                                     .nsec = 500000000 };
  ev.new_value = (struct bw_value) { .is_time = true, .sec = 17179869183ll,
                                     .nsec = 999999999 };
  o = to_json (&ev, NULL);
  assert_keys (o, FILE_COMMON " field old new");
  assert_time (json_object_get (o, "old"), -1, 500000000);
  assert_time (json_object_get (o, "new"), 17179869183ll, 999999999);
  json_decref (o);

  ev.old_value = (struct bw_value) { .is_time = true, .sec = INT64_MIN };
  /* More than a second of nanoseconds (a corrupt inode) is carried. */
  ev.new_value = (struct bw_value) { .is_time = true, .sec = 5,
                                     .nsec = 1500000000 };
  o = to_json (&ev, NULL);
  assert_time (json_object_get (o, "old"), INT64_MIN, 0);
  assert_time (json_object_get (o, "new"), 6, 500000000);
  json_decref (o);

  ev.new_value = (struct bw_value) { .is_time = true, .sec = INT64_MAX,
                                     .nsec = UINT32_MAX };
  o = to_json (&ev, NULL);
  assert_time (json_object_get (o, "new"), INT64_MAX, UINT32_MAX % 1000000000);
  json_decref (o);
}

static void
filesystem_events (void **state)
{
  struct bw_event ev = sample (BW_EV_MOUNT);
  json_t *o;

  (void) state;
  ev.path = NULL;
  ev.fs_state = 1;
  ev.mount_count = 17;
  ev.mount_time = -86400;
  o = to_json (&ev, NULL);
  assert_keys (o, COMMON " fs_state mount_count mount_time");
  assert_int_equal (int_field (o, "fs_state"), 1);
  assert_int_equal (int_field (o, "mount_count"), 17);
  assert_int_equal (int_field (o, "mount_time"), -86400);
  json_decref (o);

  ev.type = BW_EV_UNMOUNT;
  o = to_json (&ev, NULL);
  assert_keys (o, COMMON " fs_state mount_count mount_time");
  assert_string_equal (str_field (o, "type"), "unmount");
  json_decref (o);

  ev.type = BW_EV_PARTITION;
  ev.detail = "GPT, 2 partitions";
  o = to_json (&ev, NULL);
  assert_keys (o, COMMON " detail");
  assert_string_equal (str_field (o, "detail"), "GPT, 2 partitions");
  json_decref (o);

  /* A guest-written name that is not UTF-8 does not lose the event. */
  ev.type = BW_EV_RESYNC;
  ev.detail = "name \"a\xff\xc3\" 5% \x01";
  o = to_json (&ev, NULL);
  assert_string_equal (str_field (o, "detail"),
                       "name \"a\xef\xbf\xbd\xef\xbf\xbd\" 5% \x01");
  json_decref (o);
  ev.detail = NULL;
  o = to_json (&ev, NULL);
  assert_keys (o, COMMON);
  json_decref (o);

  ev.type = BW_EV_OVERFLOW;
  ev.length = 1000;
  assert_count (&ev, COMMON " lost", "lost", 1000);

  /* A publisher's loss: events, not tap records. */
  ev.length = 0;
  ev.lost_events = 77;
  ev.detail = "buffer full";
  assert_count (&ev, COMMON " lost_events detail", "lost_events", 77);
  /* ... of which some the broker may have had after all. */
  ev.unconfirmed_events = 12;
  assert_count (&ev, COMMON " lost_events unconfirmed_events detail",
                "unconfirmed_events", 12);
  ev.unconfirmed_events = 0;

  /* The introspector's: writes it held and gave up, of files it does
   * not name ...
   */
  ev.lost_events = 0;
  ev.lost_writes = 3;
  ev.inode = 0;
  assert_count (&ev, COMMON " lost_writes detail", "lost_writes", 3);
  /* ... of one file, which it names; or whose path is too long. */
  ev.inode = 12;
  ev.path = "/var/log/app.log";
  ev.path_len = strlen (ev.path);
  assert_count (&ev, COMMON " path inode lost_writes detail", "inode", 12);
  ev.path = NULL;
  ev.path_too_long = true;
  assert_count (&ev, COMMON " path_too_long inode lost_writes detail",
                "lost_writes", 3);
  /* The other losses are never about one file. */
  ev.path_too_long = false;
  ev.lost_writes = 0;
  ev.lost_events = 5;
  assert_count (&ev, COMMON " lost_events detail", "lost_events", 5);
}

/* The JSON of ev, read back and written again: the same text. */
static void
assert_reads_back (const struct bw_event *ev,
                   const struct bw_data_policy_cfg *policy)
{
  char *s = bw_event_to_json (ev, policy), *again, err[128];
  struct bw_parsed_event pe;

  assert_non_null (s);
  if (bw_event_from_json (s, strlen (s), &pe, err, sizeof err) == -1)
    fail_msg ("%s: %s", s, err);
  assert_int_equal (pe.ev.type, ev->type);
  again = bw_event_to_json (&pe.ev, policy);
  assert_string_equal (again, s);
  free (again);
  free (s);
  bw_parsed_event_free (&pe);
}

static void
reads_back (void **state)
{
  static const char odd[] = "/tmp/r\xe9sum\xe9 50%\n", old[] = "/a\0b";
  static const uint8_t data[] = "hello\0world\xff";
  struct bw_data_policy_cfg bytes = { BW_DATA_BYTES, 64 }, cut = { BW_DATA_BYTES, 4 };
  struct bw_event ev;
  char err[128];
  struct bw_parsed_event pe;

  (void) state;
  for (int t = BW_EV_CREATE; t <= BW_EV_RESYNC; t++) {
    ev = sample (t);
    ev.file_type = BW_FT_SYMLINK;
    ev.mode = 0120777;
    ev.uid = 70000;
    ev.size = 1ull << 40;
    ev.old_path = t == BW_EV_RENAME || t == BW_EV_EXCHANGE ? old : NULL;
    ev.old_path_len = sizeof old - 1;
    ev.field = "mtime";
    ev.old_value = (struct bw_value) { .is_time = true, .sec = -1, .nsec = 5 };
    ev.new_value = (struct bw_value) { .is_time = true, .sec = 9, .nsec = 999 };
    ev.offset = 4096;
    ev.length = 13;
    ev.data = data;
    ev.data_len = sizeof data - 1;
    ev.fs_state = 1;
    ev.mount_count = 3;
    ev.mount_time = 1795435190;
    ev.detail = "GPT, 2 partitions";
    if (t >= BW_EV_MOUNT)
      ev.path = NULL;                   /* file-system-wide */
    assert_reads_back (&ev, NULL);
    assert_reads_back (&ev, &bytes);
  }
  /* Cut data reads back as what the JSON has. */
  ev = sample (BW_EV_WRITE);
  ev.data = data;
  ev.data_len = sizeof data - 1;
  {
    char *s = bw_event_to_json (&ev, &cut);

    assert_int_equal (bw_event_from_json (s, strlen (s), &pe, err, sizeof err),
                      0);
    assert_int_equal (pe.ev.data_len, 4);
    assert_memory_equal (pe.ev.data, "hell", 4);
    bw_parsed_event_free (&pe);
    free (s);
  }
  ev = sample (BW_EV_METADATA);
  ev.path = odd;
  ev.path_len = sizeof odd - 1;
  ev.field = "mode";
  ev.old_value = (struct bw_value) { .sec = 0100644 };
  ev.new_value = (struct bw_value) { .sec = 0104755 };
  assert_reads_back (&ev, NULL);
  ev.type = BW_EV_OVERFLOW;
  ev.lost_events = 5;
  assert_reads_back (&ev, NULL);
  ev.unconfirmed_events = 2;
  assert_reads_back (&ev, NULL);
  ev.lost_events = ev.unconfirmed_events = 0;
  ev.lost_writes = 7;
  assert_reads_back (&ev, NULL);
  /* One file's lost writes: its path and inode come back. */
  ev.inode = 12;
  {
    char *s = bw_event_to_json (&ev, NULL);

    assert_int_equal (bw_event_from_json (s, strlen (s), &pe, err,
                                          sizeof err), 0);
    assert_int_equal (pe.ev.inode, 12);
    assert_int_equal (pe.ev.lost_writes, 7);
    assert_int_equal (pe.ev.path_len, sizeof odd - 1);
    assert_memory_equal (pe.ev.path, odd, sizeof odd - 1);
    assert_true (bw_event_of_file (&pe.ev));
    bw_parsed_event_free (&pe);
    free (s);
  }
  ev.lost_writes = 0;
  assert_false (bw_event_of_file (&ev));

  /* A file's event without its path, which is too long to make. */
  ev.type = BW_EV_CREATE;
  ev.path = NULL;
  ev.path_len = 0;
  ev.path_too_long = true;
  assert_reads_back (&ev, NULL);
  {
    json_t *o = to_json (&ev, NULL);
    assert_true (json_is_true (json_object_get (o, "path_too_long")));
    assert_null (json_object_get (o, "path"));
    json_decref (o);
  }

  /* Text that is not an event is refused with a reason. */
  assert_int_equal (bw_event_from_json ("{", 1, &pe, err, sizeof err), -1);
  assert_int_equal (bw_event_from_json ("{\"v\":2}", 7, &pe, err,
                                        sizeof err), -1);
  assert_int_equal (bw_event_from_json ("[1]", 3, &pe, err, sizeof err), -1);
  assert_int_equal (bw_event_from_json ("{\"v\":1,\"path\":\"/%41\"}", 22,
                                        &pe, err, sizeof err), -1);
  assert_int_equal (bw_event_from_json ("{\"v\":1,\"data\":\"a\"}", 19,
                                        &pe, err, sizeof err), -1);
  /* A mode is octal as event-json.c writes it, or it would not be
   * written back the same (fuzz-event-json found "-104755").
   */
  for (const char *const *s = (const char *const[]) {
         "{\"v\":1,\"mode\":\"-1\"}",
         "{\"v\":1,\"mode\":\"0100644x\"}",
         "{\"v\":1,\"mode\":\"077777777777\"}",
         "{\"v\":1,\"old\":\"-104755\"}",
         "{\"v\":1,\"new\":\"01777777777777777777777777\"}", NULL };
       *s; s++) {
    assert_int_equal (bw_event_from_json (*s, strlen (*s), &pe, err,
                                          sizeof err), -1);
    assert_string_equal (err, "a mode that is not an octal number");
  }
}

/* A write event carrying data under policy. */
static json_t *
write_json (const char *data, size_t len, enum bw_data_policy policy,
            size_t max_bytes)
{
  struct bw_data_policy_cfg cfg = { .policy = policy, .max_bytes = max_bytes };
  struct bw_event ev = sample (BW_EV_WRITE);

  ev.offset = 1 << 20;
  ev.length = 8192;                             /* data clipped at EOF */
  ev.data = (const uint8_t *) data;
  ev.data_len = len;
  return to_json (&ev, &cfg);
}

static void
data_policy (void **state)
{
  /* RFC 4648 section 10, and both characters past 'z'. */
  static const struct { const char *in, *out; } b64[] = {
    { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
    { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
    { "foobar", "Zm9vYmFy" }, { "\xfb\xff", "+/8=" },
  };
  struct bw_event ev = sample (BW_EV_WRITE);
  json_t *o;

  (void) state;
  ev.data = (const uint8_t *) "abc";
  ev.data_len = 3;
  o = to_json (&ev, NULL);
  assert_keys (o, FILE_COMMON " offset length");
  json_decref (o);
  o = write_json ("abc", 3, BW_DATA_NONE, 0);
  assert_keys (o, FILE_COMMON " offset length");
  assert_int_equal (int_field (o, "offset"), 1 << 20);
  assert_int_equal (int_field (o, "length"), 8192);
  json_decref (o);

  /* The digits xxhsum -H2 prints. */
  o = write_json ("", 0, BW_DATA_HASH, 0);
  assert_keys (o, FILE_COMMON " offset length data_length xxh128");
  assert_int_equal (int_field (o, "data_length"), 0);
  assert_string_equal (str_field (o, "xxh128"),
                       "99aa06d3014798d86001c324468d497f");
  json_decref (o);
  o = write_json ("abc", 3, BW_DATA_HASH, 0);
  assert_int_equal (int_field (o, "data_length"), 3);
  assert_string_equal (str_field (o, "xxh128"),
                       "06b05ab6733a618578af5f94892f3950");
  json_decref (o);

  for (size_t i = 0; i < sizeof b64 / sizeof b64[0]; i++) {
    size_t n = strlen (b64[i].in);

    o = write_json (b64[i].in, n, BW_DATA_BYTES, n);
    assert_keys (o, FILE_COMMON " offset length data_length data");
    assert_int_equal (int_field (o, "data_length"), n);
    assert_string_equal (str_field (o, "data"), b64[i].out);
    json_decref (o);
  }

  /* Cut at max_bytes, and said so. */
  o = write_json ("foobar", 6, BW_DATA_BYTES, 4);
  assert_keys (o, FILE_COMMON " offset length data_length data data_truncated");
  assert_int_equal (int_field (o, "data_length"), 6);
  assert_string_equal (str_field (o, "data"), "Zm9vYg==");
  assert_true (json_is_true (json_object_get (o, "data_truncated")));
  json_decref (o);
  o = write_json ("foobar", 6, BW_DATA_BYTES, 0);
  assert_string_equal (str_field (o, "data"), "");
  assert_true (json_is_true (json_object_get (o, "data_truncated")));
  json_decref (o);
}

static void
escape_vectors (void **state)
{
  static const struct { const char *in; size_t len; const char *out; } v[] = {
    { "plain/ascii ~", 13, "plain/ascii ~" },
    { "%", 1, "%25" },
    { "\x00\x1f\x7f", 3, "%00%1F%7F" },
    { "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9,  /* é € 😀 */
      "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" },
    { "\xc2\x85", 2, "\xc2\x85" },                /* U+0085 is valid UTF-8 */
    { "\xf4\x8f\xbf\xbf", 4, "\xf4\x8f\xbf\xbf" },/* U+10FFFF */
    { "\xf4\x90\x80\x80", 4, "%F4%90%80%80" },    /* past U+10FFFF */
    { "\xc0\xaf", 2, "%C0%AF" },                  /* overlong '/' */
    { "\xe0\x80\xaf", 3, "%E0%80%AF" },           /* overlong '/' */
    { "\xf0\x80\x80\xaf", 4, "%F0%80%80%AF" },    /* overlong '/' */
    { "\xed\xa0\x80", 3, "%ED%A0%80" },           /* surrogate D800 */
    { "\xed\xbf\xbf", 3, "%ED%BF%BF" },           /* surrogate DFFF */
    { "\xe2\x82", 2, "%E2%82" },                  /* cut short */
    { "\xe2\x82" "A", 3, "%E2%82A" },
    { "\x80\xc3\xa9", 3, "%80\xc3\xa9" },         /* stray continuation */
    { "\xf8\xff", 2, "%F8%FF" },
  };

  (void) state;
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    char *out = bw_escape_bytes (v[i].in, v[i].len), *back;
    size_t len;

    assert_non_null (out);
    assert_string_equal (out, v[i].out);
    back = bw_unescape (out, &len);
    assert_non_null (back);
    assert_int_equal (len, v[i].len);
    assert_memory_equal (back, v[i].in, len);
    free (back);
    free (out);
  }
}

static void
unescape_only_canonical (void **state)
{
  static const char *const bad[] = {
    "%", "a%", "%4", "%G0", "%4g", "%4a",         /* malformed, lowercase */
    "%41", "%2F", "%C3%A9",                       /* needed no escape */
    "\x01", "tab\t", "\x7f", "\xff", "\xc0\xaf", "\xed\xa0\x80",
  };
  size_t len = 99;
  char *back;

  (void) state;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    errno = 0;
    assert_null (bw_unescape (bad[i], &len));
    assert_int_equal (errno, EINVAL);
  }
  back = bw_unescape ("", &len);
  assert_non_null (back);
  assert_int_equal (len, 0);
  free (back);
  back = bw_unescape ("a%00b%25", &len);
  assert_non_null (back);
  assert_int_equal (len, 4);
  assert_memory_equal (back, "a\0b%", 5);         /* NUL-terminated too */
  free (back);
  back = bw_unescape ("x", NULL);
  assert_string_equal (back, "x");
  free (back);
}

/* UTF-8 checked the other way round from escape.c: decode each
 * sequence to its code point, then judge the code point.
 */
static bool
valid_utf8 (const unsigned char *s, size_t n)
{
  static const uint32_t least[] = { 0, 0, 0x80, 0x800, 0x10000 };
  size_t i = 0, len, k;
  uint32_t cp;

  while (i < n) {
    if (s[i] < 0x80) {
      i++;
      continue;
    }
    if ((s[i] & 0xe0) == 0xc0)
      len = 2, cp = s[i] & 0x1f;
    else if ((s[i] & 0xf0) == 0xe0)
      len = 3, cp = s[i] & 0x0f;
    else if ((s[i] & 0xf8) == 0xf0)
      len = 4, cp = s[i] & 0x07;
    else
      return false;
    if (n - i < len)
      return false;
    for (k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80)
        return false;
      cp = cp << 6 | (s[i + k] & 0x3f);
    }
    if (cp < least[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += len;
  }
  return true;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;    /* fixed: failures repeat */

static uint32_t
rnd (uint32_t n)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (rng >> 11) % n;
}

/* Appends a piece of a name: mostly the hard cases (random bytes,
 * code points at the edges of each length, surrogates, overlongs,
 * sequences cut short), since random bytes alone are rarely UTF-8.
 */
static size_t
random_piece (unsigned char *p)
{
  static const uint32_t edges[] = {
    0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfffd, 0xffff, 0x10000, 0x10ffff,
  };
  uint32_t cp;

  switch (rnd (8)) {
  case 0: p[0] = rnd (256); return 1;
  case 1: p[0] = 0x20 + rnd (95); return 1;
  case 2: p[0] = "%\0\n\x7f\x1f/"[rnd (6)]; return 1;
  case 3: cp = rnd (4) ? 0x80 + rnd (0x10ff80) : edges[rnd (9)]; break;
  case 4: cp = 0xd800 + rnd (0x800); break;            /* surrogate */
  case 5: cp = 0x110000 + rnd (0x1ef0000); break;       /* too big */
  case 6:                                               /* overlong */
    p[0] = "\xc0\xc1\xe0\xf0"[rnd (4)];
    p[1] = 0x80 + rnd (p[0] == 0xe0 ? 0x20 : p[0] == 0xf0 ? 0x10 : 0x40);
    p[2] = 0x80 + rnd (0x40);
    p[3] = 0x80 + rnd (0x40);
    return p[0] < 0xe0 ? 2 : p[0] == 0xe0 ? 3 : 4;
  default:                                              /* cut short */
    p[0] = 0xe0 + rnd (0x15);
    p[1] = 0x80 + rnd (0x40);
    return 1 + rnd (2);
  }
  /* Encoded without range checks, so cases 4 and 5 make bad UTF-8. */
  if (cp < 0x800) {
    p[0] = 0xc0 | cp >> 6; p[1] = 0x80 | (cp & 0x3f);
    return 2;
  }
  if (cp < 0x10000) {
    p[0] = 0xe0 | cp >> 12; p[1] = 0x80 | (cp >> 6 & 0x3f);
    p[2] = 0x80 | (cp & 0x3f);
    return 3;
  }
  p[0] = 0xf0 | (cp >> 18 & 0x07); p[1] = 0x80 | (cp >> 12 & 0x3f);
  p[2] = 0x80 | (cp >> 6 & 0x3f); p[3] = 0x80 | (cp & 0x3f);
  if (cp > 0x1fffff)
    p[0] = 0xf8;                                        /* 5-byte lead */
  return 4;
}

static void
escape_property (void **state)
{
  unsigned char in[256];
  int valid_inputs = 0;

  (void) state;
  for (int round = 0; round < 10000; round++) {
    size_t n = 0, pieces = rnd (20), len, i;
    char *out, *back;
    bool clean = true;
    json_t *js;

    while (pieces-- > 0)
      n += random_piece (in + n);
    out = bw_escape_bytes ((const char *) in, n);
    assert_non_null (out);
    len = strlen (out);
    assert_true (len <= 3 * n);
    assert_true (valid_utf8 ((const unsigned char *) out, len));
    for (i = 0; i < len; i++) {
      assert_true ((unsigned char) out[i] >= 0x20 && out[i] != 0x7f);
      if (out[i] == '%') {
        assert_non_null (strchr ("0123456789ABCDEF", out[i + 1]));
        assert_non_null (strchr ("0123456789ABCDEF", out[i + 2]));
      }
    }
    js = json_string (out);                     /* jansson's own check */
    assert_non_null (js);
    json_decref (js);

    back = bw_unescape (out, &len);
    assert_non_null (back);
    assert_int_equal (len, n);
    assert_memory_equal (back, in, n);
    free (back);

    /* Clean UTF-8 needs no escape and gets none. */
    for (i = 0; i < n; i++)
      clean &= in[i] >= 0x20 && in[i] != 0x7f && in[i] != '%';
    if (clean && valid_utf8 (in, n)) {
      valid_inputs++;
      assert_int_equal (strlen (out), n);
      assert_memory_equal (out, in, n);
    }

    /* Any text bw_unescape takes is the escape of what it gives. */
    if ((len = strlen (out)) > 0)
      out[rnd (len)] = "%AF0\xc3\xa9\x01z"[rnd (8)];
    back = bw_unescape (out, &len);
    if (back != NULL) {
      char *again = bw_escape_bytes (back, len);

      assert_string_equal (again, out);
      free (again);
    }
    free (back);
    free (out);
  }
  /* The generator must reach both sides. */
  assert_true (valid_inputs > 100 && valid_inputs < 9000);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (names),
    cmocka_unit_test (common_fields),
    cmocka_unit_test (create_delete),
    cmocka_unit_test (rename_escapes_both_paths),
    cmocka_unit_test (metadata_values),
    cmocka_unit_test (filesystem_events),
    cmocka_unit_test (data_policy),
    cmocka_unit_test (escape_vectors),
    cmocka_unit_test (unescape_only_canonical),
    cmocka_unit_test (escape_property),
    cmocka_unit_test (reads_back),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
