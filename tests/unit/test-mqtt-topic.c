/* MQTT topics (docs/events.md, "Topics"): the layout, the escaping of
 * levels, that every topic is one mosquitto accepts and parses back to
 * what made it, odd names, deep and long paths.  libmosquitto is the
 * judge of what a valid topic is.
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

#include <mosquitto.h>

#include "topic.h"

#define DISK "blockwatch/host-1/vm-01/disk-a"

static struct bw_event
file_event (const char *path, size_t len)
{
  return (struct bw_event) { .type = BW_EV_WRITE, .part = 1, .path = path,
                             .path_len = len, .inode = 12 };
}

/* The topic of a path, checked valid, parsed back to that path. */
static char *
topic_of (const char *path, size_t len)
{
  struct bw_event ev = file_event (path, len);
  char *t = bw_topic_event (DISK, &ev);
  struct bw_topic tp;
  int levels = 1;

  assert_non_null (t);
  assert_true (strlen (t) <= BW_TOPIC_MAX_BYTES);
  assert_int_equal (mosquitto_pub_topic_check2 (t, strlen (t)),
                    MOSQ_ERR_SUCCESS);
  for (const char *p = t; (p = strchr (p, '/')); p++)
    levels++;
  assert_true (levels <= BW_TOPIC_MAX_LEVELS);
  assert_int_equal (bw_topic_parse (t, &tp), 0);
  assert_int_equal (tp.kind, BW_TOPIC_FILE);
  assert_string_equal (tp.host, "host-1");
  assert_string_equal (tp.vm, "vm-01");
  assert_string_equal (tp.disk, "disk-a");
  assert_int_equal (tp.part, 1);
  if (!tp.path_cut) {
    assert_int_equal (tp.path_len, len);
    assert_memory_equal (tp.path, path, len);
  }
  else {
    assert_true (tp.path_len < len);
    assert_memory_equal (tp.path, path, tp.path_len);
  }
  bw_topic_free (&tp);
  return t;
}

static void
assert_topic (const char *path, const char *want)
{
  char *t = topic_of (path, strlen (path));

  assert_string_equal (t, want);
  free (t);
}

static void
levels (void **state)
{
  static const struct { const char *in; size_t n; const char *out; } v[] = {
    { "app.log", 7, "app.log" },
    { "sp ace", 6, "sp ace" },
    { "a+b", 3, "a%2Bb" },
    { "#tag", 4, "%23tag" },
    { "50%", 3, "50%25" },
    { "$fs", 3, "%24fs" },
    { "a/b", 3, "a%2Fb" },
    { "caf\xc3\xa9", 5, "caf\xc3\xa9" },
    { "r\xe9sum\xe9", 6, "r%E9sum%E9" },
    { "nul\0x", 5, "nul%00x" },
    { "tab\t", 4, "tab%09" },
    { "", 0, "" },
  };
  static const char *const refused[] = {
    "a+b", "#", "$fs", "%2b", "%41", "%C3%A9", "%", "%2", "%G0", "a\tb",
    "\xff", "a/b",
  };
  size_t len;

  (void) state;
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    char *lv = bw_topic_level (v[i].in, v[i].n), *back;

    assert_string_equal (lv, v[i].out);
    back = bw_topic_unlevel (lv, strlen (lv), &len);
    assert_non_null (back);
    assert_int_equal (len, v[i].n);
    assert_memory_equal (back, v[i].in, len);
    free (back);
    free (lv);
  }
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
    errno = 0;
    assert_null (bw_topic_unlevel (refused[i], strlen (refused[i]), &len));
    assert_int_equal (errno, EINVAL);
  }
}

