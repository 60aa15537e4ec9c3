/* Globs, channels and the bridge's filter: the matcher matches exactly
 * what it should; a channel's MQTT filters, judged by libmosquitto's
 * own matcher, bring every event the channel wants; the filter picks
 * what is published and its data policy.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <mosquitto.h>

#include "filter.h"
#include "topic.h"

static void
names (void **state)
{
  static const struct { const char *glob, *name; bool match; } v[] = {
    { "*.log", "app.log", true }, { "*.log", "app.log.1", false },
    { "*", "", true }, { "?", "", false }, { "?", "\xc3\xa9", true },
    { "caf?", "caf\xc3\xa9", true }, { "caf?", "cafe\xcc\x81", false },
    { "a*b*c", "axxbyyc", true }, { "a*b*c", "axxbyy", false },
    { "*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false },
    { "[abc]x", "bx", true }, { "[abc]x", "dx", false },
    { "[a-c]", "b", true }, { "[!a-c]", "b", false }, { "[^a-c]", "d", true },
    { "[]]", "]", true }, { "[\xc3\xa0-\xc3\xbf]", "\xc3\xa9", true },
    { "[a-", "[a-", true }, { "\\*", "*", true }, { "\\*", "x", false },
    { "r%E9sum%E9", "r%E9sum%E9", true }, { "%25", "%25", true },
    { "meta*", "metadata", true }, { "**", "abc", true },
  };

  (void) state;
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
    if (bw_glob_name (v[i].glob, v[i].name) != v[i].match)
      fail_msg ("'%s' vs '%s': expected %d", v[i].glob, v[i].name,
                v[i].match);
}

static void
paths (void **state)
{
  static const struct { const char *glob, *path; bool match; } v[] = {
    { "/var/log/*", "/var/log/syslog", true },
    { "/var/log/*", "/var/log/apt/history.log", false },
    { "/var/log/*", "/var/log", false },
    { "/var/**", "/var", true }, { "/var/**", "/var/a/b/c", true },
    { "/var/**", "/variable", false },
    { "/**/x", "/x", true }, { "/**/x", "/a/b/x", true },
    { "/**/x", "/a/b/y", false }, { "/**/x", "/a/x/b", false },
    { "/**", "/", true }, { "/**", "/a/b", true },
    { "/a/**/b/**/c", "/a/b/c", true },
    { "/a/**/b/**/c", "/a/x/b/y/z/c", true },
    { "/a/**/b/**/c", "/a/x/c", false },
    { "/a/**/b/**/c", "/a/b/c/d", false },
    { "/*/*.conf", "/etc/app.conf", true },
    { "/*/*.conf", "/etc/sub/app.conf", false },
    { "/etc/**.conf", "/etc/app.conf", true },        /* ** in a name: '*' */
    { "/etc/**.conf", "/etc/sub/app.conf", false },
    { "/", "/", true }, { "/", "/a", false }, { "/*", "/", true },
    { "/a//b", "/a//b", true }, { "/a/*/b", "/a//b", true },
    { "var/log/*", "/var/log/x", false },
    { "/tmp/r%E9sum%E9 50%25", "/tmp/r%E9sum%E9 50%25", true },
  };

  (void) state;
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
    if (bw_glob_path (v[i].glob, v[i].path) != v[i].match)
      fail_msg ("'%s' vs '%s': expected %d", v[i].glob, v[i].path,
                v[i].match);
}

static void
channel_parse (void **state)
{
  static const char *const bad[] = {
    "h", ":v", "h:", "h::/x", "h:v:x", "h:v:", "",
  };
  struct bw_channel ch;
  char err[256];

  (void) state;
  assert_int_equal (bw_channel_parse ("kvm-07:web-*", &ch, err, sizeof err), 0);
  assert_string_equal (ch.host, "kvm-07");
  assert_string_equal (ch.vm, "web-*");
  assert_string_equal (ch.disk, "*");
  assert_int_equal (ch.part, -1);
  assert_null (ch.path);
  bw_channel_free (&ch);
  assert_int_equal (bw_channel_parse ("*:*:/var/log/*", &ch, err, sizeof err),
                    0);
  assert_string_equal (ch.path, "/var/log/*");
  {
    /* A loss that names a file is the file's, one that names none the
     * whole file system's.
     */
    struct bw_event ev = {
      .type = BW_EV_OVERFLOW, .host = "h", .vm = "v", .disk = "d",
      .lost_writes = 2, .inode = 12, .path = "/etc/passwd",
      .path_len = strlen ("/etc/passwd"),
    };
    assert_false (bw_channel_match (&ch, &ev));
    ev.path = "/var/log/syslog";
    ev.path_len = strlen (ev.path);
    assert_true (bw_channel_match (&ch, &ev));
    ev.path = NULL;
    assert_false (bw_channel_match (&ch, &ev));
    ev.inode = 0;
    assert_true (bw_channel_match (&ch, &ev));
  }
  bw_channel_free (&ch);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal (bw_channel_parse (bad[i], &ch, err, sizeof err), -1);
}

