/* libFuzzer target: MQTT topics and channel globs (topic.h).
 *
 * The input is GLOB NUL PATH.  PATH (after a '/') as a file's path
 * must make a topic mosquitto accepts that parses back to the path;
 * GLOB as topic text or a level is refused or is the one spelling of
 * what it parses to; GLOB as a channel's path glob must have MQTT
 * filters that bring every event it matches (libmosquitto judges), and
 * matching must stay fast whatever the glob (libFuzzer's -timeout).
 * abort() on any difference, so libFuzzer keeps the input.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>

#include "topic.h"

#define DISK "blockwatch/h/v/d"

static void
check_path (const char *path, size_t len)
{
  struct bw_event ev = { .type = BW_EV_WRITE, .part = 1, .path = path,
                         .path_len = len };
  char *t = bw_topic_event (DISK, &ev);
  struct bw_topic tp;
  int levels = 1;

  if (t == NULL)
    return;
  for (const char *p = t; (p = strchr (p, '/')); p++)
    levels++;
  if (strlen (t) > BW_TOPIC_MAX_BYTES || levels > BW_TOPIC_MAX_LEVELS ||
      mosquitto_pub_topic_check2 (t, strlen (t)) != MOSQ_ERR_SUCCESS ||
      bw_topic_parse (t, &tp) != 0 ||
      tp.path_len > len || memcmp (tp.path, path, tp.path_len) != 0 ||
      (!tp.path_cut && tp.path_len != len))
    abort ();
  bw_topic_free (&tp);
  free (t);
}

static void
check_text (const char *text)
{
  struct bw_topic tp;
  size_t n;
  char *bytes, *again;

  if (bw_topic_parse (text, &tp) == 0)
    bw_topic_free (&tp);
  bytes = bw_topic_unlevel (text, strlen (text), &n);
  if (bytes) {
    again = bw_topic_level (bytes, n);
    if (again && strcmp (again, text) != 0)
      abort ();
    free (again);
  }
  free (bytes);
}

/* Names longer than ext4's 255 bytes may make a topic too long for the
 * exact filters (see BW_CHANNEL_EXACT_LEVELS): not a path to judge
 * them by.
 */
static bool
ext4_names (const char *path, size_t len)
{
  size_t run = 0;

  for (size_t i = 0; i < len; i++)
    run = path[i] == '/' ? 0 : run + 1;
  return run <= 255 && memchr (path, '\0', len) == NULL;
}

static void
check_channel (const char *glob, const char *path, size_t len)
{
  struct bw_event ev = { .type = BW_EV_WRITE, .host = "h", .vm = "v",
                         .disk = "d", .part = 1, .path = path,
                         .path_len = len };
  struct bw_channel ch;
  char *spec, *t, *f[2], err[256];
  bool any = false, m;
  int n;

  if (glob[0] != '/' || asprintf (&spec, "h:v:%s", glob) == -1)
    return;
  if (bw_channel_parse (spec, &ch, err, sizeof err) == 0) {
    if (bw_channel_match (&ch, &ev) && ext4_names (path, len)) {
      t = bw_topic_event (DISK, &ev);
      n = bw_channel_filters (&ch, f);
      for (int i = 0; i < n; i++) {
        if (mosquitto_topic_matches_sub (f[i], t, &m) == MOSQ_ERR_SUCCESS)
          any |= m;
        free (f[i]);
      }
      if (t && n > 0 && !any)
        abort ();
      free (t);
    }
    bw_channel_free (&ch);
  }
  free (spec);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *nul = memchr (data, '\0', size);
  size_t glen = nul ? (size_t) (nul - (const char *) data) : size;
  size_t plen = nul ? size - glen - 1 : 0;
  char *glob = strndup ((const char *) data, glen), *path = malloc (plen + 2);

  if (glob == NULL || path == NULL)
    goto out;
  path[0] = '/';
  if (plen)
    memcpy (path + 1, nul + 1, plen);
  path[plen + 1] = '\0';
  check_path (path, plen + 1);
  check_text (glob);
  check_channel (glob, path, plen + 1);
  bw_glob_name (glob, path + 1);
 out:
  free (glob);
  free (path);
  return 0;
}
