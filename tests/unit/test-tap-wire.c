/* The tap format: encoding round-trips, and the decoder rejects every
 * malformed header, record and acknowledgement with a message instead
 * of trusting it.  Also the sequence accounting rules of tap-seq.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tap/tap-reader.h"
#include "tap/tap-seq.h"

static struct tap_header
sample_header (void)
{
  struct tap_header h = {
    .flags = TAP_HDR_CHECK, .disk_size = 1 << 20, .sector_size = 512,
    .instance = 0x1122334455667788ull, .first_seq = 1, .time_ns = 42,
    .disk_id_len = 5,
  };
  memcpy (h.disk_id, "vm-01", 5);
  return h;
}

/* Appends one encoded record (with checksum) to buf; returns its length. */
static size_t
put_record (uint8_t *buf, uint64_t seq, unsigned type, uint64_t off,
            uint64_t len, const uint8_t *payload)
{
  struct tap_record r = {
    .seq = seq, .offset = off, .length = len, .type = type,
    .payload_len = type == TAP_WRITE ? len : 0,
  };

  tap_encode_record (buf, &r);
  if (r.payload_len)
    memcpy (buf + TAP_RECORD_HDR, payload, r.payload_len);
  tap_set_record_check (buf, tap_record_check (buf, buf + TAP_RECORD_HDR,
                                               r.payload_len, NULL, 0));
  return TAP_RECORD_HDR + r.payload_len;
}

static void
header_round_trip (void **state)
{
  struct tap_header h = sample_header (), out;
  uint8_t buf[2048];
  size_t n = tap_encode_header (buf, &h), used;
  char err[128];

  (void) state;
  assert_int_equal (n, TAP_HEADER_FIXED + 5);
  /* Every strict prefix asks for more bytes, never errs or reads on. */
  for (size_t k = 0; k < n; k++)
    assert_int_equal (tap_decode_header (buf, k, &out, &used, err,
                                         sizeof err), 0);
  assert_int_equal (tap_decode_header (buf, n, &out, &used, err, sizeof err), 1);
  assert_int_equal (used, n);
  assert_int_equal (out.disk_size, h.disk_size);
  assert_int_equal (out.instance, h.instance);
  assert_string_equal (out.disk_id, "vm-01");
}

static void
header_rejects_garbage (void **state)
{
  struct tap_header h = sample_header (), out;
  uint8_t buf[2048], bad[2048];
  size_t n = tap_encode_header (buf, &h), used;
  char err[128];

  (void) state;
  memcpy (bad, buf, n); bad[0] = 'X';
  assert_int_equal (tap_decode_header (bad, n, &out, &used, err, sizeof err), -1);
  memcpy (bad, buf, n); bad[8] = 2;                       /* version */
  assert_int_equal (tap_decode_header (bad, n, &out, &used, err, sizeof err), -1);
  assert_non_null (strstr (err, "version"));
  memcpy (bad, buf, n); bad[56] = 0xff; bad[57] = 0xff;   /* id length */
  assert_int_equal (tap_decode_header (bad, n, &out, &used, err, sizeof err), -1);
  memcpy (bad, buf, n); bad[24] = 0; bad[25] = 3;         /* sector 768 */
  assert_int_equal (tap_decode_header (bad, n, &out, &used, err, sizeof err), -1);
  memcpy (bad, buf, n); bad[23] = 0x80;                   /* size > INT64_MAX */
  assert_int_equal (tap_decode_header (bad, n, &out, &used, err, sizeof err), -1);
  /* Deferred payloads in a checksummed stream (a trace file). */
  memcpy (bad, buf, n); bad[12] |= TAP_HDR_DEFERRED;
  assert_int_equal (tap_decode_header (bad, n, &out, &used, err, sizeof err), -1);
  assert_non_null (strstr (err, "defer"));
}

