/* Partition tables: where the file systems on a disk are.
 *
 * MBR with its extended/logical chain (EBRs), GPT (primary header and
 * entry array with their CRCs, falling back to the backup header), or
 * no table at all (a whole-disk file system).  Everything read is
 * hostile: loops in the EBR chain, entries outside the disk, absurd
 * sizes and counts are refused with a message, never followed.
 */
#ifndef BLOCKWATCH_PARTITION_H
#define BLOCKWATCH_PARTITION_H

#include <stddef.h>
#include <stdint.h>

#include "disk/reader.h"

#define PART_MAX 128

enum part_table { PART_NONE, PART_MBR, PART_GPT };

/* One partition that may hold a file system.  MBR extended partitions
 * are containers, not listed themselves: their logical partitions are.
 */
struct part {
  int number;                 /* as Linux numbers them: MBR 1-4 primary,
                               * 5.. logical; GPT entry index + 1 */
  uint64_t start, size;       /* bytes */
  uint8_t mbr_type;           /* MBR: partition type byte */
  uint8_t gpt_type[16];       /* GPT: type GUID, on-disk byte order */
  char name[72];              /* GPT name as valid UTF-8 (may be empty;
                               * control characters and broken UTF-16
                               * become U+FFFD; cut at a character
                               * boundary if it does not fit) */
};

struct part_table_info {
  enum part_table table;
  int count;
  struct part parts[PART_MAX];
  /* Table-level notes worth an event or a log line, e.g. "GPT primary
   * header damaged, backup used".  Empty if none.
   */
  char note[160];
};

/* Reads the partition table of disk.  0 on success (a disk without a
 * table is success with PART_NONE); -1 with err when a table is there
 * but cannot be trusted at all, or the disk cannot be read.  Entries
 * that cannot be trusted (outside the disk, the extended partition or
 * GPT's usable LBAs; EBR loops; more than PART_MAX) are left out, each
 * with a word in note.  How a table is told from a whole-disk file
 * system: see partition.c.
 */
int part_scan (struct bw_reader *disk, struct part_table_info *out,
               char *err, size_t errlen);

/* Scans a table from memory: len bytes at buf are the whole disk (the
 * fuzz target, and re-checks when the tap shows the table's sectors
 * being written).
 */
int part_scan_buffer (const void *buf, size_t len, uint32_t sector_size,
                      struct part_table_info *out, char *err, size_t errlen);

/* "none", "mbr", "gpt" */
const char *part_table_name (enum part_table t);

#endif /* BLOCKWATCH_PARTITION_H */
