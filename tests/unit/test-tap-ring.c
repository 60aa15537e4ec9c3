/* The tap ring against a real consumer on a Unix socket (a thread in
 * this test) and against a trace file: order, splitting, overflow
 * accounting, the block policy's bound, re-sending after a consumer
 * dies, data integrity across many wrap-arounds, and the lock-free
 * parts (payloads published by slot, the sender's sleep and wake-up)
 * under many request threads and a consumer that naps.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "tap-defer.h"
#include "tap-ring.h"
#include "tap/tap-client.h"
#include "tap/tap-reader.h"
#include "tap/tap-seq.h"

#define DISK (16u << 20)

static char dir[64];

static void
quiet_log (int level, const char *fmt, ...)
{
  (void) level; (void) fmt;
}

static double
now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct tap_config
config (enum tap_sink sink, const char *name, int block_ms)
{
  static char path[128];
  struct tap_config c = {
    .sink = sink, .path = path, .buffer_bytes = TAP_MIN_BUFFER,
    .block_ms = block_ms, .drain_ms = 5000, .source_fd = -1,
    .header = { .disk_size = DISK, .sector_size = 512, .disk_id_len = 4,
                .disk_id = "test" },
  };
  snprintf (path, sizeof path, "%s/%s", dir, name);
  return c;
}

/* ---- a consumer thread ---------------------------------------- */

struct consumer {
  char path[128];
  int lfd;
  pthread_t th;
  bool ack;                   /* acknowledge what we read */
  bool fail_reads;            /* its reads of the storage fail */
  size_t shadow_resident;     /* deferred payloads' memory, at the end */
  unsigned close_after;       /* drop the connection after N records (0: never) */
  unsigned delay_ms;          /* sleep before reading the first doorbell */
  unsigned nap_us;            /* sleep up to this long after each batch */
  void (*check) (const struct tap_item *);  /* called on each new record */
  pthread_mutex_t lock;
  struct tap_seq seq;
  unsigned long long fresh, dups;
  uint8_t *image;             /* writes/zeroes applied here */
};

static void
apply (struct consumer *c, const struct tap_item *it)
{
  const struct tap_record *r = &it->rec;

  if (r->type == TAP_WRITE && !(r->flags & TAP_F_PAYLOAD_LOST))
    memcpy (c->image + r->offset, it->payload, r->length);
  else if (r->type == TAP_ZERO)
    memset (c->image + r->offset, 0, r->length);
}

static __thread bool fail_pread;   /* see pread below */

static void *
consumer_main (void *arg)
{
  struct consumer *c = arg;
  char err[128];
  struct tap_client *tc = tap_client_accept (c->lfd, 5000, err, sizeof err);
  unsigned seen = 0;

  fail_pread = c->fail_reads;

  assert_non_null (tc);
  for (;;) {
    struct pollfd p = { .fd = tap_client_fd (tc), .events = POLLIN };
    struct tap_item it;
    bool closed;
    int r;

    pthread_mutex_lock (&c->lock);
    while ((r = tap_client_next (tc, &it, err, sizeof err)) == 1) {
      if (it.kind == TAP_ITEM_HEADER) {
        assert_int_equal (tap_seq_header (&c->seq, it.hdr), TAP_SEQ_NEW);
        continue;
      }
      switch (tap_seq_record (&c->seq, &it.rec)) {
      case TAP_SEQ_NEW:
        c->fresh++;
        if (c->check)
          c->check (&it);
        apply (c, &it);
        break;
      case TAP_SEQ_DUPLICATE: c->dups++; break;
      case TAP_SEQ_GAP: fail_msg ("silent gap at seq %llu",
                                  (unsigned long long) it.rec.seq);
      }
      seen++;
      if (c->close_after && seen >= c->close_after)
        break;
    }
    pthread_mutex_unlock (&c->lock);
    assert_int_not_equal (r, -1);
    if (c->close_after && seen >= c->close_after)
      break;
    if (c->ack && tap_client_ack (tc, c->seq.expected - 1) == -1)
      break;
    poll (&p, 1, -1);
    if (c->delay_ms) {
      usleep (c->delay_ms * 1000);
      c->delay_ms = 0;
    }
    if (c->nap_us)
      usleep (rand () % c->nap_us);
    if (tap_client_receive (tc, &closed, err, sizeof err) == -1)
      break;
  }
  c->shadow_resident = tap_client_shadow_resident (tc);
  tap_client_close (tc);
  return NULL;
}

/* Listens now; serves one connection in a thread. */
static void
consumer_start (struct consumer *c, const char *path)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };

  if (path != c->path)
    strcpy (c->path, path);
  strcpy (sa.sun_path, path);
  unlink (path);
  c->lfd = socket (AF_UNIX, SOCK_STREAM, 0);
  assert_int_equal (bind (c->lfd, (struct sockaddr *) &sa, sizeof sa), 0);
  assert_int_equal (listen (c->lfd, 1), 0);
  pthread_create (&c->th, NULL, consumer_main, c);
}

static void
consumer_join (struct consumer *c)
{
  pthread_join (c->th, NULL);
  close (c->lfd);
  unlink (c->path);
}

static unsigned long long
consumer_expected (struct consumer *c)
{
  unsigned long long e;
  pthread_mutex_lock (&c->lock);
  e = c->seq.expected;
  pthread_mutex_unlock (&c->lock);
  return e;
}

/* Waits until the consumer has accounted for every seq below 'want'. */
static void
wait_expected (struct consumer *c, unsigned long long want)
{
  double deadline = now () + 15;
  while (consumer_expected (c) < want) {
    assert_true (now () < deadline);
    usleep (10000);
  }
}