static void
layout (void **state)
{
  struct bw_event ev = { .type = BW_EV_MOUNT, .part = 1 };
  struct bw_topic tp;
  char *t, *d;

  (void) state;
  assert_topic ("/var/log/app.log", DISK "/1/var/log/app.log");
  assert_topic ("/", DISK "/1/");
  assert_topic ("/a//b", DISK "/1/a//b");
  assert_topic ("/$fs/mount", DISK "/1/%24fs/mount");
  assert_topic ("/x y+z#%$", DISK "/1/x y%2Bz%23%25%24");

  t = bw_topic_event (DISK, &ev);
  assert_string_equal (t, DISK "/1/$fs/mount");
  assert_int_equal (bw_topic_parse (t, &tp), 0);
  assert_int_equal (tp.kind, BW_TOPIC_FS);
  assert_string_equal (tp.type, "mount");
  bw_topic_free (&tp);
  free (t);

  ev = (struct bw_event) { .type = BW_EV_OVERFLOW, .part = 0 };
  t = bw_topic_event (DISK, &ev);
  assert_string_equal (t, DISK "/0/$fs/overflow");
  free (t);

  /* Written data a file lost: on the file's topic, where a subscriber
   * of its directory sees it and who may not see the file does not;
   * the file not named yet: its inode's.  The lost writes of files it
   * does not name: a file system's loss.
   */
  ev = (struct bw_event) {
    .type = BW_EV_OVERFLOW, .part = 1, .lost_writes = 3, .inode = 12,
    .path = "/var/log/app.log", .path_len = strlen ("/var/log/app.log"),
  };
  t = bw_topic_event (DISK, &ev);
  assert_string_equal (t, DISK "/1/var/log/app.log");
  free (t);
  ev.path = NULL;
  t = bw_topic_event (DISK, &ev);
  assert_string_equal (t, DISK "/1/$inode/12");
  free (t);
  ev.inode = 0;
  t = bw_topic_event (DISK, &ev);
  assert_string_equal (t, DISK "/1/$fs/overflow");
  free (t);

  /* A write to an inode with no name left (deleted while open). */
  ev = (struct bw_event) { .type = BW_EV_WRITE, .part = 2, .inode = 4711 };
  t = bw_topic_event (DISK, &ev);
  assert_string_equal (t, DISK "/2/$inode/4711");
  assert_int_equal (bw_topic_parse (t, &tp), 0);
  assert_int_equal (tp.kind, BW_TOPIC_INODE);
  assert_int_equal (tp.inode, 4711);
  bw_topic_free (&tp);
  free (t);

  /* Labels are escaped too: a disk named by its URI. */
  d = bw_topic_disk ("kvm+7", "web#1", "file:/srv/vm/web 1.img");
  assert_string_equal (d, "blockwatch/kvm%2B7/web%231/file:%2Fsrv%2Fvm%2Fweb "
                       "1.img");
  free (d);
  assert_null (bw_topic_disk ("h", "", "d"));
  assert_null (bw_topic_disk ("h", "v", NULL));

  assert_int_equal (bw_topic_parse (DISK "/$status", &tp), 0);
  assert_int_equal (tp.kind, BW_TOPIC_STATUS);
  bw_topic_free (&tp);
  assert_int_equal (bw_topic_parse (DISK "/$stats", &tp), 0);
  assert_int_equal (tp.kind, BW_TOPIC_STATS);
  bw_topic_free (&tp);
}

static void
parse_refuses (void **state)
{
  static const char *const bad[] = {
    "other/h/v/d/1/x", "blockwatch/h/v", "blockwatch/h/v/d",
    "blockwatch/h//d/1/x", "blockwatch/h/v/d/01/x", "blockwatch/h/v/d/+1/x",
    "blockwatch/h/v/d/-1/x", "blockwatch/h/v/d/1", "blockwatch/h/v/d/1/a+b",
    "blockwatch/h/v/d/1/%2fx", "blockwatch/h/v/d/1/$fs/create",
    "blockwatch/h/v/d/1/$fs/mount/x", "blockwatch/h/v/d/1/$inode/x",
    "blockwatch/h/v/d/1/$inode/012", "blockwatch/h/v/d/$status/x",
    "blockwatch/h/v/d/1/$fs", "blockwatch/h/v/d/1/a/$long/b",
    "blockwatch/h/v/d/1/a%2Fb",     /* a fold where no fold is needed */
  };
  struct bw_topic tp;

  (void) state;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    errno = 0;
    if (bw_topic_parse (bad[i], &tp) == 0)
      fail_msg ("parsed: %s", bad[i]);
    assert_int_equal (errno, EINVAL);
  }
}