static void
record_rules (void **state)
{
  struct tap_header h = sample_header ();
  struct tap_record r;
  uint8_t buf[TAP_RECORD_HDR + 4096], data[4096];
  char err[128];

  (void) state;
  memset (data, 0xab, sizeof data);
  put_record (buf, 7, TAP_WRITE, 4096, 4096, data);
  assert_int_equal (tap_decode_record (buf, TAP_RECORD_HDR, &h, &r, err,
                                       sizeof err), 1);
  assert_true (tap_verify_record (buf, buf + TAP_RECORD_HDR, &r));
  buf[TAP_RECORD_HDR + 100] ^= 1;
  assert_false (tap_verify_record (buf, buf + TAP_RECORD_HDR, &r));

  /* A write past the end of the disk. */
  put_record (buf, 7, TAP_WRITE, (1 << 20) - 512, 4096, data);
  assert_int_equal (tap_decode_record (buf, TAP_RECORD_HDR, &h, &r, err,
                                       sizeof err), -1);
  assert_non_null (strstr (err, "outside"));
  /* Offset + length wrapping around 2^64. */
  put_record (buf, 7, TAP_ZERO, UINT64_MAX - 10, 100, NULL);
  assert_int_equal (tap_decode_record (buf, TAP_RECORD_HDR, &h, &r, err,
                                       sizeof err), -1);
  /* A payload larger than any record may carry. */
  put_record (buf, 7, TAP_FLUSH, 0, 0, NULL);
  buf[44] = 0xff; buf[45] = 0xff; buf[46] = 0xff;
  assert_int_equal (tap_decode_record (buf, TAP_RECORD_HDR, &h, &r, err,
                                       sizeof err), -1);
  /* A flush with a payload. */
  put_record (buf, 7, TAP_FLUSH, 0, 0, NULL);
  buf[44] = 1;
  assert_int_equal (tap_decode_record (buf, TAP_RECORD_HDR, &h, &r, err,
                                       sizeof err), -1);
  /* An overflow record must describe seqs before its own. */
  put_record (buf, 10, TAP_OVERFLOW, 5, 5, NULL);
  assert_int_equal (tap_decode_record (buf, TAP_RECORD_HDR, &h, &r, err,
                                       sizeof err), 1);
  put_record (buf, 10, TAP_OVERFLOW, 5, 6, NULL);
  assert_int_equal (tap_decode_record (buf, TAP_RECORD_HDR, &h, &r, err,
                                       sizeof err), -1);
  put_record (buf, 10, TAP_OVERFLOW, 5, 0, NULL);
  assert_int_equal (tap_decode_record (buf, TAP_RECORD_HDR, &h, &r, err,
                                       sizeof err), -1);
  /* Unknown types are passed on for the caller to skip. */
  put_record (buf, 11, 99, 0, 0, NULL);
  assert_int_equal (tap_decode_record (buf, TAP_RECORD_HDR, &h, &r, err,
                                       sizeof err), 1);

  /* Deferred payloads: only on writes, only in a stream that has them
   * (the shared ring's, without checksums).
   */
  put_record (buf, 12, TAP_WRITE, 0, 4096, data);
  buf[42] |= TAP_F_DEFERRED;
  assert_int_equal (tap_decode_record (buf, TAP_RECORD_HDR, &h, &r, err,
                                       sizeof err), -1);
  assert_non_null (strstr (err, "without them"));
  h.flags = TAP_HDR_DEFERRED;
  assert_int_equal (tap_decode_record (buf, TAP_RECORD_HDR, &h, &r, err,
                                       sizeof err), 1);
  assert_true (r.flags & TAP_F_DEFERRED);
  put_record (buf, 13, TAP_ZERO, 0, 4096, NULL);
  buf[42] |= TAP_F_DEFERRED;
  assert_int_equal (tap_decode_record (buf, TAP_RECORD_HDR, &h, &r, err,
                                       sizeof err), -1);

  /* A write whose bytes were lost (a consumer's trace file) carries
   * none; nothing else may say so.
   */
  h.flags = 0;
  r = (struct tap_record) { .seq = 14, .type = TAP_WRITE, .offset = 0,
                            .length = 4096, .flags = TAP_F_PAYLOAD_LOST };
  tap_encode_record (buf, &r);
  assert_int_equal (tap_decode_record (buf, TAP_RECORD_HDR, &h, &r, err,
                                       sizeof err), 1);
  assert_int_equal (r.payload_len, 0);
  assert_int_equal (r.length, 4096);
  r.payload_len = 4096;       /* lost, yet carries bytes */
  tap_encode_record (buf, &r);
  assert_int_equal (tap_decode_record (buf, TAP_RECORD_HDR, &h, &r, err,
                                       sizeof err), -1);
  assert_non_null (strstr (err, "a lost payload"));
  r = (struct tap_record) { .seq = 15, .type = TAP_ZERO, .length = 4096,
                            .flags = TAP_F_PAYLOAD_LOST };
  tap_encode_record (buf, &r);
  assert_int_equal (tap_decode_record (buf, TAP_RECORD_HDR, &h, &r, err,
                                       sizeof err), -1);
  h.flags = TAP_HDR_DEFERRED;
  r = (struct tap_record) { .seq = 16, .type = TAP_WRITE, .length = 4096,
                            .flags = TAP_F_PAYLOAD_LOST | TAP_F_DEFERRED };
  tap_encode_record (buf, &r);
  assert_int_equal (tap_decode_record (buf, TAP_RECORD_HDR, &h, &r, err,
                                       sizeof err), -1);
}

