/* Topics: the layout and escaping described in topic.h and
 * docs/events.md.  Nothing here may change without a new layout: the
 * topics are what subscriptions and broker ACLs are written against.
 */

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "topic.h"

/* Besides what bw_escape_bytes escapes: the level separator, the two
 * wildcards, and '$' so that no name can pose as $fs, $status ...
 */
static const char topic_special[] = "/+#$";

#define LONG_LEVEL "$long"

char *
bw_topic_level (const char *bytes, size_t len)
{
  char *esc = bw_escape_bytes (bytes, len), *out, *q;
  const char *p;
  size_t extra = 0;

  if (esc == NULL)
    return NULL;
  for (p = esc; *p; p++)
    if (strchr (topic_special, *p))
      extra += 2;
  out = q = malloc (p - esc + extra + 1);
  if (out != NULL) {
    for (p = esc; *p; p++) {
      if (strchr (topic_special, *p))
        q += sprintf (q, "%%%02X", (unsigned char) *p);
      else
        *q++ = *p;
    }
    *q = '\0';
  }
  free (esc);
  return out;
}

static int
hex (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

char *
bw_topic_unlevel (const char *text, size_t textlen, size_t *len)
{
  char *bytes = malloc (textlen + 1), *again;
  size_t i, n = 0;

  if (bytes == NULL)
    return NULL;
  for (i = 0; i < textlen; i++) {
    if (text[i] != '%')
      bytes[n++] = text[i];
    else if (i + 2 < textlen &&
             hex (text[i + 1]) >= 0 && hex (text[i + 2]) >= 0) {
      bytes[n++] = hex (text[i + 1]) << 4 | hex (text[i + 2]);
      i += 2;
    }
    else
      goto invalid;
  }
  bytes[n] = '\0';
  /* One byte string, one level: anything but the form bw_topic_level
   * makes (a needless escape, a raw control character, invalid UTF-8)
   * is refused, so that topics compare like the names they stand for.
   */
  again = bw_topic_level (bytes, n);
  if (again == NULL) {
    free (bytes);
    return NULL;
  }
  if (strlen (again) != textlen || memcmp (again, text, textlen) != 0) {
    free (again);
    goto invalid;
  }
  free (again);
  if (len)
    *len = n;
  return bytes;

 invalid:
  free (bytes);
  errno = EINVAL;
  return NULL;
}

/* "blockwatch/" and the n labels, each escaped. */
static char *
labels_topic (const char *const *labels, size_t n)
{
  char *out = NULL, *lv;
  size_t len, i;
  FILE *f;

  for (i = 0; i < n; i++)
    if (labels[i] == NULL || labels[i][0] == '\0' ||
        strlen (labels[i]) > BW_LABEL_MAX) {
      errno = EINVAL;
      return NULL;
    }
  f = open_memstream (&out, &len);
  if (f == NULL)
    return NULL;
  fputs (BW_TOPIC_ROOT, f);
  for (i = 0; i < n; i++) {
    lv = bw_topic_level (labels[i], strlen (labels[i]));
    if (lv == NULL)
      break;
    fprintf (f, "/%s", lv);
    free (lv);
  }
  if (fclose (f) != 0 || i < n) {
    free (out);
    errno = ENOMEM;
    return NULL;
  }
  return out;
}

char *
bw_topic_disk (const char *host, const char *vm, const char *disk)
{
  const char *labels[] = { host, vm, disk };

  return labels_topic (labels, 3);
}

char *
bw_topic_host (const char *host)
{
  return labels_topic (&host, 1);
}

bool
bw_event_fs_wide (enum bw_event_type t)
{
  switch (t) {
  case BW_EV_MOUNT: case BW_EV_UNMOUNT: case BW_EV_PARTITION:
  case BW_EV_OVERFLOW: case BW_EV_RESYNC:
    return true;
  default:
    return false;
  }
}

bool
bw_event_fs_topic (const struct bw_event *ev)
{
  return bw_event_fs_wide (ev->type) && !bw_event_of_file (ev);
}

/* Path levels after the partition's: one per name, the names past
 * BW_TOPIC_PATH_LEVELS - 1 folded into the last level with their '/'
 * (which bw_topic_level escapes).  Paths start with '/'; one that does
 * not (never made by the introspector) is taken as if it did.
 */
static int
put_path (FILE *f, const char *path, size_t len)
{
  const char *p = path, *end = path + len, *slash;
  unsigned levels = 0;
  char *lv;
  size_t n;

  if (p < end && *p == '/')
    p++;
  for (;;) {
    slash = memchr (p, '/', end - p);
    n = slash && levels < BW_TOPIC_PATH_LEVELS - 1 ? (size_t) (slash - p)
                                                   : (size_t) (end - p);
    lv = bw_topic_level (p, n);
    if (lv == NULL)
      return -1;
    fprintf (f, "/%s", lv);
    free (lv);
    levels++;
    if (p + n == end)
      return 0;
    p += n + 1;
  }
}

char *
bw_topic_event (const char *disk_topic, const struct bw_event *ev)
{
  char *out = NULL;
  size_t len, base;
  FILE *f = open_memstream (&out, &len);
  int err = 0;

  if (f == NULL)
    return NULL;
  fprintf (f, "%s/%d", disk_topic, ev->part);
  fflush (f);
  base = len;
  if (bw_event_fs_topic (ev))
    fprintf (f, "/$fs/%s", bw_event_type_name (ev->type));
  else if (ev->path == NULL)
    fprintf (f, "/$inode/%" PRIu64, ev->inode);
  else
    err = put_path (f, ev->path, ev->path_len);
  if (fclose (f) != 0 || err) {
    free (out);
    errno = ENOMEM;
    return NULL;
  }
  /* Too long for MQTT (a path of many long, escaped names): keep the
   * levels that fit and say the rest is missing; the event's JSON has
   * the whole path.
   */
  if (len > BW_TOPIC_MAX_BYTES) {
    size_t cut = BW_TOPIC_MAX_BYTES - strlen ("/" LONG_LEVEL);

    while (cut > base && out[cut] != '/')
      cut--;
    strcpy (out + cut, "/" LONG_LEVEL);
  }
  return out;
}

void
bw_topic_free (struct bw_topic *t)
{
  free (t->host);
  free (t->vm);
  free (t->disk);
  free (t->path);
  free (t->type);
  *t = (struct bw_topic) { .part = -1 };
}

/* A label level: unescaped, a C string, not empty. */
static char *
label (const char *text, size_t n)
{
  size_t len;
  char *s = bw_topic_unlevel (text, n, &len);

  if (s != NULL && (len == 0 || len > BW_LABEL_MAX || strlen (s) != len)) {
    free (s);
    errno = EINVAL;
    return NULL;
  }
  return s;
}

static enum bw_event_type
fs_type_named (const char *name)
{
  enum bw_event_type t;

  for (t = BW_EV_CREATE; t <= BW_EV_RESYNC; t++)
    if (bw_event_fs_wide (t) && strcmp (bw_event_type_name (t), name) == 0)
      return t;
  return 0;
}

/* The path levels of a FILE topic, from p (after the partition's '/'):
 * their bytes joined with '/' after a leading '/'.
 */
static int
parse_path (const char *p, struct bw_topic *t)
{
  char *out = NULL, *lv;
  size_t len, n, lvlen;
  FILE *f = open_memstream (&out, &len);
  int err = 0;

  if (f == NULL)
    return -1;
  for (;;) {
    n = strcspn (p, "/");
    if (p[n] == '\0' && n == strlen (LONG_LEVEL) &&
        memcmp (p, LONG_LEVEL, n) == 0) {
      t->path_cut = true;
      break;
    }
    lv = bw_topic_unlevel (p, n, &lvlen);
    if (lv == NULL) {
      err = -1;
      break;
    }
    fputc ('/', f);
    fwrite (lv, 1, lvlen, f);
    free (lv);
    if (p[n] == '\0')
      break;
    p += n + 1;
  }
  if (fclose (f) != 0 || err) {
    free (out);
    return -1;
  }
  t->path = out;
  t->path_len = len;
  return 0;
}

/* Rebuilds the topic from what was taken out of it: the parse accepts
 * only the one spelling the bridge makes.
 */
static int
same_topic (const struct bw_topic *t, const char *topic)
{
  struct bw_event ev = {
    .type = t->kind == BW_TOPIC_FS ? fs_type_named (t->type) : BW_EV_WRITE,
    .part = t->part, .inode = t->inode,
    .path = t->kind == BW_TOPIC_FILE ? t->path : NULL, .path_len = t->path_len,
  };
  char *disk, *again = NULL;
  bool same;

  /* The rest of a cut path is not in the topic: its levels were
   * checked one by one.
   */
  if (t->path_cut)
    return 0;
  disk = bw_topic_disk (t->host, t->vm, t->disk);
  if (disk == NULL)
    return -1;
  if (t->kind == BW_TOPIC_STATUS || t->kind == BW_TOPIC_STATS) {
    if (asprintf (&again, "%s/%s", disk,
                  t->kind == BW_TOPIC_STATUS ? "$status" : "$stats") == -1)
      again = NULL;
  }
  else
    again = bw_topic_event (disk, &ev);
  free (disk);
  if (again == NULL)
    return -1;
  same = strcmp (again, topic) == 0;
  free (again);
  if (!same) {
    errno = EINVAL;
    return -1;
  }
  return 0;
}

int
bw_topic_parse (const char *topic, struct bw_topic *t)
{
  const char *lv[6];
  size_t n[6], i;
  const char *p = topic;
  unsigned long long num;
  char *stop;

  *t = (struct bw_topic) { .part = -1 };
  /* blockwatch / host / vm / disk / (part | $status | $stats) / rest */
  for (i = 0; i < 6 && p; i++) {
    lv[i] = p;
    n[i] = strcspn (p, "/");
    p = p[n[i]] ? p + n[i] + 1 : NULL;
  }
  if (i < 5 || n[0] != strlen (BW_TOPIC_ROOT) ||
      memcmp (lv[0], BW_TOPIC_ROOT, n[0]) != 0)
    goto invalid;
  if ((t->host = label (lv[1], n[1])) == NULL ||
      (t->vm = label (lv[2], n[2])) == NULL ||
      (t->disk = label (lv[3], n[3])) == NULL)
    goto fail;
  if (i == 5 && strcmp (lv[4], "$status") == 0)
    t->kind = BW_TOPIC_STATUS;
  else if (i == 5 && strcmp (lv[4], "$stats") == 0)
    t->kind = BW_TOPIC_STATS;
  else if (i == 6) {
    /* Digits as %d prints them (strtoull alone takes "+1" and " 01"). */
    if (lv[4][0] < '0' || lv[4][0] > '9' || (lv[4][0] == '0' && n[4] > 1))
      goto invalid;
    errno = 0;
    num = strtoull (lv[4], &stop, 10);
    if (stop != lv[4] + n[4] || errno || num > INT_MAX)
      goto invalid;
    t->part = num;
    if (strncmp (lv[5], "$fs/", 4) == 0) {
      t->kind = BW_TOPIC_FS;
      if ((t->type = strdup (lv[5] + 4)) == NULL)
        goto fail;
      if (fs_type_named (t->type) == 0)
        goto invalid;
    }
    else if (strncmp (lv[5], "$inode/", 7) == 0) {
      t->kind = BW_TOPIC_INODE;
      errno = 0;
      t->inode = strtoull (lv[5] + 7, &stop, 10);
      if (*stop || errno)
        goto invalid;
    }
    else {
      t->kind = BW_TOPIC_FILE;
      if (parse_path (lv[5], t) == -1)
        goto fail;
    }
  }
  else
    goto invalid;
  if (same_topic (t, topic) == -1)
    goto fail;
  return 0;

 invalid:
  errno = EINVAL;
 fail:
  {
    int e = errno;
    bw_topic_free (t);
    errno = e;
  }
  return -1;
}
