/* blockwatch tap wire and trace format, version 1.
 *
 * This header is the single definition of the byte stream that the
 * nbdkit plugin sends to a tap consumer (tap=unix:PATH) and writes to
 * a trace file (tap=record:FILE).  docs/tap-format.md describes it for
 * people; this file describes it for the compiler.  Everything is
 * little-endian on the wire, whatever the host.
 *
 * A stream is one header followed by records.  A trace file is one or
 * more streams back to back (one per plugin start or per consumer
 * connection), so appending never rewrites earlier bytes.
 */
#ifndef BLOCKWATCH_TAP_FORMAT_H
#define BLOCKWATCH_TAP_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "BWTAP" + CR LF SUB: a text-mode transfer or a truncated copy is
 * caught at the first byte that matters, as PNG does.
 */
#define TAP_MAGIC           "BWTAP\r\n\x1a"
#define TAP_MAGIC_LEN       8
#define TAP_VERSION         1

#define TAP_HEADER_FIXED    58      /* bytes before the disk id */
#define TAP_DISK_ID_MAX     1024
#define TAP_RECORD_HDR      48
#define TAP_RECORD_MAGIC    0x31525742u /* "BWR1" read as LE u32 */

/* The largest payload one record carries.  The plugin splits longer
 * writes into consecutive records, each with its own sequence number,
 * so that one huge request can never be bigger than the whole buffer.
 */
#define TAP_MAX_PAYLOAD     (1024u * 1024u)

/* Header flags. */
#define TAP_HDR_CHECK       (1u << 0)   /* records carry a checksum */
/* Ring streams only: WRITE records may be deferred (TAP_F_DEFERRED),
 * and a read-only descriptor of the storage came with the hello.
 */
#define TAP_HDR_DEFERRED    (1u << 1)

enum tap_type {
  TAP_WRITE    = 1,   /* payload: the bytes written at offset */
  TAP_ZERO     = 2,   /* range now reads as zeroes */
  TAP_TRIM     = 3,   /* range discarded; content undefined unless READS_ZERO */
  TAP_FLUSH    = 4,   /* every earlier record is durable on the backend */
  TAP_OVERFLOW = 5,   /* offset = first lost seq, length = number lost */
  TAP_END      = 6,   /* clean shutdown: this instance sends nothing more */
};

/* Record flags. */
#define TAP_F_FUA           (1u << 0)   /* request carried FUA */
#define TAP_F_MAY_TRIM      (1u << 1)   /* zero: backend was allowed to punch */
#define TAP_F_READS_ZERO    (1u << 2)   /* trim: range reads back as zeroes */
/* Write, in a TAP_HDR_DEFERRED stream: the payload's space is reserved
 * but the bytes are where the check field (a state word the plugin
 * changes in place, read it atomically) says: in the storage at the
 * record's range, or in the payload's space.
 */
#define TAP_F_DEFERRED      (1u << 3)
/* Write: the backend stored it, but its bytes are not known (a deferred
 * payload that could not be read back, neither by the plugin before an
 * overwrite nor by the consumer): payload_len is 0, and a consumer
 * treats it as a loss of what the write changed.  Consumers set it;
 * the plugin never does.
 */
#define TAP_F_PAYLOAD_LOST  (1u << 4)

/* States of a deferred record. */
#define TAP_PAYLOAD_IN_STORAGE  0u  /* read the storage, then the state again */
#define TAP_PAYLOAD_IN_RING     1u  /* kept: the payload space holds them */
#define TAP_PAYLOAD_LOST        2u  /* the plugin could not keep them */

struct tap_header {
  uint16_t version;
  uint16_t header_len;        /* whole header incl. disk id */
  uint32_t flags;             /* TAP_HDR_* */
  uint64_t disk_size;         /* bytes */
  uint32_t sector_size;       /* logical sector of the backend */
  uint64_t instance;          /* random per plugin start; seqs are scoped by it */
  uint64_t first_seq;         /* seq of the first record of this stream */
  uint64_t time_ns;           /* stream start, CLOCK_REALTIME */
  uint16_t disk_id_len;
  char disk_id[TAP_DISK_ID_MAX + 1]; /* NUL-terminated copy for convenience */
};

