/* The engine when a disk's partition table changes under it: one
 * partition event that says what changed; partitions that stay where
 * they were keep their watcher (no second look, no new crawl), new and
 * moved ones are looked at; a partition without a file system is
 * looked at again only after its superblock was written, or after lost
 * records.  The disk is in memory and the tap records are made here;
 * the engine's log lines tell which partitions it looked at.  (The
 * real kernel driver on partitioned disks: introspect-partitioned-disks.)
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "disk/reader-mem.h"
#include "engine/engine.h"

#define MiB (1024 * 1024)
#define DISK (8 * MiB)

static uint8_t disk[DISK];
static char looked[256];      /* partitions looked at: "2 3 " */
static int events;
static struct bw_event last;
static char last_detail[256];

static void
log_line (void *opaque, const char *fmt, ...)
{
  char msg[512];
  size_t n = strlen (looked);
  va_list ap;
  int part;

  (void) opaque;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  if (sscanf (msg, "partition %d:", &part) == 1)
    snprintf (looked + n, sizeof looked - n, "%d ", part);
}

static void
emit (struct bw_sink *s, const struct bw_event *ev)
{
  (void) s;
  events++;
  last = *ev;
  snprintf (last_detail, sizeof last_detail, "%s", ev->detail ?: "");
}

static struct bw_sink sink = { .emit = emit };
static struct tap_header hdr = {
  .disk_size = DISK, .sector_size = 512, .instance = 1, .first_seq = 1,
};
static uint64_t seq;

/* Records are stamped as the plugin stamps them, when they are made:
 * after the crawl (one stamped before it would be a loss).
 */
static void
feed_flags (struct engine *e, uint16_t type, uint64_t off, uint64_t len,
            uint16_t flags)
{
  struct timespec now;
  struct tap_item it = {
    .kind = TAP_ITEM_RECORD, .hdr = &hdr,
    .rec = { .seq = seq, .type = type, .offset = off, .length = len,
             .flags = flags },
  };
  char err[256];

  clock_gettime (CLOCK_REALTIME, &now);
  it.rec.time_ns = (uint64_t) now.tv_sec * 1000000000 + now.tv_nsec;
  /* An overflow accounts for the lost seqs before its own. */
  if (type == TAP_OVERFLOW)
    it.rec.seq = seq += len;
  seq++;
  if (engine_item (e, &it, err, sizeof err) == -1)
    fail_msg ("engine_item: %s", err);
}

static void
feed (struct engine *e, uint16_t type, uint64_t off, uint64_t len)
{
  feed_flags (e, type, off, len, 0);
}

static void
mbr_entry (int slot, uint32_t start_mib, uint32_t size_mib)
{
  uint8_t *p = disk + 0x1be + 16 * slot;

  memset (p, 0, 16);
  if (size_mib) {
    p[4] = 0x83;
    for (int i = 0; i < 4; i++) {
      p[8 + i] = (start_mib * 2048) >> (8 * i);
      p[12 + i] = (size_mib * 2048) >> (8 * i);
    }
  }
  disk[510] = 0x55;
  disk[511] = 0xaa;
}

/* The table written and flushed: a partition event, or none. */
static void
rewrite_table (struct engine *e, const char *detail)
{
  events = 0;
  looked[0] = '\0';
  feed (e, TAP_WRITE, 0, 512);
  feed (e, TAP_FLUSH, 0, 0);
  if (detail == NULL) {
    assert_int_equal (events, 0);
    return;
  }
  assert_int_equal (events, 1);
  assert_int_equal (last.type, BW_EV_PARTITION);
  assert_int_equal (last.part, 0);
  assert_string_equal (last_detail, detail);
}

static void
table_changes (void **state)
{
  struct engine_cfg cfg = { .sink = &sink, .log = log_line };
  struct tap_item it = { .kind = TAP_ITEM_HEADER, .hdr = &hdr };
  struct bw_reader *r;
  struct engine *e;
  char err[256];

  (void) state;
  mbr_entry (0, 1, 2);
  mbr_entry (1, 3, 2);
  r = bw_reader_open_memory (disk, DISK, 512, err, sizeof err);
  assert_non_null (r);
  e = engine_open (r, &cfg, err, sizeof err);
  assert_non_null (e);
  assert_string_equal (looked, "1 2 ");
  seq = 1;
  assert_int_equal (engine_item (e, &it, err, sizeof err), 0);

  /* 1 stays, 2 moves, 3 comes: only 2 and 3 are looked at. */
  mbr_entry (1, 4, 1);
  mbr_entry (2, 6, 1);
  rewrite_table (e, "mbr, 3 partitions; added 3; moved or resized 2");
  assert_string_equal (looked, "2 3 ");

  mbr_entry (0, 0, 0);
  rewrite_table (e, "mbr, 2 partitions; removed 1");
  assert_string_equal (looked, "");

  rewrite_table (e, NULL);    /* the same table written again */
  assert_string_equal (looked, "");

  /* Writes in partition 3 outside its superblock: no new look. */
  looked[0] = '\0';
  feed (e, TAP_WRITE, 6 * MiB + 4096, 8192);
  feed (e, TAP_FLUSH, 0, 0);
  assert_string_equal (looked, "");
  /* Its superblock: looked at (a magic and nothing else: refused). */
  disk[6 * MiB + 1080] = 0x53;
  disk[6 * MiB + 1081] = 0xef;
  feed (e, TAP_WRITE, 6 * MiB + 1024, 1024);
  feed (e, TAP_FLUSH, 0, 0);
  assert_string_equal (looked, "3 ");
  /* Written again and still refused for the same reason: not said
   * again.
   */
  looked[0] = '\0';
  feed (e, TAP_WRITE, 6 * MiB + 1024, 1024);
  feed (e, TAP_FLUSH, 0, 0);
  assert_string_equal (looked, "");

  /* Lost records may have held a mkfs anywhere: both are looked at
   * again, and say so as what they hold changed (a magic in 2, none
   * in 3).
   */
  looked[0] = '\0';
  disk[4 * MiB + 1080] = 0x53;
  disk[4 * MiB + 1081] = 0xef;
  disk[6 * MiB + 1080] = 0;
  feed (e, TAP_OVERFLOW, seq, 2);
  feed (e, TAP_FLUSH, 0, 0);
  assert_string_equal (looked, "2 3 ");

  /* A write whose bytes nobody could read (tap-client.h) may have been
   * that mkfs too: a loss, reported as an overflow of one record, and
   * both are looked at again (what they hold changed once more).
   */
  looked[0] = '\0';
  events = 0;
  disk[4 * MiB + 1080] = 0;
  disk[6 * MiB + 1080] = 0x53;
  feed_flags (e, TAP_WRITE, 4 * MiB + 1024, 1024, TAP_F_PAYLOAD_LOST);
  assert_int_equal (events, 1);
  assert_int_equal (last.type, BW_EV_OVERFLOW);
  assert_int_equal (last.length, 1);
  feed (e, TAP_FLUSH, 0, 0);
  assert_string_equal (looked, "2 3 ");

  engine_close (e);
  bw_reader_close (r);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (table_changes),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