static struct consumer *
consumer_new (bool ack)
{
  struct consumer *c = calloc (1, sizeof *c);
  c->ack = ack;
  c->image = calloc (1, DISK);
  pthread_mutex_init (&c->lock, NULL);
  return c;
}

static void
consumer_free (struct consumer *c)
{
  free (c->image);
  free (c);
}

/* ---- tests ------------------------------------------------------ */

static int
count_item (const struct tap_item *it, void *opaque)
{
  uint64_t *expect = opaque;

  if (it->kind == TAP_ITEM_HEADER) {
    assert_int_equal (it->hdr->first_seq, 1);
    assert_int_equal (it->hdr->disk_size, DISK);
    return 0;
  }
  assert_int_equal (it->rec.seq, *expect);
  (*expect)++;
  return 0;
}

static void
record_sink_splits_and_orders (void **state)
{
  struct tap_config cfg = config (TAP_SINK_RECORD, "trace", -1);
  char err[256];
  struct tap_ring *r = tap_ring_new (&cfg, quiet_log, err, sizeof err);
  uint8_t *data = malloc (3 * TAP_MAX_PAYLOAD);
  struct tap_stats st;
  uint64_t expect = 1;
  double t0;

  (void) state;
  assert_non_null (r);
  assert_int_equal (tap_ring_start (r), 0);
  memset (data, 7, 3 * TAP_MAX_PAYLOAD);
  tap_ring_put (r, TAP_DEFER_OFF, TAP_WRITE, 0, 0, 3 * TAP_MAX_PAYLOAD, data);
  tap_ring_put (r, TAP_DEFER_OFF, TAP_FLUSH, 0, 0, 0, NULL);
  tap_ring_put (r, TAP_DEFER_OFF, TAP_ZERO, TAP_F_MAY_TRIM, 512, 1024, NULL);
  tap_ring_get_stats (r, &st);
  assert_int_equal (st.records, 5);       /* the write became 3 records */
  /* Shutdown does not sit out tap-drain when everything is written. */
  t0 = now ();
  tap_ring_free (r);
  assert_true (now () - t0 < cfg.drain_ms / 2000.0);
  assert_int_equal (tap_read_file (cfg.path, count_item, &expect, err,
                                   sizeof err), 0);
  /* 5 records and the end record. */
  assert_int_equal (expect, 7);
  free (data);
}

static void
bad_record_path_fails_early (void **state)
{
  struct tap_config cfg = config (TAP_SINK_RECORD, "no/such/dir/trace", -1);
  char err[256];

  (void) state;
  assert_null (tap_ring_new (&cfg, quiet_log, err, sizeof err));
  assert_non_null (strstr (err, "cannot open trace file"));
}

static void
drop_reports_exact_range (void **state)
{
  struct tap_config cfg = config (TAP_SINK_UNIX, "drop.sock", -1);
  char err[256];
  struct tap_ring *r = tap_ring_new (&cfg, quiet_log, err, sizeof err);
  struct consumer *c = consumer_new (true);
  uint8_t *data = malloc (TAP_MAX_PAYLOAD);
  struct tap_stats st;

  (void) state;
  memset (data, 1, TAP_MAX_PAYLOAD);
  assert_int_equal (tap_ring_start (r), 0);
  /* Nobody listens: four maximal records fill the buffer, the next
   * four are lost.
   */
  for (int i = 0; i < 8; i++)
    tap_ring_put (r, TAP_DEFER_OFF, TAP_WRITE, 0, i * (uint64_t) TAP_MAX_PAYLOAD,
                  TAP_MAX_PAYLOAD, data);
  tap_ring_get_stats (r, &st);
  assert_int_equal (st.records, 4);
  assert_int_equal (st.dropped, 4);
  consumer_start (c, cfg.path);
  /* seqs 1-4 records, 5-8 lost, 9 the overflow record. */
  wait_expected (c, 10);
  assert_int_equal (c->seq.lost, 4);
  tap_ring_put (r, TAP_DEFER_OFF, TAP_FLUSH, 0, 0, 0, NULL);
  wait_expected (c, 11);
  tap_ring_get_stats (r, &st);
  assert_int_equal (st.overflows, 1);
  tap_ring_free (r);
  consumer_join (c);
  assert_int_equal (c->fresh, 7);       /* 5, overflow, end */
  assert_true (c->seq.ended);
  consumer_free (c);
  free (data);
}

static void
block_policy_is_bounded (void **state)
{
  struct tap_config cfg = config (TAP_SINK_UNIX, "block.sock", 300);
  char err[256];
  struct tap_ring *r;
  uint8_t *data = calloc (1, TAP_MAX_PAYLOAD);
  struct tap_stats st;
  double t0, dt;

  (void) state;
  cfg.drain_ms = 0;           /* nobody will ever listen */
  r = tap_ring_new (&cfg, quiet_log, err, sizeof err);
  assert_int_equal (tap_ring_start (r), 0);
  for (int i = 0; i < 4; i++)
    tap_ring_put (r, TAP_DEFER_OFF, TAP_WRITE, 0, 0, TAP_MAX_PAYLOAD, data);
  t0 = now ();
  tap_ring_put (r, TAP_DEFER_OFF, TAP_WRITE, 0, 0, TAP_MAX_PAYLOAD, data);
  dt = now () - t0;
  assert_true (dt >= 0.29);
  assert_true (dt < 5);
  tap_ring_get_stats (r, &st);
  assert_int_equal (st.dropped, 1);
  tap_ring_free (r);
  free (data);
}

