/* Encoding and defensive decoding of the tap format (tap-format.h). */

#include <stdio.h>
#include <string.h>
/* XXH3_state_t on the stack needs the static-linking declarations. */
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "tap-format.h"

static void
put16 (uint8_t *p, uint16_t v)
{
  p[0] = v; p[1] = v >> 8;
}

static void
put32 (uint8_t *p, uint32_t v)
{
  put16 (p, v); put16 (p + 2, v >> 16);
}

static void
put64 (uint8_t *p, uint64_t v)
{
  put32 (p, v); put32 (p + 4, v >> 32);
}

static uint16_t
get16 (const uint8_t *p)
{
  return p[0] | (uint16_t) p[1] << 8;
}

static uint32_t
get32 (const uint8_t *p)
{
  return get16 (p) | (uint32_t) get16 (p + 2) << 16;
}

static uint64_t
get64 (const uint8_t *p)
{
  return get32 (p) | (uint64_t) get32 (p + 4) << 32;
}

size_t
tap_encode_header (uint8_t *buf, const struct tap_header *h)
{
  size_t idlen = h->disk_id_len > TAP_DISK_ID_MAX ? TAP_DISK_ID_MAX
                                                  : h->disk_id_len;
  size_t total = TAP_HEADER_FIXED + idlen;

  memcpy (buf, TAP_MAGIC, TAP_MAGIC_LEN);
  put16 (buf + 8, TAP_VERSION);
  put16 (buf + 10, total);
  put32 (buf + 12, h->flags);
  put64 (buf + 16, h->disk_size);
  put32 (buf + 24, h->sector_size);
  put32 (buf + 28, 0);
  put64 (buf + 32, h->instance);
  put64 (buf + 40, h->first_seq);
  put64 (buf + 48, h->time_ns);
  put16 (buf + 56, idlen);
  memcpy (buf + TAP_HEADER_FIXED, h->disk_id, idlen);
  return total;
}

void
tap_encode_record (uint8_t buf[TAP_RECORD_HDR], const struct tap_record *r)
{
  put32 (buf, TAP_RECORD_MAGIC);
  put32 (buf + 4, r->check);
  put64 (buf + 8, r->seq);
  put64 (buf + 16, r->time_ns);
  put64 (buf + 24, r->offset);
  put64 (buf + 32, r->length);
  put16 (buf + 40, r->type);
  put16 (buf + 42, r->flags);
  put32 (buf + 44, r->payload_len);
}

void
tap_encode_ring_desc (uint8_t buf[TAP_RING_DESC_LEN],
                      const struct tap_ring_desc *d)
{
  put32 (buf, TAP_RING_MAGIC);
  put32 (buf + 4, 0);
  put64 (buf + 8, d->size);
  put64 (buf + 16, d->start);
}

void
tap_encode_word (uint8_t buf[TAP_WORD_LEN], uint32_t magic, uint64_t value)
{
  put32 (buf, magic);
  put32 (buf + 4, 0);
  put64 (buf + 8, value);
}

uint32_t
tap_record_check (const uint8_t hdr[TAP_RECORD_HDR],
                  const uint8_t *p1, size_t n1, const uint8_t *p2, size_t n2)
{
  uint8_t h[TAP_RECORD_HDR];
  XXH3_state_t st;

  /* XXH3 runs at memory speed; a CRC-32 cost more CPU per byte than
   * the whole rest of the tap (see docs/benchmarks.md).
   */
  memcpy (h, hdr, sizeof h);
  memset (h + 4, 0, 4);
  XXH3_64bits_reset (&st);
  XXH3_64bits_update (&st, h, sizeof h);
  if (n1)
    XXH3_64bits_update (&st, p1, n1);
  if (n2)
    XXH3_64bits_update (&st, p2, n2);
  return (uint32_t) XXH3_64bits_digest (&st);
}

void
tap_set_record_check (uint8_t hdr[TAP_RECORD_HDR], uint32_t check)
{
  put32 (hdr + 4, check);
}

