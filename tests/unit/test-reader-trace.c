/* The replay's view (disk/reader-trace.h) reads back what was written to
 * it, whether the bytes went to the scratch file or stayed in the trace:
 * random writes (announced ones from the trace, others, zeroes,
 * overlapping each other) and reads, checked against a plain copy in
 * memory.  And large announced writes really are left in the trace.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "disk/reader-trace.h"

#define DISK (2u << 20)
#define TRACE (4u << 20)

struct files {
  char dir[64], disk[80], trace[80];
  uint8_t *model, *trace_bytes;
};

static void
fill_random (uint8_t *p, size_t n)
{
  for (size_t i = 0; i < n; i++)
    p[i] = rand ();
}

static void
write_file (const char *path, const uint8_t *p, size_t n)
{
  FILE *fp = fopen (path, "w");

  assert_non_null (fp);
  assert_int_equal (fwrite (p, 1, n, fp), n);
  assert_int_equal (fclose (fp), 0);
}

static int
setup (void **state)
{
  struct files *f = calloc (1, sizeof *f);

  strcpy (f->dir, "/tmp/test-reader-trace.XXXXXX");
  assert_non_null (mkdtemp (f->dir));
  snprintf (f->disk, sizeof f->disk, "%s/disk", f->dir);
  snprintf (f->trace, sizeof f->trace, "%s/trace", f->dir);
  f->model = malloc (DISK);
  f->trace_bytes = malloc (TRACE);
  srand (4242);
  fill_random (f->model, DISK);
  fill_random (f->trace_bytes, TRACE);
  write_file (f->disk, f->model, DISK);
  write_file (f->trace, f->trace_bytes, TRACE);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  struct files *f = *state;

  unlink (f->disk);
  unlink (f->trace);
  rmdir (f->dir);
  free (f->model);
  free (f->trace_bytes);
  free (f);
  return 0;
}

static struct trace_view *
open_view (struct files *f)
{
  char err[256];
  struct bw_reader *scratch = bw_reader_open_file (f->disk, true, err,
                                                   sizeof err);
  struct trace_view *v;

  assert_non_null (scratch);
  v = trace_view_new (scratch, f->trace, err, sizeof err);
  assert_non_null (v);
  return v;
}

static void
check_read (struct bw_reader *d, const uint8_t *model, uint64_t off,
            size_t n)
{
  uint8_t *buf = malloc (n ? n : 1);
  char err[256];

  assert_int_equal (bw_pread (d, buf, n, off, err, sizeof err), 0);
  assert_memory_equal (buf, model + off, n);
  free (buf);
}

static void
matches_a_plain_copy (void **state)
{
  struct files *f = *state;
  struct trace_view *v = open_view (f);
  struct bw_reader *d = trace_view_disk (v);
  uint8_t *other = malloc (300 * 1024);
  char err[256];

  for (int i = 0; i < 4000; i++) {
    int what = rand () % 5;
    /* Lengths from a byte to past REF_MIN, mostly around it. */
    size_t n = 1 + rand () % (rand () % 2 ? 300 * 1024 : 4096);
    uint64_t off = rand () % (DISK - n + 1);

    if (what == 0 || what == 1) {
      /* A record's bytes, announced: they may stay in the trace. */
      uint64_t src = rand () % (TRACE - n + 1);
      trace_view_expect (v, f->trace_bytes + src, n, off, src);
      assert_int_equal (d->pwrite (d, f->trace_bytes + src, n, off, err,
                                   sizeof err), 0);
      memcpy (f->model + off, f->trace_bytes + src, n);
    }
    else if (what == 2) {
      /* Announced, but another write comes: it must not be taken for
       * the announced one.
       */
      uint64_t src = rand () % (TRACE - n + 1);
      trace_view_expect (v, f->trace_bytes + src, n, off ^ 512, src);
      fill_random (other, n);
      assert_int_equal (d->pwrite (d, other, n, off, err, sizeof err), 0);
      memcpy (f->model + off, other, n);
    }
    else
      check_read (d, f->model, off, n);
  }
  check_read (d, f->model, 0, DISK);
  check_read (d, f->model, 0, 0);
  trace_view_free (v);
  free (other);
}

static void
large_writes_stay_in_the_trace (void **state)
{
  struct files *f = *state;
  struct trace_view *v = open_view (f);
  struct bw_reader *d = trace_view_disk (v);
  uint8_t *on_file = malloc (1 << 20);
  const uint8_t *src = f->trace_bytes + 12345;
  char err[256];
  FILE *fp;

  trace_view_expect (v, src, 1 << 20, 65536, 12345);
  assert_int_equal (d->pwrite (d, src, 1 << 20, 65536, err, sizeof err), 0);
  memcpy (f->model + 65536, src, 1 << 20);
  check_read (d, f->model, 0, DISK);
  fp = fopen (f->disk, "r");
  assert_non_null (fp);
  assert_int_equal (fseek (fp, 65536, SEEK_SET), 0);
  assert_int_equal (fread (on_file, 1, 1 << 20, fp), 1 << 20);
  fclose (fp);
  assert_true (memcmp (on_file, src, 1 << 20) != 0);
  trace_view_free (v);
  free (on_file);
}

static void
missing_trace (void **state)
{
  struct files *f = *state;
  char err[256];
  struct bw_reader *scratch = bw_reader_open_file (f->disk, true, err,
                                                   sizeof err);

  assert_non_null (scratch);
  assert_null (trace_view_new (scratch, "/nonexistent/trace", err,
                               sizeof err));
  assert_non_null (strstr (err, "/nonexistent/trace"));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (matches_a_plain_copy, setup, teardown),
    cmocka_unit_test_setup_teardown (large_writes_stay_in_the_trace, setup,
                                     teardown),
    cmocka_unit_test_setup_teardown (missing_trace, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
