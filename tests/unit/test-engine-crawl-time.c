/* Online, the introspector's crawl reads the storage as it is.  A
 * first record stamped before the crawl ended (an introspector started
 * again and handed what its predecessor had not acknowledged, or a
 * proxy that served the guest during the crawl) is a write the crawl
 * may already hold, which no event would report: the engine reports a
 * loss (an overflow event, lost count unknown) and resyncs.  A first
 * record stamped after the crawl is followed as usual, and offline
 * (a trace replayed onto a copy of its base image) old stamps are the
 * rule, not a loss.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "disk/reader.h"
#include "engine/engine.h"

#define DISK (1024 * 1024)
static int overflows, others;
static uint64_t lost;

static void
emit (struct bw_sink *s, const struct bw_event *ev)
{
  (void) s;
  if (ev->type == BW_EV_OVERFLOW) {
    overflows++;
    lost = ev->length;
  }
  else
    others++;
}

static struct bw_sink sink = { .emit = emit };
static struct tap_header hdr = {
  .disk_size = DISK, .sector_size = 512, .instance = 7, .first_seq = 40,
};

static uint64_t
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_REALTIME, &ts);
  return (uint64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A fresh engine on a blank disk (a file: offline, the engine writes
 * the records into it), fed the stream's header and two writes, the
 * first stamped first_time; how many overflows it said.
 */
static int
run (bool apply, uint64_t first_time)
{
  struct engine_cfg cfg = { .sink = &sink, .offline = apply, .apply = apply };
  struct tap_item it = { .kind = TAP_ITEM_HEADER, .hdr = &hdr };
  uint8_t data[512] = { 0 };
  char path[] = "/tmp/test-engine-crawl-time.XXXXXX";
  int fd = mkstemp (path);
  struct bw_reader *r;
  struct engine *e;
  char err[256];

  overflows = others = 0;
  lost = 99;
  assert_true (fd >= 0 && ftruncate (fd, DISK) == 0);
  close (fd);
  r = bw_reader_open_file (path, apply, err, sizeof err);
  unlink (path);
  assert_non_null (r);
  e = engine_open (r, &cfg, err, sizeof err);
  assert_non_null (e);
  assert_int_equal (engine_item (e, &it, err, sizeof err), 0);
  for (int i = 0; i < 2; i++) {
    it = (struct tap_item) {
      .kind = TAP_ITEM_RECORD, .hdr = &hdr, .payload = data,
      .rec = { .seq = 40 + i, .type = TAP_WRITE, .offset = 65536,
               .length = sizeof data,
               .time_ns = i == 0 ? first_time : now_ns () },
    };
    assert_int_equal (engine_item (e, &it, err, sizeof err), 0);
  }
  engine_finish (e);
  engine_close (e);
  bw_reader_close (r);
  return overflows;
}

static void
stamped_before_the_crawl (void **state)
{
  uint64_t before = now_ns ();

  (void) state;
  assert_int_equal (run (false, before), 1);
  assert_int_equal (lost, 0);           /* how many: unknown */
}

static void
stamped_after_the_crawl (void **state)
{
  (void) state;
  /* An hour ahead: after the crawl whatever the machine's speed. */
  assert_int_equal (run (false, now_ns () + 3600ull * 1000000000), 0);
  assert_int_equal (others, 0);
}

static void
offline_old_stamps (void **state)
{
  (void) state;
  assert_int_equal (run (true, 1), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (stamped_before_the_crawl),
    cmocka_unit_test (stamped_after_the_crawl),
    cmocka_unit_test (offline_old_stamps),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