static void
words_round_trip (void **state)
{
  uint8_t buf[TAP_WORD_LEN];
  uint64_t v;
  char err[64];

  (void) state;
  tap_encode_word (buf, TAP_ACK_MAGIC, 123456789012345ull);
  assert_int_equal (tap_decode_word (buf, TAP_WORD_LEN - 1, TAP_ACK_MAGIC, &v,
                                     err, sizeof err), 0);
  assert_int_equal (tap_decode_word (buf, TAP_WORD_LEN, TAP_ACK_MAGIC, &v,
                                     err, sizeof err), 1);
  assert_int_equal (v, 123456789012345ull);
  /* An acknowledgement is not a doorbell. */
  assert_int_equal (tap_decode_word (buf, TAP_WORD_LEN, TAP_DOORBELL_MAGIC,
                                     &v, err, sizeof err), -1);
}

static void
ring_desc_rules (void **state)
{
  uint8_t buf[TAP_RING_DESC_LEN];
  struct tap_ring_desc d = { .size = 1 << 22, .start = 77 }, out;
  char err[64];

  (void) state;
  tap_encode_ring_desc (buf, &d);
  assert_int_equal (tap_decode_ring_desc (buf, sizeof buf, &out, err,
                                          sizeof err), 1);
  assert_int_equal (out.size, d.size);
  assert_int_equal (out.start, 77);
  d.size = 0;
  tap_encode_ring_desc (buf, &d);
  assert_int_equal (tap_decode_ring_desc (buf, sizeof buf, &out, err,
                                          sizeof err), -1);
  d.size = (uint64_t) 1 << 62;
  tap_encode_ring_desc (buf, &d);
  assert_int_equal (tap_decode_ring_desc (buf, sizeof buf, &out, err,
                                          sizeof err), -1);
}

/* The reader gives the same items whether bytes arrive at once or one
 * by one, across two streams back to back, and catches a bad checksum.
 */
static void
reader_streams (void **state)
{
  struct tap_header h = sample_header ();
  static uint8_t buf[3 * 8192];
  uint8_t data[1000];
  size_t n = 0;
  char err[128];
  int items;

  (void) state;
  memset (data, 0x5a, sizeof data);
  n += tap_encode_header (buf + n, &h);
  n += put_record (buf + n, 1, TAP_WRITE, 0, sizeof data, data);
  n += put_record (buf + n, 2, TAP_FLUSH, 0, 0, NULL);
  h.first_seq = 3;
  n += tap_encode_header (buf + n, &h);
  n += put_record (buf + n, 3, TAP_TRIM, 512, 512, NULL);

  for (int bytewise = 0; bytewise < 2; bytewise++) {
    struct tap_reader *rd = tap_reader_new ();
    struct tap_item it;
    size_t fed = 0;

    items = 0;
    while (fed < n || !tap_reader_at_boundary (rd)) {
      int r = tap_reader_next (rd, &it, err, sizeof err);
      assert_int_not_equal (r, -1);
      if (r == 1) {
        items++;
        if (items == 2) {
          assert_int_equal (it.kind, TAP_ITEM_RECORD);
          assert_int_equal (it.rec.payload_len, sizeof data);
          assert_memory_equal (it.payload, data, sizeof data);
        }
        continue;
      }
      size_t k = bytewise ? 1 : n - fed;
      assert_int_equal (tap_reader_feed (rd, buf + fed, k), 0);
      fed += k;
    }
    assert_int_equal (items, 5);
    tap_reader_free (rd);
  }

  /* Corrupt one payload byte: the reader refuses the record. */
  struct tap_reader *rd = tap_reader_new ();
  struct tap_item it;
  buf[TAP_HEADER_FIXED + 5 + TAP_RECORD_HDR + 10] ^= 0x40;
  tap_reader_feed (rd, buf, n);
  assert_int_equal (tap_reader_next (rd, &it, err, sizeof err), 1);
  assert_int_equal (tap_reader_next (rd, &it, err, sizeof err), -1);
  assert_non_null (strstr (err, "checksum"));
  tap_reader_free (rd);

  /* A file cannot hold a stream whose payloads are in some storage. */
  h.flags = TAP_HDR_DEFERRED;
  n = tap_encode_header (buf, &h);
  rd = tap_reader_new ();
  tap_reader_feed (rd, buf, n);
  assert_int_equal (tap_reader_next (rd, &it, err, sizeof err), -1);
  assert_non_null (strstr (err, "deferred"));
  tap_reader_free (rd);

  /* Records without a stream header are not a tap stream. */
  rd = tap_reader_new ();
  n = put_record (buf, 1, TAP_FLUSH, 0, 0, NULL);
  tap_reader_feed (rd, buf, n);
  assert_int_equal (tap_reader_next (rd, &it, err, sizeof err), -1);
  tap_reader_free (rd);
}