static void *
late_consumer (void *arg)
{
  usleep (200000);
  consumer_start (arg, ((struct consumer *) arg)->path);
  return NULL;
}

static void
block_policy_waits_for_consumer (void **state)
{
  struct tap_config cfg = config (TAP_SINK_UNIX, "wait.sock", 20000);
  char err[256];
  struct tap_ring *r = tap_ring_new (&cfg, quiet_log, err, sizeof err);
  struct consumer *c = consumer_new (true);
  uint8_t *data = malloc (TAP_MAX_PAYLOAD);
  struct tap_stats st;
  pthread_t th;

  (void) state;
  strcpy (c->path, cfg.path);
  assert_int_equal (tap_ring_start (r), 0);
  pthread_create (&th, NULL, late_consumer, c);
  /* Three buffers' worth: only possible if the consumer drains it. */
  for (unsigned i = 0; i < 12; i++) {
    memset (data, i, TAP_MAX_PAYLOAD);
    tap_ring_put (r, TAP_DEFER_OFF, TAP_WRITE, 0, i * (uint64_t) TAP_MAX_PAYLOAD,
                  TAP_MAX_PAYLOAD, data);
  }
  tap_ring_get_stats (r, &st);
  assert_int_equal (st.dropped, 0);
  pthread_join (th, NULL);
  wait_expected (c, 13);
  tap_ring_free (r);
  consumer_join (c);
  for (unsigned i = 0; i < 12; i++)
    assert_int_equal (c->image[i * (uint64_t) TAP_MAX_PAYLOAD + 77], i);
  consumer_free (c);
  free (data);
}

static void
reconnect_resends_unacknowledged (void **state)
{
  struct tap_config cfg = config (TAP_SINK_UNIX, "resend.sock", -1);
  char err[256];
  struct tap_ring *r = tap_ring_new (&cfg, quiet_log, err, sizeof err);
  struct consumer *c = consumer_new (false);
  uint8_t data[4096];

  (void) state;
  /* First consumer: reads 3 records, never acknowledges, dies. */
  c->close_after = 3;
  consumer_start (c, cfg.path);
  assert_int_equal (tap_ring_start (r), 0);
  for (unsigned i = 0; i < 10; i++) {
    memset (data, 'a' + i, sizeof data);
    tap_ring_put (r, TAP_DEFER_OFF, TAP_WRITE, 0, i * 4096, sizeof data, data);
  }
  consumer_join (c);
  /* Second consumer (same accounting): gets 1-3 again, then 4-10. */
  c->close_after = 0;
  c->ack = true;
  consumer_start (c, cfg.path);
  wait_expected (c, 11);
  tap_ring_free (r);
  consumer_join (c);
  assert_int_equal (c->fresh, 11);      /* 10 and the end record */
  assert_int_equal (c->dups, 3);
  assert_int_equal (c->seq.lost, 0);
  for (unsigned i = 0; i < 10; i++)
    assert_int_equal (c->image[i * 4096 + 100], 'a' + i);
  consumer_free (c);
}

/* Hundreds of doorbells pile up while the consumer looks away; it must
 * read them all, not take a full buffer for the plugin leaving.
 */
static void
many_doorbells_at_once (void **state)
{
  struct tap_config cfg = config (TAP_SINK_UNIX, "bells.sock", -1);
  char err[256];
  struct tap_ring *r = tap_ring_new (&cfg, quiet_log, err, sizeof err);
  struct consumer *c = consumer_new (true);
  uint8_t data[512];
  unsigned n = 300;

  (void) state;
  c->delay_ms = 500;
  consumer_start (c, cfg.path);
  assert_int_equal (tap_ring_start (r), 0);
  for (unsigned i = 0; i < n; i++) {
    memset (data, i, sizeof data);
    tap_ring_put (r, TAP_DEFER_OFF, TAP_WRITE, 0, i * 512, sizeof data, data);
    usleep (500);             /* let the sender ring once per record */
  }
  wait_expected (c, n + 1);
  tap_ring_free (r);
  consumer_join (c);
  assert_true (c->seq.ended);
  assert_int_equal (c->image[299 * 512], 299 & 0xff);
  consumer_free (c);
}

/* Request threads copy payloads outside the ring's lock: a consumer must
 * still never see a record before its payload is complete.  Every
 * payload carries its generation in its first 8 bytes and is a function
 * of it, so a torn copy shows.
 */
#define WRITERS 8
#define REGION (DISK / WRITERS)

struct writer {
  struct tap_ring *r;
  unsigned id;
  uint8_t *model;
};

static uint8_t
pattern (uint64_t gen, uint64_t j)
{
  return (uint8_t) (gen * 31 + j * 7 + (j >> 9));
}

static void *
writer_main (void *arg)
{
  struct writer *w = arg;
  uint8_t *buf = malloc (65536);
  uint64_t x = 1 + w->id;

  for (uint64_t gen = 1; gen <= 400; gen++) {
    uint64_t len, off;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    len = 8 + x % (65536 - 8);
    off = w->id * (uint64_t) REGION + (x >> 20) % (REGION - len);
    memcpy (buf, &gen, 8);
    for (uint64_t j = 8; j < len; j++)
      buf[j] = pattern (gen, j);
    memcpy (w->model + off, buf, len);
    tap_ring_put (w->r, TAP_DEFER_OFF, TAP_WRITE, 0, off, len, buf);
  }
  free (buf);
  return NULL;
}

static bool torn;

