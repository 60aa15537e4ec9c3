/* The file event: the one definition every part of blockwatch uses
 * (introspector, mqtt-bridge, CLI).  Its JSON form is documented in
 * docs/events.md and produced only by event-json.c.
 */
#ifndef BLOCKWATCH_EVENT_H
#define BLOCKWATCH_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BW_EVENT_SCHEMA 1     /* the JSON "v" field */

enum bw_event_type {
  BW_EV_CREATE = 1,           /* a new inode with its first name */
  BW_EV_DELETE,               /* an inode gone (last name and the inode) */
  BW_EV_RENAME,               /* a name moved: path <- old_path */
  BW_EV_EXCHANGE,             /* names swapped: path <-> old_path, inode
                               * the one now at path */
  BW_EV_LINK,                 /* another name for an existing inode */
  BW_EV_UNLINK,               /* a name removed, the inode lives on */
  BW_EV_METADATA,             /* one field changed: field, old -> new */
  BW_EV_WRITE,                /* file data: offset, length, data */
  BW_EV_TRUNCATE,             /* size went down: length = new size */
  BW_EV_MOUNT,                /* file system state: mounted */
  BW_EV_UNMOUNT,              /* file system state: cleanly unmounted */
  BW_EV_PARTITION,            /* the partition table changed */
  BW_EV_OVERFLOW,             /* lost: length = tap records, or
                               * lost_events = events a publisher
                               * dropped, or lost_writes = writes whose
                               * data the introspector gave up */
  BW_EV_RESYNC,               /* state re-read from storage after a loss */
};

enum bw_file_type {
  BW_FT_UNKNOWN = 0, BW_FT_REG, BW_FT_DIR, BW_FT_SYMLINK, BW_FT_CHR,
  BW_FT_BLK, BW_FT_FIFO, BW_FT_SOCK,
};

/* A metadata value: a number, or a time with nanoseconds. */
struct bw_value {
  bool is_time;
  int64_t sec;                /* the number, or seconds since the epoch */
  uint32_t nsec;
};

/* What a write event carries of the data (the data policy). */
enum bw_data_policy { BW_DATA_NONE, BW_DATA_HASH, BW_DATA_BYTES };

/* Strings and bytes are borrowed: valid only during the emit call.
 * Paths are byte strings (file names are arbitrary bytes), each with
 * its length; they start with '/' relative to the file system root.
 */
struct bw_event {
  enum bw_event_type type;
  uint64_t id;                /* unique per emitter (instance id + counter) */
  uint64_t seq;               /* tap sequence number that produced it */
  uint64_t txn;               /* events from one write batch share it */
  uint64_t time_ns;           /* tap record time (CLOCK_REALTIME) */
  const char *host, *vm, *disk;
  int part;                   /* partition number (1-based), 0 = whole disk */

  const char *path;           /* NULL for file-system-wide events */
  size_t path_len;
  /* A file's event without a path because the path is longer than the
   * introspector makes (MODEL_PATH_MAX), not because it has none.
   */
  bool path_too_long;
  uint64_t inode;

  /* create, delete */
  enum bw_file_type file_type;
  uint32_t mode;              /* permission bits and type, as st_mode */
  uint32_t uid, gid;          /* with the high 16 bits */
  uint64_t size;              /* the size when it was created or deleted */

  /* rename, exchange */
  const char *old_path;
  size_t old_path_len;

  /* metadata */
  const char *field;          /* "size", "mode", "uid", "gid", "links",
                               * "atime", "mtime", "ctime", "crtime",
                               * "flags" */
  struct bw_value old_value, new_value;

  /* write: offset and length in the file; data clipped to the file
   * size (never bytes past end of file).  truncate: length = new size.
   * overflow: length = number of lost tap records.
   */
  uint64_t offset, length;
  const uint8_t *data;
  size_t data_len;

  /* overflow from a publisher (mqtt-bridge) whose offline buffer was
   * full: how many events it dropped; 0 for the tap's overflows.  Of
   * those, unconfirmed_events had been handed to the broker (or told
   * of in an overflow event that had) before a connection broke, and
   * were dropped unacknowledged: the subscriber misses at least
   * lost_events - unconfirmed_events of them, at most lost_events.
   */
  uint64_t lost_events, unconfirmed_events;
  /* overflow from the introspector: writes of file data it held (past
   * the end of the file, or to a file not named yet) and gave up, so
   * that the write events they would have made never come, or write
   * events it made without the bytes it could not read.  With inode
   * (and path, when the file has one): the writes of that one file;
   * without: of files the introspector does not name (too many at one
   * barrier).
   */
  uint64_t lost_writes;

  /* mount, unmount: superblock facts */
  uint32_t fs_state;          /* s_state */
  uint32_t mount_count;
  int64_t mount_time;

  /* partition, resync, overflow: free text, e.g. "GPT, 2 partitions" */
  const char *detail;
};

/* Whether ev is about one file (inode): its JSON has "inode", and the
 * MQTT bridge publishes it under the file's topic.  Events of the file
 * types (create ... truncate), and an overflow that counts the writes
 * one file lost (lost_writes, with inode); other overflows, and mount,
 * unmount, partition and resync, are about a file system as a whole.
 */
bool bw_event_of_file (const struct bw_event *ev);

const char *bw_event_type_name (enum bw_event_type t);
const char *bw_file_type_name (enum bw_file_type t);

/* How write data appears in JSON. */
struct bw_data_policy_cfg {
  enum bw_data_policy policy;
  size_t max_bytes;           /* BW_DATA_BYTES: at most this many, then
                               * "data_truncated" */
};

/* The JSON form, one line, no newline; caller frees.  NULL on ENOMEM.
 * policy may be NULL: no data (BW_DATA_NONE).
 */
char *bw_event_to_json (const struct bw_event *ev,
                        const struct bw_data_policy_cfg *policy);

/* The JSON form back (a subscriber's side): fields the event's type
 * has are taken, others ignored; paths are unescaped, write data
 * decoded.  0, or -1 with a message in err for text that is not an
 * event (not JSON, no known "v", a bad path).  The event's strings and
 * bytes live in *pe until bw_parsed_event_free.
 */
struct bw_parsed_event {
  struct bw_event ev;
  void *json;                 /* holds the label and detail strings */
  char *path, *old_path;
  uint8_t *data;
};
int bw_event_from_json (const char *text, size_t len,
                        struct bw_parsed_event *pe, char *err, size_t errlen);
void bw_parsed_event_free (struct bw_parsed_event *pe);

/* Reversible escaping of a byte string into UTF-8 text: valid UTF-8
 * passes through, every other byte, '%' and the ASCII control
 * characters (NUL included) become "%XX" (uppercase hex).  The result
 * is NUL-terminated; caller frees; NULL on ENOMEM.
 *
 * bw_unescape undoes it: the bytes (NUL-terminated as well, their
 * count in *len if len is not NULL), or NULL with errno EINVAL for any
 * text bw_escape_bytes would not have made (a bad or needless escape,
 * a raw control character, invalid UTF-8), so that each byte string
 * has exactly one escaped form.
 */
char *bw_escape_bytes (const char *bytes, size_t len);
/* The same for messages to people: '%' stays as it is (not reversible). */
char *bw_escape_text (const char *bytes, size_t len);
char *bw_unescape (const char *text, size_t *len);

/* Something that takes events: a JSON printer, the MQTT bridge, a
 * test's tree rebuilder.
 */
struct bw_sink {
  void (*emit) (struct bw_sink *s, const struct bw_event *ev);
};

#endif /* BLOCKWATCH_EVENT_H */
