/* Stats files (see stats-file.h). */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stats-file.h"

#define STATS_MAGIC "blockwatch-stats 1"

int
stats_writer_init (struct stats_writer *w, const char *path,
                   char *err, size_t errlen)
{
  w->len = 0;
  w->path = strdup (path);
  if (w->path == NULL || asprintf (&w->tmp, "%s.tmp", path) == -1) {
    free (w->path);
    w->path = w->tmp = NULL;
    snprintf (err, errlen, "stats file: out of memory");
    return -1;
  }
  return 0;
}

static void
append (struct stats_writer *w, const char *key, uint64_t value)
{
  int n = snprintf (w->buf + w->len, sizeof w->buf - w->len,
                    "%s %" PRIu64 "\n", key, value);

  /* A line that does not fit is left out whole, never cut. */
  if (n > 0 && (size_t) n < sizeof w->buf - w->len)
    w->len += n;
  else
    w->buf[w->len] = '\0';
}

void
stats_writer_begin (struct stats_writer *w)
{
  struct timespec ts;

  clock_gettime (CLOCK_REALTIME, &ts);
  w->len = snprintf (w->buf, sizeof w->buf, STATS_MAGIC "\n");
  append (w, "pid", getpid ());
  append (w, "time_ns", (uint64_t) ts.tv_sec * 1000000000 + ts.tv_nsec);
}

void
stats_writer_add (struct stats_writer *w, const char *key, uint64_t value)
{
  append (w, key, value);
}

int
stats_writer_commit (struct stats_writer *w, char *err, size_t errlen)
{
  int fd = open (w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ssize_t n;

  if (fd == -1) {
    snprintf (err, errlen, "stats file %s: %s", w->tmp, strerror (errno));
    return -1;
  }
  n = write (fd, w->buf, w->len);
  if (n != (ssize_t) w->len) {
    snprintf (err, errlen, "stats file %s: %s", w->tmp,
              n == -1 ? strerror (errno) : "short write");
    close (fd);
    unlink (w->tmp);
    return -1;
  }
  close (fd);
  if (rename (w->tmp, w->path) == -1) {
    snprintf (err, errlen, "stats file %s: %s", w->path, strerror (errno));
    unlink (w->tmp);
    return -1;
  }
  return 0;
}

void
stats_writer_close (struct stats_writer *w, bool remove)
{
  if (remove && w->path)
    unlink (w->path);
  free (w->path);
  free (w->tmp);
  w->path = w->tmp = NULL;
}

static bool
valid_key (const char *k, size_t n)
{
  if (n == 0 || n > STATS_KEY_MAX)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!strchr ("abcdefghijklmnopqrstuvwxyz0123456789_.", k[i]))
      return false;
  return true;
}

/* One "KEY VALUE" line into e; false if it is not one. */
static bool
parse_line (const char *line, struct stats_entry *e)
{
  const char *sp = strchr (line, ' ');
  char *end;

  if (sp == NULL || !valid_key (line, sp - line) || sp[1] < '0' ||
      sp[1] > '9')
    return false;
  errno = 0;
  e->value = strtoull (sp + 1, &end, 10);
  if (errno || *end != '\0')
    return false;
  memcpy (e->key, line, sp - line);
  e->key[sp - line] = '\0';
  return true;
}

int
stats_read (const char *path, struct stats_snapshot *s, char *err,
            size_t errlen)
{
  FILE *f = fopen (path, "re");
  char *line = NULL;
  size_t cap = 0, alloc = 0;
  ssize_t len;
  bool first = true;

  memset (s, 0, sizeof *s);
  if (f == NULL) {
    snprintf (err, errlen, "%s: %s", path, strerror (errno));
    return -1;
  }
  while ((len = getline (&line, &cap, f)) > 0) {
    struct stats_entry e;
    if (line[len - 1] == '\n')
      line[len - 1] = '\0';
    if (first) {
      first = false;
      if (strcmp (line, STATS_MAGIC) != 0)
        break;
      continue;
    }
    if (!parse_line (line, &e))
      continue;
    if (strcmp (e.key, "pid") == 0)
      s->pid = e.value;
    else if (strcmp (e.key, "time_ns") == 0)
      s->time_ns = e.value;
    else {
      if (s->n == alloc) {
        size_t na = alloc ? 2 * alloc : 32;
        struct stats_entry *v = realloc (s->v, na * sizeof *v);
        if (v == NULL)
          break;
        s->v = v;
        alloc = na;
      }
      s->v[s->n++] = e;
    }
  }
  free (line);
  fclose (f);
  if (first || s->time_ns == 0) {
    snprintf (err, errlen, "%s: not a stats file (\"%s\")", path,
              STATS_MAGIC);
    stats_snapshot_free (s);
    return -1;
  }
  return 0;
}

bool
stats_get (const struct stats_snapshot *s, const char *key, uint64_t *value)
{
  for (size_t i = 0; i < s->n; i++)
    if (strcmp (s->v[i].key, key) == 0) {
      *value = s->v[i].value;
      return true;
    }
  return false;
}

void
stats_snapshot_free (struct stats_snapshot *s)
{
  free (s->v);
  s->v = NULL;
  s->n = 0;
}