static void
check_payload (const struct tap_item *it)
{
  uint64_t gen;

  if (it->rec.type != TAP_WRITE)
    return;
  memcpy (&gen, it->payload, 8);
  for (uint64_t j = 8; j < it->rec.length; j++)
    if (it->payload[j] != pattern (gen, j))
      torn = true;
}

static void
parallel_writers_never_torn (void **state)
{
  struct tap_config cfg = config (TAP_SINK_UNIX, "par.sock", 30000);
  char err[256];
  struct tap_ring *r = tap_ring_new (&cfg, quiet_log, err, sizeof err);
  struct consumer *c = consumer_new (true);
  uint8_t *model = calloc (1, DISK);
  struct writer w[WRITERS];
  pthread_t th[WRITERS];

  (void) state;
  c->check = check_payload;
  consumer_start (c, cfg.path);
  assert_int_equal (tap_ring_start (r), 0);
  for (unsigned i = 0; i < WRITERS; i++) {
    w[i] = (struct writer) { .r = r, .id = i, .model = model };
    pthread_create (&th[i], NULL, writer_main, &w[i]);
  }
  for (unsigned i = 0; i < WRITERS; i++)
    pthread_join (th[i], NULL);
  wait_expected (c, WRITERS * 400 + 1);
  tap_ring_free (r);
  consumer_join (c);
  assert_false (torn);
  assert_int_equal (c->seq.lost, 0);
  assert_memory_equal (c->image, model, DISK);
  consumer_free (c);
  free (model);
}

static void
wraparound_integrity (void **state)
{
  struct tap_config cfg = config (TAP_SINK_UNIX, "wrap.sock", 30000);
  char err[256];
  struct tap_ring *r = tap_ring_new (&cfg, quiet_log, err, sizeof err);
  struct consumer *c = consumer_new (true);
  uint8_t *model = calloc (1, DISK), *buf = malloc (300000);
  uint64_t x = 88172645463325252ull;
  unsigned n = 400;

  (void) state;
  consumer_start (c, cfg.path);
  assert_int_equal (tap_ring_start (r), 0);
  for (unsigned i = 0; i < n; i++) {
    uint64_t len, off;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    len = 1 + x % 300000;
    off = (x >> 20) % (DISK - len);
    for (uint64_t j = 0; j < len; j++)
      buf[j] = (uint8_t) (x >> (j % 56)) + j;
    memcpy (model + off, buf, len);
    if (i % 17 == 0) {
      memset (model + off, 0, len);
      tap_ring_put (r, TAP_DEFER_OFF, TAP_ZERO, 0, off, len, NULL);
    }
    else
      tap_ring_put (r, TAP_DEFER_OFF, TAP_WRITE, 0, off, len, buf);
  }
  wait_expected (c, n + 1);
  tap_ring_free (r);
  consumer_join (c);
  assert_int_equal (c->seq.lost, 0);
  assert_memory_equal (c->image, model, DISK);
  consumer_free (c);
  free (model);
  free (buf);
}


/* The sender sleeps without a timeout when it has nothing to do, and
 * a request thread wakes it only then: a wake-up lost in the race
 * between the two would leave a record unannounced for good.  So each
 * record here must reach the consumer on its own, and the next one is
 * put about when the sender, a tick after its doorbell, decides
 * whether to sleep (records of every size: a large one is still being
 * copied when the sender looks).
 */
static void
idle_sender_wakes_for_every_record (void **state)
{
  struct tap_config cfg = config (TAP_SINK_UNIX, "idle.sock", 30000);
  char err[256];
  struct tap_ring *r = tap_ring_new (&cfg, quiet_log, err, sizeof err);
  struct consumer *c = consumer_new (true);
  uint8_t *data = calloc (1, TAP_MAX_PAYLOAD);
  uint64_t x = 2463534242u;

  (void) state;
  consumer_start (c, cfg.path);
  assert_int_equal (tap_ring_start (r), 0);
  for (unsigned i = 1; i <= 1000; i++) {
    double deadline = now () + 10;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    if (i % 5 == 0)
      tap_ring_put (r, TAP_DEFER_OFF, TAP_FLUSH, 0, 0, 0, NULL);
    else
      tap_ring_put (r, TAP_DEFER_OFF, TAP_WRITE, 0, 0, 1 + x % (i % 3 ? 4096 : TAP_MAX_PAYLOAD),
                    data);
    while (consumer_expected (c) < i + 1) {
      assert_true (now () < deadline);
      usleep (20);
    }
    usleep (600 + (x >> 32) % 800);
  }
  tap_ring_free (r);
  consumer_join (c);
  assert_true (c->seq.ended);
  consumer_free (c);
  free (data);
}

/* Many request threads against a small ring and a consumer that naps:
 * each payload names its writer and that writer's generation and is a
 * function of both, so a consumer sees a torn record (published before
 * its copy ended), a reordered one (a writer's generations must arrive
 * in the order it put them) and a lost one (with the block policy,
 * every generation must arrive, each exactly once).
 */
#define STAMPERS 16
#define STAMPS 150

struct stamper {
  struct tap_ring *r;
  unsigned id;
};

static uint64_t next_gen[STAMPERS];
static bool stamp_broken, stamp_gap;

static uint8_t
stamp_byte (uint64_t id, uint64_t gen, uint64_t j)
{
  return (uint8_t) (id * 131 + gen * 31 + j * 7 + (j >> 11));
}