struct tap_record {
  uint32_t check;             /* low 32 bits of XXH3-64: header (check=0), payload */
  uint64_t seq;
  uint64_t time_ns;           /* backend completion time, CLOCK_REALTIME */
  uint64_t offset;            /* OVERFLOW: first lost seq */
  uint64_t length;            /* OVERFLOW: number of lost seqs */
  uint16_t type;              /* enum tap_type */
  uint16_t flags;             /* TAP_F_* */
  uint32_t payload_len;       /* WRITE: == length; otherwise 0 */
};

/* The socket between the plugin and a consumer (tap=unix:PATH) does
 * not carry the records: they sit in the plugin's ring, a memfd the
 * consumer maps read-only, so the data is copied at most once, from
 * the guest's request into the ring (a deferred write's not even
 * that: TAP_F_DEFERRED).  The socket carries:
 *
 *   plugin -> consumer  HELLO: a stream header, then a ring descriptor,
 *                       with the ring's read-only descriptor attached
 *                       (SCM_RIGHTS) to the first byte, and after it
 *                       the storage's (read-only) when the header has
 *                       TAP_HDR_DEFERRED;
 *                       DOORBELL: records are complete up to position
 *                       `value` (a byte count that only grows; the byte
 *                       at position p is at offset p % ring size).
 *   consumer -> plugin  ACK: every record with seq <= `value` has been
 *                       handled and its space may be reused.
 *
 * Unacknowledged records are offered again after a reconnect, so a
 * consumer restart loses nothing that still fits in the ring.
 */
#define TAP_RING_MAGIC      0x47525742u /* "BWRG" read as LE u32 */
#define TAP_RING_DESC_LEN   24
#define TAP_DOORBELL_MAGIC  0x42445742u /* "BWDB" */
#define TAP_ACK_MAGIC       0x4b415742u /* "BWAK" */
#define TAP_WORD_LEN        16          /* doorbell and ack */

struct tap_ring_desc {
  uint64_t size;              /* bytes, a multiple of the page size */
  uint64_t start;             /* position of the stream's first record */
};

/* Encoding: the writers (plugin, trace tools) use these. */
size_t tap_encode_header (uint8_t *buf, const struct tap_header *h);
void tap_encode_record (uint8_t buf[TAP_RECORD_HDR], const struct tap_record *r);
void tap_encode_ring_desc (uint8_t buf[TAP_RING_DESC_LEN],
                           const struct tap_ring_desc *d);
/* A doorbell or an acknowledgement: magic, then a 64-bit value. */
void tap_encode_word (uint8_t buf[TAP_WORD_LEN], uint32_t magic,
                      uint64_t value);
/* Checksum of an encoded record: header bytes (check field as zero)
 * then payload, the payload possibly split in two pieces because it
 * sits in a ring buffer.
 */
uint32_t tap_record_check (const uint8_t hdr[TAP_RECORD_HDR],
                           const uint8_t *p1, size_t n1,
                           const uint8_t *p2, size_t n2);
void tap_set_record_check (uint8_t hdr[TAP_RECORD_HDR], uint32_t check);

/* Decoding: consumers use these on untrusted bytes.  Each returns
 * 1 when a complete item was decoded (*used = bytes it took),
 * 0 when more bytes are needed, -1 on malformed input with a message
 * in err.  They never read past len.
 */
int tap_decode_header (const uint8_t *buf, size_t len,
                       struct tap_header *h, size_t *used,
                       char *err, size_t errlen);
/* Decodes the record header and checks it against the stream header
 * (range inside the disk, payload length rules).  The payload follows
 * in the next payload_len bytes; check it with tap_verify_record.
 */
int tap_decode_record (const uint8_t *buf, size_t len,
                       const struct tap_header *h, struct tap_record *r,
                       char *err, size_t errlen);
bool tap_verify_record (const uint8_t *hdr, const uint8_t *payload,
                        const struct tap_record *r);
int tap_decode_ring_desc (const uint8_t *buf, size_t len,
                          struct tap_ring_desc *d, char *err, size_t errlen);
int tap_decode_word (const uint8_t *buf, size_t len, uint32_t magic,
                     uint64_t *value, char *err, size_t errlen);

const char *tap_type_name (unsigned type);

#endif /* BLOCKWATCH_TAP_FORMAT_H */
