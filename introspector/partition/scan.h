/* What the table parsers of this directory share (partition.c, mbr.c,
 * gpt.c, utf16.c).  Callers use partition.h.
 */
#ifndef BLOCKWATCH_PARTITION_SCAN_H
#define BLOCKWATCH_PARTITION_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "partition/partition.h"

/* One scan of one disk. */
struct part_scan_ctx {
  struct bw_reader *disk;
  uint32_t ss;                /* sector size: a power of two, 512..65536 */
  uint64_t sectors;           /* whole sectors on the disk */
  struct part_table_info *out;
  bool full;                  /* PART_MAX listed, and noted */
};

/* Appends a table-level note ("; " between notes; "..." ends a note
 * that had to be cut).
 */
void part_note (struct part_table_info *out, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

/* True if n sectors from lba lie on the disk. */
static inline bool
part_fits (const struct part_scan_ctx *s, uint64_t lba, uint64_t n)
{
  return lba <= s->sectors && n <= s->sectors - lba;
}

/* Lists a partition (lba and n in sectors, already checked to fit).
 * NULL when PART_MAX are listed already; the note says so once.
 */
struct part *part_add (struct part_scan_ctx *s, int number, uint64_t lba,
                       uint64_t n);

/* The boot sector (its first 512 bytes) as a DOS partition table. */
#define MBR_SIZE 512
bool mbr_has_signature (const uint8_t *sec);
bool mbr_is_protective (const uint8_t *sec);
bool mbr_is_hybrid (const uint8_t *sec);
bool mbr_is_empty (const uint8_t *sec);
bool mbr_boot_flags_valid (const uint8_t *sec);
int mbr_scan (struct part_scan_ctx *s, const uint8_t *mbr,
              char *err, size_t errlen);

int gpt_scan (struct part_scan_ctx *s, char *err, size_t errlen);

/* n UTF-16LE code units at src (up to a NUL) as a NUL-terminated,
 * valid UTF-8 string in dst[dstlen], dstlen >= 1: unpaired surrogates
 * and control characters become U+FFFD, and a character that does not
 * fit whole ends the string.
 */
void part_utf16le_to_utf8 (char *dst, size_t dstlen, const uint8_t *src,
                           size_t n);

static inline uint16_t
le16 (const uint8_t *p)
{
  return p[0] | p[1] << 8;
}

static inline uint32_t
le32 (const uint8_t *p)
{
  return (uint32_t) le16 (p) | (uint32_t) le16 (p + 2) << 16;
}

static inline uint64_t
le64 (const uint8_t *p)
{
  return (uint64_t) le32 (p) | (uint64_t) le32 (p + 4) << 32;
}

#endif /* BLOCKWATCH_PARTITION_SCAN_H */