static void *
stamper_main (void *arg)
{
  struct stamper *w = arg;
  uint8_t *buf = malloc (200000);
  uint64_t x = 0x9e3779b97f4a7c15ull * (w->id + 1), id = w->id;

  for (uint64_t gen = 1; gen <= STAMPS; gen++) {
    uint64_t len;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    len = 16 + x % (200000 - 16);
    memcpy (buf, &id, 8);
    memcpy (buf + 8, &gen, 8);
    for (uint64_t j = 16; j < len; j++)
      buf[j] = stamp_byte (id, gen, j);
    tap_ring_put (w->r, TAP_DEFER_OFF, TAP_WRITE, 0, (x >> 24) % (DISK - len), len, buf);
    if (gen % 16 == 0)
      tap_ring_put (w->r, TAP_DEFER_OFF, TAP_FLUSH, 0, 0, 0, NULL);
  }
  free (buf);
  return NULL;
}

/* The consumer's check: called under its lock, one record at a time. */
static void
check_stamp (const struct tap_item *it)
{
  uint64_t id, gen;

  if (it->rec.type != TAP_WRITE)
    return;
  memcpy (&id, it->payload, 8);
  memcpy (&gen, it->payload + 8, 8);
  if (id >= STAMPERS || gen <= next_gen[id] - 1) {
    stamp_broken = true;
    return;
  }
  if (gen != next_gen[id])
    stamp_gap = true;
  next_gen[id] = gen + 1;
  for (uint64_t j = 16; j < it->rec.length; j++)
    if (it->payload[j] != stamp_byte (id, gen, j))
      stamp_broken = true;
}

/* Runs the stampers against a consumer that naps up to nap_us after
 * each batch; returns the ring's statistics.
 */
static struct tap_stats
run_stampers (struct consumer *c, const char *sock, int block_ms,
              unsigned nap_us)
{
  struct tap_config cfg = config (TAP_SINK_UNIX, sock, block_ms);
  char err[256];
  struct tap_ring *r = tap_ring_new (&cfg, quiet_log, err, sizeof err);
  struct stamper w[STAMPERS];
  pthread_t th[STAMPERS];
  struct tap_stats st;

  for (unsigned i = 0; i < STAMPERS; i++)
    next_gen[i] = 1;
  stamp_broken = stamp_gap = false;
  c->check = check_stamp;
  c->nap_us = nap_us;
  consumer_start (c, cfg.path);
  assert_int_equal (tap_ring_start (r), 0);
  for (unsigned i = 0; i < STAMPERS; i++) {
    w[i] = (struct stamper) { .r = r, .id = i };
    pthread_create (&th[i], NULL, stamper_main, &w[i]);
  }
  for (unsigned i = 0; i < STAMPERS; i++)
    pthread_join (th[i], NULL);
  tap_ring_get_stats (r, &st);
  /* Every seq handed out, the end record included, reaches the
   * consumer: as a record or inside an overflow record's range.
   */
  wait_expected (c, st.records + st.dropped + 1);
  /* The last loss may have been reported (by the sender, once space
   * came free) only after the first look.
   */
  tap_ring_get_stats (r, &st);
  tap_ring_free (r);
  consumer_join (c);
  assert_true (c->seq.ended);
  assert_false (stamp_broken);
  return st;
}

static void
many_writers_slow_consumer_lose_nothing (void **state)
{
  struct consumer *c = consumer_new (true);
  struct tap_stats st;

  (void) state;
  st = run_stampers (c, "stamp-block.sock", 30000, 3000);
  assert_int_equal (st.dropped, 0);
  assert_int_equal (c->seq.lost, 0);
  assert_false (stamp_gap);
  for (unsigned i = 0; i < STAMPERS; i++)
    assert_int_equal (next_gen[i], STAMPS + 1);
  assert_int_equal (c->fresh, st.records + 1);
  consumer_free (c);
}

/* The same with the drop policy: the consumer is too slow (and stalls
 * at first, so that even a starved machine fills the ring), so records
 * are lost, but only ever as ranges an overflow record reports (the
 * consumer's accounting fails on a silent gap), never torn, never out
 * of order.
 */
static void
many_writers_slow_consumer_drop_accounted (void **state)
{
  struct consumer *c = consumer_new (true);
  struct tap_stats st;

  (void) state;
  c->delay_ms = 300;
  st = run_stampers (c, "stamp-drop.sock", -1, 20000);
  assert_true (st.dropped > 0);
  assert_true (st.overflows > 0);
  assert_int_equal (c->seq.lost, st.dropped);
  /* Besides the records and the end record, only overflow records. */
  assert_true (c->fresh >= st.records + st.overflows + 1);
  consumer_free (c);
}

/* Deferred payloads (tap-defer.h): writers write a real file and put
 * records whose large payloads stay in it, while a consumer that
 * starts late reads them from the file.  Writes land again and again
 * on ranges the consumer has not read yet, so the plugin must keep
 * their bytes first.  Every 512-byte sector carries its write's id and
 * its index in the write, so a record that shows any other write's
 * bytes (a later one's, the bug this guards against) is caught even
 * when the later write covers it exactly: ids are unique per record.
 */
#define DWRITERS 4
#define DWRITES 150
#define DREGION (2u << 20)

struct dwrite { uint64_t off, len; bool zero, seen; };
static struct dwrite dwrites[DWRITERS * DWRITES + 1];
static atomic_uint dnext_id;
static int dfd;
static bool dbroken;

struct dwriter { struct tap_ring *r; unsigned id; bool shared; };

/* The plugin keeps a record by reading it back from the storage with
 * pread, without its lock.  This test's pread, which the ring's code
 * linked into it calls, can make that slow in the writer threads, so
 * that other writers come to overwrite a record while it is being
 * kept: they must wait for it.
 */
static __thread unsigned slow_pread_us;