static void
odd_names (void **state)
{
  char name[256], path[600];
  char *t;
  size_t n;

  (void) state;
  /* 255 bytes that are all escaped: a level of 765 characters. */
  memset (name, 0xff, 255);
  path[0] = '/';
  memcpy (path + 1, name, 255);
  t = topic_of (path, 256);
  assert_int_equal (strlen (t), strlen (DISK "/1/") + 765);
  free (t);
  /* 255 bytes of 3-byte UTF-8 characters cut in the middle of one. */
  for (n = 0; n + 3 <= 255; n += 3)
    memcpy (name + n, "\xe2\x82\xac", 3);
  path[0] = '/';
  memcpy (path + 1, name, n);
  memcpy (path + 1 + n, "\xe2\x82", 2);
  free (topic_of (path, n + 3));
  /* Every byte value in a name. */
  for (n = 0; n < 256; n++)
    path[n + 1] = n == '/' ? 'x' : (char) n;
  free (topic_of (path, 257));
}

/* "/d/d/.../d" of n levels. */
static size_t
deep_path (char *p, unsigned n)
{
  for (unsigned i = 0; i < n; i++)
    memcpy (p + 2 * i, "/d", 2);
  return 2 * n;
}

static void
deep_paths (void **state)
{
  static char path[2 * 300];
  struct bw_topic tp;
  char *t, *last;
  size_t len;
  int levels;

  (void) state;
  /* Just fits: one level per name. */
  len = deep_path (path, BW_TOPIC_PATH_LEVELS);
  t = topic_of (path, len);
  assert_null (strstr (t, "%2F"));
  free (t);
  /* Deeper: 200 levels, the last holding the rest with %2F. */
  for (unsigned n = BW_TOPIC_PATH_LEVELS + 1; n <= 300; n += 49) {
    len = deep_path (path, n);
    t = topic_of (path, len);
    levels = 1;
    for (const char *p = t; (p = strchr (p, '/')); p++)
      levels++;
    assert_int_equal (levels, BW_TOPIC_MAX_LEVELS);
    last = strrchr (t, '/') + 1;
    assert_int_equal (strlen (last), 1 + (n - BW_TOPIC_PATH_LEVELS) * 4);
    assert_int_equal (bw_topic_parse (t, &tp), 0);
    assert_false (tp.path_cut);
    bw_topic_free (&tp);
    free (t);
  }
}

static void
long_paths (void **state)
{
  char *path = malloc (100 * 256), *t;
  size_t len = 0;

  (void) state;
  /* 100 names of 255 escaped bytes: 76 KiB of topic, over MQTT's 64. */
  for (int i = 0; i < 100; i++) {
    path[len++] = '/';
    memset (path + len, 0x80 + i, 255);
    len += 255;
  }
  t = topic_of (path, len);
  assert_true (strlen (t) > BW_TOPIC_MAX_BYTES - 800);
  assert_string_equal (strrchr (t, '/'), "/$long");
  free (t);
  free (path);
}

/* Random byte strings as paths: always a valid topic that parses back. */
static void
random_paths (void **state)
{
  unsigned seed = 7;
  char path[600];

  (void) state;
  for (int round = 0; round < 3000; round++) {
    size_t len = 1 + rand_r (&seed) % sizeof path;

    path[0] = '/';
    for (size_t i = 1; i < len; i++) {
      unsigned r = rand_r (&seed) % 16;
      if (r < 3)
        path[i] = '/';
      else if (r < 5)
        path[i] = "+#$% \xc3\xa9"[rand_r (&seed) % 7];
      else if (r < 8)
        path[i] = rand_r (&seed) % 256;
      else
        path[i] = 'a' + r;
    }
    free (topic_of (path, len));
  }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (levels),
    cmocka_unit_test (layout),
    cmocka_unit_test (parse_refuses),
    cmocka_unit_test (odd_names),
    cmocka_unit_test (deep_paths),
    cmocka_unit_test (long_paths),
    cmocka_unit_test (random_paths),
  };

  mosquitto_lib_init ();
  return cmocka_run_group_tests (tests, NULL, NULL);
}
