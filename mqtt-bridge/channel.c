/* Channels: what a subscriber asks for (HOST:VM:/PATH-GLOB), the MQTT
 * filters that bring it, and the client-side match that takes the
 * rest (see topic.h).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "topic.h"

void
bw_channel_free (struct bw_channel *ch)
{
  free (ch->host);
  free (ch->vm);
  free (ch->disk);
  free (ch->path);
  *ch = (struct bw_channel) { .part = -1 };
}

int
bw_channel_parse (const char *spec, struct bw_channel *ch,
                  char *err, size_t errlen)
{
  const char *c1 = strchr (spec, ':'), *c2 = c1 ? strchr (c1 + 1, ':') : NULL;

  *ch = (struct bw_channel) { .part = -1 };
  if (c1 == NULL || c1 == spec || (c2 ? c2 : spec + strlen (spec)) == c1 + 1) {
    snprintf (err, errlen, "channel '%s': expected HOST:VM or HOST:VM:/PATH "
              "(globs allowed)", spec);
    return -1;
  }
  if (c2 && c2[1] != '/') {
    snprintf (err, errlen, "channel '%s': the path must start with '/'",
              spec);
    return -1;
  }
  ch->host = strndup (spec, c1 - spec);
  ch->vm = c2 ? strndup (c1 + 1, c2 - c1 - 1) : strdup (c1 + 1);
  ch->disk = strdup ("*");
  ch->path = c2 ? strdup (c2 + 1) : NULL;
  if (ch->host == NULL || ch->vm == NULL || ch->disk == NULL ||
      (c2 && ch->path == NULL)) {
    bw_channel_free (ch);
    snprintf (err, errlen, "%s", strerror (ENOMEM));
    return -1;
  }
  return 0;
}

/* One filter level for a glob level: the escaped literal, or '+'. */
static void
put_level (FILE *f, const char *glob, size_t len, bool escaped)
{
  char *text = NULL, *bytes = NULL, *lv = NULL;
  size_t n = len;

  if (bw_glob_literal (glob, len) && (text = strndup (glob, len)) != NULL) {
    /* Path globs are written over escaped names: back to bytes first.
     * One that cannot be unescaped matches no path; '+' is still
     * correct, and simpler.
     */
    if (escaped) {
      bytes = bw_unescape (text, &n);
      free (text);
    }
    else
      bytes = text;
    if (bytes)
      lv = bw_topic_level (bytes, n);
  }
  fprintf (f, "/%s", lv ? lv : "+");
  free (lv);
  free (bytes);
}

int
bw_channel_filters (const struct bw_channel *ch, char *filters[2])
{
  const char *labels[] = { ch->host, ch->vm, ch->disk }, *g;
  char *out = NULL, *base;
  size_t len, n;
  unsigned levels = 0;
  bool hash = false;        /* the filter ends in '#' */
  FILE *f = open_memstream (&out, &len);

  if (f == NULL)
    return -1;
  fputs (BW_TOPIC_ROOT, f);
  for (int i = 0; i < 3; i++)
    put_level (f, labels[i], strlen (labels[i]), false);
  if (ch->part >= 0)
    fprintf (f, "/%d", ch->part);
  else
    fputs ("/+", f);
  fflush (f);
  base = strndup (out, len);
  if (ch->path == NULL)
    hash = true;
  else
    for (g = ch->path + 1; ; g += n + 1) {
      n = strcspn (g, "/");
      if ((n == 2 && g[0] == '*' && g[1] == '*') ||
          levels == BW_CHANNEL_EXACT_LEVELS) {
        hash = true;
        break;
      }
      put_level (f, g, n, true);
      levels++;
      if (g[n] == '\0')
        break;
    }
  if (hash)
    fputs ("/#", f);
  if (fclose (f) != 0 || base == NULL) {
    free (out);
    free (base);
    return -1;
  }
  filters[0] = out;
  /* '#' right after the partition brings its $fs events already. */
  if (hash && levels == 0) {
    free (base);
    return 1;
  }
  if (asprintf (&filters[1], "%s/$fs/+", base) == -1) {
    free (base);
    free (out);
    return -1;
  }
  free (base);
  return 2;
}

bool
bw_channel_match (const struct bw_channel *ch, const struct bw_event *ev)
{
  char *esc;
  bool m;

  if (!bw_glob_name (ch->host, ev->host ?: "") ||
      !bw_glob_name (ch->vm, ev->vm ?: "") ||
      !bw_glob_name (ch->disk, ev->disk ?: "") ||
      (ch->part >= 0 && ch->part != ev->part))
    return false;
  if (ch->path == NULL)
    return true;
  if (bw_event_fs_topic (ev))
    return true;
  if (ev->path == NULL || (esc = bw_escape_bytes (ev->path, ev->path_len))
      == NULL)
    return false;
  m = bw_glob_path (ch->path, esc);
  free (esc);
  return m;
}