ssize_t
pread (int fd, void *buf, size_t n, off_t off)
{
  if (fail_pread) {
    errno = EIO;
    return -1;
  }
  if (slow_pread_us)
    usleep (slow_pread_us);
  return syscall (SYS_pread64, fd, buf, n, off);
}
static unsigned dslow_us;

static uint8_t
dfill (uint64_t id, uint64_t j)
{
  return (uint8_t) (id * 13 + j * 5 + 1);
}

static void *
dwriter_main (void *arg)
{
  struct dwriter *w = arg;
  uint8_t *buf = malloc (TAP_MAX_PAYLOAD);
  uint64_t x = 7 + w->id * 1000003;
  uint64_t base = w->shared ? 0 : w->id * (uint64_t) DREGION;

  slow_pread_us = dslow_us;

  for (unsigned k = 0; k < DWRITES; k++) {
    uint64_t id = atomic_fetch_add (&dnext_id, 1) + 1;
    uint64_t len, off;
    int t;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    /* Mostly deferred sizes; some small (copied) writes and zeroes. */
    len = (x % 5 == 0 ? 1 + x % 32 : 256 + x % 1793) * 512u;
    if (len > TAP_MAX_PAYLOAD)
      len = TAP_MAX_PAYLOAD;
    off = base + ((x >> 24) % ((DREGION - len) / 512)) * 512;
    dwrites[id] = (struct dwrite) { off, len, x % 9 == 0, false };
    t = tap_ring_begin (w->r, off, len);
    if (dwrites[id].zero) {
      memset (buf, 0, len);
      assert_int_equal (pwrite (dfd, buf, len, off), (ssize_t) len);
      tap_ring_put (w->r, t, TAP_ZERO, 0, off, len, NULL);
    }
    else {
      for (uint64_t s = 0; s < len; s += 512) {
        uint64_t idx = s / 512;
        for (uint64_t j = 16; j < 512; j++)
          buf[s + j] = dfill (id, s + j);
        memcpy (buf + s, &id, 8);
        memcpy (buf + s + 8, &idx, 8);
      }
      assert_int_equal (pwrite (dfd, buf, len, off), (ssize_t) len);
      tap_ring_put (w->r, t, TAP_WRITE, 0, off, len, buf);
    }
    tap_ring_end (w->r, t);
  }
  free (buf);
  return NULL;
}

/* The record's bytes are one write's, all of it, and no other record
 * had that write's bytes.
 */
static void
check_dwrite (const struct tap_item *it)
{
  uint64_t id, idx;

  if (it->rec.type != TAP_WRITE)
    return;
  assert_non_null (it->payload);
  assert_false (it->rec.flags & TAP_F_DEFERRED);
  memcpy (&id, it->payload, 8);
  if (id == 0 || id > DWRITERS * DWRITES || dwrites[id].seen ||
      dwrites[id].off != it->rec.offset || dwrites[id].len != it->rec.length) {
    dbroken = true;
    return;
  }
  dwrites[id].seen = true;
  for (uint64_t s = 0; s < it->rec.length; s += 512) {
    uint64_t sid, sidx;
    memcpy (&sid, it->payload + s, 8);
    memcpy (&sidx, it->payload + s + 8, 8);
    idx = s / 512;
    if (sid != id || sidx != idx)
      dbroken = true;
    for (uint64_t j = 16; j < 512; j++)
      if (it->payload[s + j] != dfill (id, s + j))
        dbroken = true;
  }
}

