/* Stats files: how the plugin (stats=PATH) and the introspector
 * (blockwatch watch --stats-file PATH) show their counters to
 * blockwatchd, which serves them as Prometheus metrics, and to people
 * (`cat`).  Both ends of the tap use it, so it lives with what they
 * share.  Format (docs/appliance.md, "Stats files"):
 *
 *   blockwatch-stats 1
 *   pid 1234
 *   time_ns 1795435200123456789
 *   requests.write 42
 *   ...
 *
 * one "KEY VALUE" line each, KEY of [a-z0-9_.], VALUE an unsigned
 * decimal integer.  The writer replaces the whole file (a temporary
 * file renamed over it), so a reader sees one complete version, never
 * a mix of two.
 */
#ifndef BLOCKWATCH_STATS_FILE_H
#define BLOCKWATCH_STATS_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATS_KEY_MAX 64

struct stats_writer {
  char *path, *tmp;
  char buf[8192];
  size_t len;
};

/* 0, or -1 with err (out of memory).  Writes nothing yet. */
int stats_writer_init (struct stats_writer *w, const char *path,
                       char *err, size_t errlen);
/* Starts a new version: the format line, pid and time. */
void stats_writer_begin (struct stats_writer *w);
void stats_writer_add (struct stats_writer *w, const char *key,
                       uint64_t value);
/* Replaces the file with what was added since begin.  -1 with err. */
int stats_writer_commit (struct stats_writer *w, char *err, size_t errlen);
/* Frees; removes the file too if asked (a clean exit leaves none). */
void stats_writer_close (struct stats_writer *w, bool remove);

struct stats_entry {
  char key[STATS_KEY_MAX + 1];
  uint64_t value;
};

struct stats_snapshot {
  uint64_t pid, time_ns;
  struct stats_entry *v;
  size_t n;
};

/* Reads a stats file.  -1 with err when it is missing, or is not a
 * stats file of this version; lines that break the format are skipped.
 */
int stats_read (const char *path, struct stats_snapshot *s,
                char *err, size_t errlen);
/* The value of key, or false if the snapshot has none. */
bool stats_get (const struct stats_snapshot *s, const char *key,
                uint64_t *value);
void stats_snapshot_free (struct stats_snapshot *s);

#endif /* BLOCKWATCH_STATS_FILE_H */
