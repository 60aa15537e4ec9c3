/* Incremental reader of tap streams and trace files (untrusted bytes).
 *
 * Bytes come in by tap_reader_fill_fd (a socket or file) or
 * tap_reader_feed (memory, fuzzing); tap_reader_next hands out one
 * verified item at a time.  A trace file is several streams back to
 * back, so a header may appear wherever a record may.
 */
#ifndef BLOCKWATCH_TAP_READER_H
#define BLOCKWATCH_TAP_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "tap-format.h"

enum tap_item_kind { TAP_ITEM_HEADER = 1, TAP_ITEM_RECORD = 2 };

struct tap_item {
  enum tap_item_kind kind;
  const struct tap_header *hdr;     /* the current stream's header */
  struct tap_record rec;            /* RECORD only */
  const uint8_t *payload;           /* RECORD only: rec.payload_len bytes */
  const uint8_t *raw;               /* the item as encoded */
  size_t raw_len;
};

/* Decodes and checks the record at p (up to avail bytes) of the stream
 * with header h, checksum included when h says so, and fills item
 * (pointers into p).  1 done, 0 more bytes needed, -1 malformed.
 * Shared by the trace reader and the ring consumer.
 */
int tap_parse_record (const uint8_t *p, size_t avail,
                      const struct tap_header *h, struct tap_item *item,
                      char *err, size_t errlen);

struct tap_reader;

struct tap_reader *tap_reader_new (void);
void tap_reader_free (struct tap_reader *rd);
/* Forgets all input and the current stream, as if new. */
void tap_reader_reset (struct tap_reader *rd);

/* One read(2): bytes read, 0 at end of file, -1 with errno. */
ssize_t tap_reader_fill_fd (struct tap_reader *rd, int fd);
/* Appends bytes from memory; -1 if they do not fit (consume first). */
int tap_reader_feed (struct tap_reader *rd, const void *buf, size_t n);

/* 1: *item is valid until the next call; 0: need more bytes;
 * -1: malformed input, described in err.  Item pointers stay valid
 * until the next call.
 */
int tap_reader_next (struct tap_reader *rd, struct tap_item *item,
                     char *err, size_t errlen);

/* True when no partial item is buffered: end of file here is clean. */
bool tap_reader_at_boundary (const struct tap_reader *rd);

/* Byte offset of the next item from the start of input (messages). */
unsigned long long tap_reader_offset (const struct tap_reader *rd);

/* Reads a whole trace file and calls fn for each item; stops at the
 * first malformed or truncated item.  Returns 0, or -1 with err.
 */
int tap_read_file (const char *path,
                   int (*fn) (const struct tap_item *item, void *opaque),
                   void *opaque, char *err, size_t errlen);

#endif /* BLOCKWATCH_TAP_READER_H */