int
tap_decode_header (const uint8_t *buf, size_t len, struct tap_header *h,
                   size_t *used, char *err, size_t errlen)
{
  if (len < TAP_HEADER_FIXED)
    return 0;
  if (memcmp (buf, TAP_MAGIC, TAP_MAGIC_LEN) != 0) {
    snprintf (err, errlen, "not a blockwatch tap stream (bad magic)");
    return -1;
  }
  h->version = get16 (buf + 8);
  if (h->version != TAP_VERSION) {
    snprintf (err, errlen, "unsupported tap format version %u (this build "
              "reads version %u)", h->version, TAP_VERSION);
    return -1;
  }
  h->header_len = get16 (buf + 10);
  h->flags = get32 (buf + 12);
  h->disk_size = get64 (buf + 16);
  h->sector_size = get32 (buf + 24);
  h->instance = get64 (buf + 32);
  h->first_seq = get64 (buf + 40);
  h->time_ns = get64 (buf + 48);
  h->disk_id_len = get16 (buf + 56);
  if (h->disk_id_len > TAP_DISK_ID_MAX ||
      h->header_len != TAP_HEADER_FIXED + h->disk_id_len) {
    snprintf (err, errlen, "tap header: inconsistent length %u with disk id "
              "length %u", h->header_len, h->disk_id_len);
    return -1;
  }
  if (h->sector_size < 512 || h->sector_size > 65536 ||
      (h->sector_size & (h->sector_size - 1)) != 0) {
    snprintf (err, errlen, "tap header: bad sector size %u", h->sector_size);
    return -1;
  }
  if (h->disk_size > (uint64_t) INT64_MAX) {
    snprintf (err, errlen, "tap header: disk size out of range");
    return -1;
  }
  /* Deferred payloads live in a plugin's storage: a file that outlives
   * the plugin (checksummed) cannot refer to them.
   */
  if ((h->flags & TAP_HDR_DEFERRED) && (h->flags & TAP_HDR_CHECK)) {
    snprintf (err, errlen, "tap header: a checksummed stream (a trace file) "
              "cannot defer payloads");
    return -1;
  }
  if (len < h->header_len)
    return 0;
  memcpy (h->disk_id, buf + TAP_HEADER_FIXED, h->disk_id_len);
  h->disk_id[h->disk_id_len] = '\0';
  *used = h->header_len;
  return 1;
}