static struct tap_stats
run_dwriters (bool shared, uint8_t *file_image)
{
  struct tap_config cfg = config (TAP_SINK_UNIX, shared ? "dshared.sock"
                                                        : "down.sock", 30000);
  char path[128], err[256];
  struct consumer *c = consumer_new (true);
  struct dwriter w[DWRITERS];
  pthread_t th[DWRITERS];
  struct tap_ring *r;
  struct tap_stats st;

  snprintf (path, sizeof path, "%s/defer.img", dir);
  dfd = open (path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  assert_true (dfd >= 0);
  assert_int_equal (ftruncate (dfd, DISK), 0);
  cfg.source_fd = open (path, O_RDONLY);
  /* Slow keeps run with the smallest ring, whose space comes round
   * again while a record is being kept.
   */
  cfg.buffer_bytes = dslow_us ? TAP_MIN_BUFFER : 32u << 20;
  r = tap_ring_new (&cfg, quiet_log, err, sizeof err);
  assert_non_null (r);
  memset (dwrites, 0, sizeof dwrites);
  atomic_store (&dnext_id, 0);
  dbroken = false;
  c->check = check_dwrite;
  c->delay_ms = 300;          /* records pile up unread at first */
  c->nap_us = 2000;
  consumer_start (c, cfg.path);
  assert_int_equal (tap_ring_start (r), 0);
  for (unsigned i = 0; i < DWRITERS; i++) {
    w[i] = (struct dwriter) { .r = r, .id = i, .shared = shared };
    pthread_create (&th[i], NULL, dwriter_main, &w[i]);
  }
  for (unsigned i = 0; i < DWRITERS; i++)
    pthread_join (th[i], NULL);
  tap_ring_get_stats (r, &st);
  wait_expected (c, st.records + 1);
  tap_ring_free (r);
  consumer_join (c);
  assert_false (dbroken);
  assert_int_equal (c->seq.lost, 0);
  assert_int_equal (pread (dfd, file_image, DISK, 0), DISK);
  if (!shared)
    assert_memory_equal (c->image, file_image, DISK);
  close (dfd);
  consumer_free (c);
  return st;
}

static void
deferred_payloads_kept_before_overwrite (void **state)
{
  uint8_t *img = malloc (DISK);
  struct tap_stats st;

  (void) state;
  st = run_dwriters (false, img);
  assert_true (st.deferred > 0);
  assert_true (st.kept > 0);
  assert_int_equal (st.keep_failed, 0);
  free (img);
}

/* Writers on the same range at once: a write that another one in
 * flight overlaps is copied, never deferred with the other's bytes.
 */
/* Keeping takes 2 ms here: writers overlapping a record being kept
 * wait until it is kept, and its space, which the smallest ring soon
 * needs again, is not reused meanwhile.
 */
static void
deferred_payloads_slow_keeps (void **state)
{
  uint8_t *img = malloc (DISK);
  struct tap_stats st;

  (void) state;
  dslow_us = 2000;
  st = run_dwriters (true, img);
  dslow_us = 0;
  assert_true (st.kept > 0);
  assert_int_equal (st.keep_failed, 0);
  free (img);
}

/* A deferred write whose bytes cannot be read back, by the plugin
 * before an overwrite or by the consumer, arrives as a write with a
 * lost payload, counted as lost, and the stream goes on: an error
 * would end the connection, and the same record the next one.
 */
#define LOST_SEQS 8
static unsigned lost_flags[LOST_SEQS];
static const uint8_t *lost_payload[LOST_SEQS];
static uint8_t lost_byte[LOST_SEQS];

static void
check_lost (const struct tap_item *it)
{
  if (it->rec.seq >= LOST_SEQS)
    return;
  lost_flags[it->rec.seq] = it->rec.flags;
  lost_payload[it->rec.seq] = it->payload;
  lost_byte[it->rec.seq] = it->payload ? it->payload[it->rec.length - 1] : 0;
}

static void
write_through (struct tap_ring *r, int fd, uint64_t off, uint64_t len,
               uint8_t fill, bool fail_keep)
{
  uint8_t *buf = malloc (len);
  int t;

  memset (buf, fill, len);
  fail_pread = fail_keep;
  t = tap_ring_begin (r, off, len);
  fail_pread = false;
  assert_int_equal (pwrite (fd, buf, len, off), (ssize_t) len);
  tap_ring_put (r, t, TAP_WRITE, 0, off, len, buf);
  tap_ring_end (r, t);
  free (buf);
}

/* Writes seq 1 (deferred), seq 2 and seq 3 (copied) and checks that
 * seq 1 arrives lost, and the stream ends as it should all the same;
 * keep_failed: the plugin's keeps that failed.
 */
static void
run_lost (bool consumer_fails, uint64_t keep_failed)
{
  struct tap_config cfg = config (TAP_SINK_UNIX, "lost.sock", 30000);
  struct consumer *c = consumer_new (true);
  char path[128], err[256];
  struct tap_ring *r;
  struct tap_stats st;
  int fd;

  snprintf (path, sizeof path, "%s/lost.img", dir);
  fd = open (path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  assert_int_equal (ftruncate (fd, DISK), 0);
  cfg.source_fd = open (path, O_RDONLY);
  cfg.buffer_bytes = 32u << 20;
  r = tap_ring_new (&cfg, quiet_log, err, sizeof err);
  assert_non_null (r);
  memset (lost_flags, 0, sizeof lost_flags);
  memset (lost_payload, 0, sizeof lost_payload);
  c->check = check_lost;
  c->delay_ms = 300;          /* nothing is read before the overwrite */
  c->fail_reads = consumer_fails;
  consumer_start (c, cfg.path);
  assert_int_equal (tap_ring_start (r), 0);
  write_through (r, fd, 0, 256u << 10, 0xa1, false);        /* seq 1, deferred */
  /* seq 2: over seq 1, unless the consumer is to find seq 1 in the
   * storage (a kept record needs no read).
   */
  write_through (r, fd, consumer_fails ? 512u << 10 : 4096, 4096, 0xb2,
                 !consumer_fails);
  write_through (r, fd, 1u << 20, 4096, 0xc3, false);       /* seq 3, copied */
  tap_ring_get_stats (r, &st);
  wait_expected (c, st.records + 1);
  tap_ring_free (r);
  consumer_join (c);
  close (fd);
  assert_int_equal (st.deferred, 1);
  assert_int_equal (st.keep_failed, keep_failed);
  assert_true (c->seq.ended);
  assert_int_equal (c->seq.lost, 1);
  assert_true (lost_flags[1] & TAP_F_PAYLOAD_LOST);
  assert_null (lost_payload[1]);
  assert_int_equal (lost_byte[3], 0xc3);
  consumer_free (c);
}

static void
lost_payloads_are_reported_not_fatal (void **state)
{
  (void) state;
  /* The plugin cannot keep seq 1 before seq 2 overwrites it. */
  run_lost (false, 1);
  assert_false (lost_flags[2] & TAP_F_PAYLOAD_LOST);
  assert_int_equal (lost_byte[2], 0xb2);
  /* The plugin kept nothing, but the consumer cannot read seq 1. */
  run_lost (true, 0);
}

/* Deferred payloads the consumer read are kept only until they are
 * acknowledged, and their memory is used again: a consumer that keeps
 * up holds little of it however much goes through (here three rings'
 * worth, one write at a time), not a whole ring's worth.
 */
static void
shadow_memory_follows_the_unacknowledged (void **state)
{
  struct tap_config cfg = config (TAP_SINK_UNIX, "shadow.sock", 30000);
  const uint64_t len = 256u << 10;
  struct consumer *c = consumer_new (true);
  char path[128], err[256];
  uint8_t *file = malloc (DISK);
  struct tap_ring *r;
  struct tap_stats st;
  unsigned n;
  int fd;

  (void) state;
  snprintf (path, sizeof path, "%s/shadow.img", dir);
  fd = open (path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  assert_int_equal (ftruncate (fd, DISK), 0);
  cfg.source_fd = open (path, O_RDONLY);
  r = tap_ring_new (&cfg, quiet_log, err, sizeof err);
  assert_non_null (r);
  n = 3 * cfg.buffer_bytes / len;
  assert_true (n * len <= 2 * DISK);
  consumer_start (c, cfg.path);
  assert_int_equal (tap_ring_start (r), 0);
  for (unsigned i = 0; i < n; i++) {
    write_through (r, fd, i * len % DISK, len, (uint8_t) (i + 1), false);
    wait_expected (c, i + 2);
  }
  tap_ring_get_stats (r, &st);
  tap_ring_free (r);
  consumer_join (c);
  assert_int_equal (st.deferred, n);
  assert_int_equal (c->seq.lost, 0);
  assert_int_equal (pread (fd, file, DISK, 0), DISK);
  assert_memory_equal (c->image, file, DISK);
  assert_true (c->shadow_resident > 0);
  assert_true (c->shadow_resident <= 4 * len);
  close (fd);
  free (file);
  consumer_free (c);
}

/* The keeping rules one at a time, with a keep made to take 300 ms:
 * a write over a record being kept, and the release of its space, both
 * wait until its bytes are in place.
 */
struct slow_keeper { struct tap_defer *d; };

static void *
slow_keeper_main (void *arg)
{
  struct slow_keeper *k = arg;
  int t;

  slow_pread_us = 300000;
  t = tap_defer_begin (k->d, 4096, 4096);     /* overlaps the record */
  tap_defer_end (k->d, t);
  return NULL;
}

static void
keeping_is_waited_for (void **state)
{
  const size_t cap = 4u << 20, len = 256u << 10;
  uint8_t *ring = calloc (2, cap), *data = malloc (len);
  _Atomic uint32_t *word = (_Atomic uint32_t *) (ring + 4);
  char path[128];
  struct tap_defer *d = aligned_alloc (64, (sizeof *d + 63) / 64 * 64);
  struct slow_keeper k = { d };
  pthread_t th;
  int fd, t;

  (void) state;
  snprintf (path, sizeof path, "%s/keep.img", dir);
  fd = open (path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  memset (data, 0x5c, len);
  assert_int_equal (pwrite (fd, data, len, 0), (ssize_t) len);
  for (int round = 0; round < 2; round++) {
    memset (ring, 0, 2 * cap);
    tap_defer_init (d, open (path, O_RDONLY), ring, cap, quiet_log);
    t = tap_defer_begin (d, 0, len);
    assert_true (tap_defer_try (d, t, 0, 0, len));
    tap_defer_end (d, t);
    pthread_create (&th, NULL, slow_keeper_main, &k);
    usleep (50000);
    if (round == 0) {
      /* Another write over the record: it must find it kept. */
      t = tap_defer_begin (d, 0, 512);
      assert_int_equal (atomic_load (word), TAP_PAYLOAD_IN_RING);
      tap_defer_end (d, t);
    }
    else {
      /* The consumer acknowledged it: its space may be reused only
       * once the keep has written it.
       */
      tap_defer_release (d, cap);
      assert_int_equal (atomic_load (word), TAP_PAYLOAD_IN_RING);
    }
    pthread_join (th, NULL);
    assert_memory_equal (ring + TAP_RECORD_HDR, data, len);
    tap_defer_destroy (d);
  }
  close (fd);
  free (d);
  free (data);
  free (ring);
}

static void
deferred_payloads_with_racing_writers (void **state)
{
  uint8_t *img = malloc (DISK);
  struct tap_stats st;

  (void) state;
  st = run_dwriters (true, img);
  assert_true (st.deferred > 0);
  assert_int_equal (st.keep_failed, 0);
  free (img);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (record_sink_splits_and_orders),
    cmocka_unit_test (bad_record_path_fails_early),
    cmocka_unit_test (drop_reports_exact_range),
    cmocka_unit_test (block_policy_is_bounded),
    cmocka_unit_test (block_policy_waits_for_consumer),
    cmocka_unit_test (reconnect_resends_unacknowledged),
    cmocka_unit_test (many_doorbells_at_once),
    cmocka_unit_test (parallel_writers_never_torn),
    cmocka_unit_test (wraparound_integrity),
    cmocka_unit_test (idle_sender_wakes_for_every_record),
    cmocka_unit_test (many_writers_slow_consumer_lose_nothing),
    cmocka_unit_test (many_writers_slow_consumer_drop_accounted),
    cmocka_unit_test (deferred_payloads_kept_before_overwrite),
    cmocka_unit_test (deferred_payloads_with_racing_writers),
    cmocka_unit_test (deferred_payloads_slow_keeps),
    cmocka_unit_test (keeping_is_waited_for),
    cmocka_unit_test (lost_payloads_are_reported_not_fatal),
    cmocka_unit_test (shadow_memory_follows_the_unacknowledged),
  };
  int rc;

  snprintf (dir, sizeof dir, "/tmp/bw-ring.XXXXXX");
  if (mkdtemp (dir) == NULL)
    return 1;
  rc = cmocka_run_group_tests (tests, NULL, NULL);
  {
    char cmd[128];
    snprintf (cmd, sizeof cmd, "rm -rf %s", dir);
    if (system (cmd) != 0)
      fprintf (stderr, "could not remove %s\n", dir);
  }
  return rc;
}