/* The filters of a channel, as one string "F1 F2". */
static void
assert_filters (const char *spec, const char *disk, int part,
                const char *want)
{
  struct bw_channel ch;
  char err[256], got[2048] = "", *f[2];
  int n;

  assert_int_equal (bw_channel_parse (spec, &ch, err, sizeof err), 0);
  if (disk) {
    free (ch.disk);
    ch.disk = strdup (disk);
  }
  ch.part = part;
  n = bw_channel_filters (&ch, f);
  assert_true (n == 1 || n == 2);
  for (int i = 0; i < n; i++) {
    assert_int_equal (mosquitto_sub_topic_check2 (f[i], strlen (f[i])),
                      MOSQ_ERR_SUCCESS);
    snprintf (got + strlen (got), sizeof got - strlen (got), "%s%s",
              i ? " " : "", f[i]);
    free (f[i]);
  }
  assert_string_equal (got, want);
  bw_channel_free (&ch);
}

static void
channel_filters (void **state)
{
  char spec[512], want[1024];

  (void) state;
  assert_filters ("h:v:/var/log/*", NULL, -1,
                  "blockwatch/h/v/+/+/var/log/+ blockwatch/h/v/+/+/$fs/+");
  assert_filters ("h:v", NULL, -1, "blockwatch/h/v/+/+/#");
  assert_filters ("h:v:/**", NULL, -1, "blockwatch/h/v/+/+/#");
  assert_filters ("*:web-?:/etc/**", "d1", 2,
                  "blockwatch/+/+/d1/2/etc/# blockwatch/+/+/d1/2/$fs/+");
  assert_filters ("h+1:v:/a b/c+d/$x/r%E9", NULL, 0,
                  "blockwatch/h%2B1/v/+/0/a b/c%2Bd/%24x/r%E9 "
                  "blockwatch/h%2B1/v/+/0/$fs/+");
  /* A literal that no path can have: '+' is still right. */
  assert_filters ("h:v:/%41", NULL, 1,
                  "blockwatch/h/v/+/1/+ blockwatch/h/v/+/1/$fs/+");
  assert_filters ("h:v:/a/**/b", "file:/x", 1,
                  "blockwatch/h/v/file:%2Fx/1/a/# "
                  "blockwatch/h/v/file:%2Fx/1/$fs/+");
  /* Deeper than the filter keeps exact. */
  strcpy (spec, "h:v:");
  strcpy (want, "blockwatch/h/v/+/+");
  for (int i = 0; i < BW_CHANNEL_EXACT_LEVELS + 6; i++) {
    strcat (spec, "/a");
    if (i < BW_CHANNEL_EXACT_LEVELS)
      strcat (want, "/a");
  }
  strcat (want, "/# blockwatch/h/v/+/+/$fs/+");
  assert_filters (spec, NULL, -1, want);
}

/* A random glob or path over a small alphabet, so that they meet. */
static void
random_text (char *out, size_t max, unsigned *seed, bool glob)
{
  static const char *const glob_bits[] = {
    "/", "/", "a", "b", "*", "?", "**", "/**/", "[ab]", "%", "+", "$",
  };
  static const char *const path_bits[] = {
    "/", "/", "a", "b", "ab", "%", "+", "$", "\xc3\xa9", "#",
  };
  size_t n = 1, k = 1 + rand_r (seed) % 10;

  out[0] = '/';
  while (k-- > 0) {
    const char *bit = glob
      ? glob_bits[rand_r (seed) % (sizeof glob_bits / sizeof glob_bits[0])]
      : path_bits[rand_r (seed) % (sizeof path_bits / sizeof path_bits[0])];

    if (n + strlen (bit) >= max)
      break;
    strcpy (out + n, bit);
    n += strlen (bit);
  }
  out[n] = '\0';
}

/* What bw_channel_match lets through, the filters must bring. */
static void
filters_are_enough (void **state)
{
  unsigned seed = 11, matched = 0;
  char glob[64], path[64], spec[128], *f[2], err[256], *t;
  struct bw_channel ch;
  struct bw_event ev;
  bool ok;
  int n;

  (void) state;
  for (int round = 0; round < 20000; round++) {
    random_text (glob, sizeof glob, &seed, true);
    random_text (path, sizeof path, &seed, false);
    snprintf (spec, sizeof spec, "%s:%s:%s", round % 3 ? "h" : "*",
              round % 5 ? "v" : "v?", glob);
    assert_int_equal (bw_channel_parse (spec, &ch, err, sizeof err), 0);
    ev = (struct bw_event) { .type = round % 7 ? BW_EV_WRITE : BW_EV_MOUNT,
                             .host = "h", .vm = "v1", .disk = "d", .part = 1,
                             .path = path, .path_len = strlen (path) };
    if (round % 5)
      ev.vm = "v";
    if (ev.type == BW_EV_MOUNT)
      ev.path = NULL;
    /* A loss of one file's writes goes with the file's events. */
    if (round % 11 == 0) {
      ev.type = BW_EV_OVERFLOW;
      ev.lost_writes = 1;
      ev.inode = 12;
    }
    if (!bw_channel_match (&ch, &ev)) {
      bw_channel_free (&ch);
      continue;
    }
    matched++;
    t = bw_topic_event ("blockwatch/h/v/d", &ev);
    if (round % 5 == 0) {
      free (t);
      t = bw_topic_event ("blockwatch/h/v1/d", &ev);
    }
    n = bw_channel_filters (&ch, f);
    ok = false;
    for (int i = 0; i < n; i++) {
      bool m;
      assert_int_equal (mosquitto_topic_matches_sub (f[i], t, &m),
                        MOSQ_ERR_SUCCESS);
      ok |= m;
      free (f[i]);
    }
    if (!ok)
      fail_msg ("channel %s matches %s, its filters do not", spec, t);
    free (t);
    bw_channel_free (&ch);
  }
  assert_true (matched > 1000);
}