int
tap_decode_record (const uint8_t *buf, size_t len,
                   const struct tap_header *h, struct tap_record *r,
                   char *err, size_t errlen)
{
  if (len < TAP_RECORD_HDR)
    return 0;
  if (get32 (buf) != TAP_RECORD_MAGIC) {
    /* A new stream header where a record was expected is legal in a
     * trace file; the caller checks for it before calling us.
     */
    snprintf (err, errlen, "bad record magic");
    return -1;
  }
  r->check = get32 (buf + 4);
  r->seq = get64 (buf + 8);
  r->time_ns = get64 (buf + 16);
  r->offset = get64 (buf + 24);
  r->length = get64 (buf + 32);
  r->type = get16 (buf + 40);
  r->flags = get16 (buf + 42);
  r->payload_len = get32 (buf + 44);

  if (r->payload_len > TAP_MAX_PAYLOAD) {
    snprintf (err, errlen, "record seq %llu: payload length %u exceeds %u",
              (unsigned long long) r->seq, r->payload_len, TAP_MAX_PAYLOAD);
    return -1;
  }
  if ((r->flags & TAP_F_DEFERRED) &&
      (r->type != TAP_WRITE || !(h->flags & TAP_HDR_DEFERRED))) {
    snprintf (err, errlen, "record seq %llu: deferred payload on a %s%s",
              (unsigned long long) r->seq, tap_type_name (r->type),
              h->flags & TAP_HDR_DEFERRED ? "" : " in a stream without them");
    return -1;
  }
  if ((r->flags & TAP_F_PAYLOAD_LOST) &&
      (r->type != TAP_WRITE || r->payload_len != 0 ||
       (r->flags & TAP_F_DEFERRED))) {
    snprintf (err, errlen, "record seq %llu: a lost payload is only for a "
              "write without bytes, not deferred (a %s, payload %u)",
              (unsigned long long) r->seq, tap_type_name (r->type),
              r->payload_len);
    return -1;
  }
  switch (r->type) {
  case TAP_WRITE:
    if ((r->payload_len != r->length &&
         !(r->flags & TAP_F_PAYLOAD_LOST)) || r->length == 0) {
      snprintf (err, errlen, "write record seq %llu: payload length %u does "
                "not match length %llu", (unsigned long long) r->seq,
                r->payload_len, (unsigned long long) r->length);
      return -1;
    }
    /* fall through */
  case TAP_ZERO:
  case TAP_TRIM:
    if (r->type != TAP_WRITE && r->payload_len != 0) {
      snprintf (err, errlen, "record seq %llu: %s carries a payload",
                (unsigned long long) r->seq, tap_type_name (r->type));
      return -1;
    }
    if (r->offset > h->disk_size || r->length > h->disk_size - r->offset) {
      snprintf (err, errlen, "record seq %llu: %s range %llu+%llu outside "
                "the %llu-byte disk", (unsigned long long) r->seq,
                tap_type_name (r->type), (unsigned long long) r->offset,
                (unsigned long long) r->length,
                (unsigned long long) h->disk_size);
      return -1;
    }
    break;
  case TAP_FLUSH:
  case TAP_OVERFLOW:
  case TAP_END:
    if (r->payload_len != 0) {
      snprintf (err, errlen, "record seq %llu: %s carries a payload",
                (unsigned long long) r->seq, tap_type_name (r->type));
      return -1;
    }
    if (r->type == TAP_OVERFLOW &&
        (r->length == 0 || r->offset > r->seq || r->length > r->seq - r->offset)) {
      snprintf (err, errlen, "overflow record seq %llu: lost range %llu+%llu "
                "does not precede it", (unsigned long long) r->seq,
                (unsigned long long) r->offset, (unsigned long long) r->length);
      return -1;
    }
    break;
  default:
    /* Unknown types are skipped by readers (payload_len tells how far),
     * so later minor additions do not break old consumers.
     */
    break;
  }
  return 1;
}

bool
tap_verify_record (const uint8_t *hdr, const uint8_t *payload,
                   const struct tap_record *r)
{
  return tap_record_check (hdr, payload, r->payload_len, NULL, 0) == r->check;
}

int
tap_decode_ring_desc (const uint8_t *buf, size_t len,
                      struct tap_ring_desc *d, char *err, size_t errlen)
{
  if (len < TAP_RING_DESC_LEN)
    return 0;
  if (get32 (buf) != TAP_RING_MAGIC) {
    snprintf (err, errlen, "bad ring descriptor magic");
    return -1;
  }
  d->size = get64 (buf + 8);
  d->start = get64 (buf + 16);
  /* The ring is mapped twice: keep 2 * size far from overflowing. */
  if (d->size == 0 || d->size > ((uint64_t) 1 << 40)) {
    snprintf (err, errlen, "ring size %llu out of range",
              (unsigned long long) d->size);
    return -1;
  }
  return 1;
}

int
tap_decode_word (const uint8_t *buf, size_t len, uint32_t magic,
                 uint64_t *value, char *err, size_t errlen)
{
  if (len < TAP_WORD_LEN)
    return 0;
  if (get32 (buf) != magic) {
    snprintf (err, errlen, "expected a %s message",
              magic == TAP_ACK_MAGIC ? "acknowledgement" : "doorbell");
    return -1;
  }
  *value = get64 (buf + 8);
  return 1;
}

const char *
tap_type_name (unsigned type)
{
  switch (type) {
  case TAP_WRITE: return "write";
  case TAP_ZERO: return "zero";
  case TAP_TRIM: return "trim";
  case TAP_FLUSH: return "flush";
  case TAP_OVERFLOW: return "overflow";
  case TAP_END: return "end";
  default: return "unknown";
  }
}
