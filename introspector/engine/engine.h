/* The introspector for one disk: tap records in, file events out.
 *
 * It finds the partitions and the ext2/3/4 file systems on them,
 * routes each record to the file systems it touches, and at each
 * barrier (the tap's FLUSH, or the stream's end) has them reconcile.
 * Lost records (an overflow, or a plugin instance that ended without
 * its end record) become an overflow event and a resync of every file
 * system.  The same engine runs online (the disk is the storage the
 * proxy writes) and offline (a scratch copy of a base image, to which
 * the engine applies each record itself).
 */
#ifndef BLOCKWATCH_ENGINE_H
#define BLOCKWATCH_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "disk/reader.h"
#include "events/event.h"
#include "partition/partition.h"
#include "tap/tap-reader.h"

struct engine_cfg {
  struct bw_sink *sink;
  const char *host, *vm, *disk;
  /* Offline (replay): the disk is a scratch copy of a trace's base, and
   * its records' stamps are history, not a race with the crawl.
   */
  bool offline;
  /* Offline: write each record's bytes into the disk first (else the
   * caller does, as replay --ahead does, before the engine sees them).
   */
  bool apply;
  /* Messages for people (progress, file systems found, refusals). */
  void (*log) (void *opaque, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
  void *opaque;
  /* Crawl progress, for people: where it goes (NULL: to log).  It is
   * said at most once a second, and only for crawls that last longer
   * than that, unless progress_always: then every crawl's end is said.
   */
  void (*progress) (void *opaque, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
  bool progress_always;
  /* How many bytes of each write event's data the sink wants: 0 for
   * none, UINT64_MAX for all.  Data not wanted is not read.
   */
  uint64_t data_max;
  /* Events from home-location writes only, not from the journal's
   * commits (for comparison, and a way out should the journal reader
   * ever be wrong).
   */
  bool no_journal;
  /* Online, the storage may already hold what records the engine has
   * not handled yet wrote (the plugin writes the storage first and
   * announces the record after).  If set, the file systems are read as
   * of the records handled where they know it: the last handled writes
   * are kept (disk/reader-exact.h), up to these bytes of metadata
   * blocks and of data blocks, each file system (0: the default;
   * engine_exact_size checks what people give).
   */
  bool ahead;
  uint64_t exact_meta_bytes, exact_data_bytes;
  /* Each file system's model, at most this many bytes (0: no bound):
   * one that takes more, at its crawl or later, is not followed from
   * then on, and an overflow event says so (docs/events.md).
   */
  uint64_t model_max;
  /* Crawl progress, for metrics: inodes scanned so far of the file
   * system being crawled, called every so many inodes and at its end.
   */
  void (*crawl_progress) (void *opaque, uint64_t done, uint64_t total);
  void *crawl_opaque;
};

struct engine;

struct engine *engine_open (struct bw_reader *disk,
                            const struct engine_cfg *cfg,
                            char *err, size_t errlen);
/* One item of a tap stream or trace (header or record).  -1 with err on
 * a stream that breaks the tap's rules (a silent gap) or an I/O error.
 */
int engine_item (struct engine *e, const struct tap_item *it,
                 char *err, size_t errlen);
/* What applying a record means (cfg.apply): its bytes, or zeroes, at
 * its place on disk; a trim that does not read back as zeroes, and
 * records without data, change nothing.
 */
int engine_apply (struct bw_reader *disk, const struct tap_record *r,
                  const void *payload, char *err, size_t errlen);

/* The end of input: a last reconcile. */
void engine_finish (struct engine *e);

/* Events may have been lost before this run began (an earlier run
 * died before it delivered them): an overflow event (lost 0) now, and
 * a resync at the next barrier.
 */
void engine_lost_before (struct engine *e);
void engine_close (struct engine *e);

/* How many file systems are watched. */
int engine_filesystems (const struct engine *e);

/* What the bootstrap found on the disk, for summaries. */
const struct part_table_info *engine_table (const struct engine *e);
struct ext4fs;
struct engine_part {
  int number;                 /* partition number, 0 = whole disk */
  uint64_t start, size;       /* bytes on the disk */
  const struct ext4fs *fs;    /* the file system followed, or NULL */
  bool refused;               /* an ext2/3/4 file system not followed */
  const char *why;            /* fs == NULL: why not */
};
/* Partition i (from 0) of what engine_table lists, or of the whole
 * disk; false past the last.
 */
bool engine_part (const struct engine *e, int i, struct engine_part *p);

/* A bound of the kept writes (engine_cfg.exact_*_bytes) as people give
 * it: bytes, with K, M or G (powers of 1024), EXT4_EXACT_MIN to
 * EXT4_EXACT_MAX.  -1 with msg saying what is expected if it is not.
 */
int engine_exact_size (const char *v, uint64_t *bytes, char *msg,
                       size_t len);
/* The same for engine_cfg.model_max: ENGINE_MODEL_MIN to
 * ENGINE_MODEL_MAX, with K, M, G or T.
 */
#define ENGINE_MODEL_MIN ((uint64_t) 1 << 20)
#define ENGINE_MODEL_MAX ((uint64_t) 1 << 40)
int engine_model_size (const char *v, uint64_t *bytes, char *msg,
                       size_t len);

/* Totals over the watched file systems (benchmarks, logs). */
struct ext4_stats;
void engine_stats (const struct engine *e, struct ext4_stats *sum);
/* The deepest owner map of the watched file systems (ext4_owner_depth). */
uint32_t engine_owner_depth (const struct engine *e);

#endif /* BLOCKWATCH_ENGINE_H */