static void
filter (void **state)
{
  struct bw_filter f = { 0 };
  struct bw_data_policy_cfg none = { BW_DATA_NONE, 0 },
                            hash = { BW_DATA_HASH, 0 },
                            bytes = { BW_DATA_BYTES, 100 };

  (void) state;
  /* Empty: everything, with the default policy. */
  assert_true (bw_filter_pass (&f, BW_EV_WRITE, "/x"));
  assert_true (bw_filter_pass (&f, BW_EV_MOUNT, NULL));
  assert_false (bw_filter_wants_path (&f));
  assert_ptr_equal (bw_filter_data (&f, "/x", &none), &none);

  assert_int_equal (bw_filter_add (&f, BW_FILTER_INCLUDE, "/var/log/**"), 0);
  assert_int_equal (bw_filter_add (&f, BW_FILTER_INCLUDE, "/etc/*.conf"), 0);
  assert_int_equal (bw_filter_add (&f, BW_FILTER_EXCLUDE, "/var/log/secret*"),
                    0);
  assert_true (bw_filter_wants_path (&f));
  assert_true (bw_filter_pass (&f, BW_EV_WRITE, "/var/log/syslog"));
  assert_true (bw_filter_pass (&f, BW_EV_CREATE, "/etc/app.conf"));
  assert_false (bw_filter_pass (&f, BW_EV_WRITE, "/var/log/secret.log"));
  assert_false (bw_filter_pass (&f, BW_EV_WRITE, "/home/u/x"));
  /* Events without a path are chosen by type alone. */
  assert_true (bw_filter_pass (&f, BW_EV_OVERFLOW, NULL));

  assert_int_equal (bw_filter_add (&f, BW_FILTER_TYPE, "write"), 0);
  assert_int_equal (bw_filter_add (&f, BW_FILTER_TYPE, "*mount"), 0);
  assert_int_equal (bw_filter_add (&f, BW_FILTER_NOT_TYPE, "unmount"), 0);
  assert_true (bw_filter_pass (&f, BW_EV_WRITE, "/var/log/syslog"));
  assert_false (bw_filter_pass (&f, BW_EV_CREATE, "/etc/app.conf"));
  assert_true (bw_filter_pass (&f, BW_EV_MOUNT, NULL));
  assert_false (bw_filter_pass (&f, BW_EV_UNMOUNT, NULL));
  assert_false (bw_filter_pass (&f, BW_EV_OVERFLOW, NULL));

  /* Data rules: the first that matches. */
  assert_int_equal (bw_filter_add_data (&f, "/etc/**", &hash), 0);
  assert_int_equal (bw_filter_add_data (&f, "/**/*.log", &bytes), 0);
  assert_int_equal (bw_filter_add_data (&f, "/etc/*.log", &none), 0);
  assert_ptr_not_equal (bw_filter_data (&f, "/etc/a.log", &none), &none);
  assert_int_equal (bw_filter_data (&f, "/etc/a.log", &none)->policy,
                    BW_DATA_HASH);
  assert_int_equal (bw_filter_data (&f, "/var/log/x.log", &none)->max_bytes,
                    100);
  assert_ptr_equal (bw_filter_data (&f, "/home/x", &none), &none);
  assert_ptr_equal (bw_filter_data (&f, NULL, &none), &none);

  errno = 0;
  assert_int_equal (bw_filter_add (&f, BW_FILTER_INCLUDE, "var/*"), -1);
  assert_int_equal (errno, EINVAL);
  assert_int_equal (bw_filter_add_data (&f, "x", &none), -1);
  assert_int_equal (bw_filter_add (&f, BW_FILTER_TYPE, "meta*"), 0);
  bw_filter_free (&f);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (names),
    cmocka_unit_test (paths),
    cmocka_unit_test (channel_parse),
    cmocka_unit_test (channel_filters),
    cmocka_unit_test (filters_are_enough),
    cmocka_unit_test (filter),
  };

  mosquitto_lib_init ();
  return cmocka_run_group_tests (tests, NULL, NULL);
}