static struct tap_record
rec (uint64_t seq, unsigned type, uint64_t off, uint64_t len)
{
  return (struct tap_record) { .seq = seq, .type = type, .offset = off,
                               .length = len };
}

static void
seq_accounting (void **state)
{
  struct tap_seq t = { 0 };
  struct tap_header h = sample_header ();
  struct tap_record r;

  (void) state;
  h.first_seq = 1;
  assert_int_equal (tap_seq_header (&t, &h), TAP_SEQ_NEW);
  r = rec (1, TAP_WRITE, 0, 1);
  assert_int_equal (tap_seq_record (&t, &r), TAP_SEQ_NEW);
  r = rec (2, TAP_FLUSH, 0, 0);
  assert_int_equal (tap_seq_record (&t, &r), TAP_SEQ_NEW);
  /* 3..9 lost and reported by overflow record 10. */
  r = rec (10, TAP_OVERFLOW, 3, 7);
  assert_int_equal (tap_seq_record (&t, &r), TAP_SEQ_NEW);
  assert_int_equal (t.lost, 7);
  /* Silent gap: 11 missing. */
  r = rec (12, TAP_WRITE, 0, 1);
  assert_int_equal (tap_seq_record (&t, &r), TAP_SEQ_GAP);
  /* Reconnect re-sending from 2: 2 and 10 are duplicates, 11 is new. */
  h.first_seq = 2;
  assert_int_equal (tap_seq_header (&t, &h), TAP_SEQ_NEW);
  r = rec (2, TAP_FLUSH, 0, 0);
  assert_int_equal (tap_seq_record (&t, &r), TAP_SEQ_DUPLICATE);
  r = rec (10, TAP_OVERFLOW, 3, 7);
  assert_int_equal (tap_seq_record (&t, &r), TAP_SEQ_DUPLICATE);
  r = rec (11, TAP_WRITE, 0, 1);
  assert_int_equal (tap_seq_record (&t, &r), TAP_SEQ_NEW);
  /* A stream that starts beyond what we have is a gap... */
  h.first_seq = 20;
  assert_int_equal (tap_seq_header (&t, &h), TAP_SEQ_GAP);
  /* ...unless it is a new plugin instance; the old one never sent its
   * end record, so it may have been cut short.
   */
  h.instance++;
  assert_int_equal (tap_seq_header (&t, &h), TAP_SEQ_NEW);
  assert_int_equal (t.expected, 20);
  assert_int_equal (t.unfinished, 1);
  r = rec (20, TAP_END, 0, 0);
  assert_int_equal (tap_seq_record (&t, &r), TAP_SEQ_NEW);
  assert_true (t.ended);
  h.instance++;
  assert_int_equal (tap_seq_header (&t, &h), TAP_SEQ_NEW);
  assert_int_equal (t.unfinished, 1);
  assert_false (t.ended);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (header_round_trip),
    cmocka_unit_test (header_rejects_garbage),
    cmocka_unit_test (record_rules),
    cmocka_unit_test (words_round_trip),
    cmocka_unit_test (ring_desc_rules),
    cmocka_unit_test (reader_streams),
    cmocka_unit_test (seq_accounting),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
