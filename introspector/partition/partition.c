/* Which table a disk has, if any (see partition.h).
 *
 * The rules, in order, for what sector 0 and the bytes after it mean:
 *
 *  1. A plausible ext2/3/4 superblock at byte 1024 means a whole-disk
 *     file system: no table (PART_NONE), even if a 0x55AA signature or
 *     a GPT is still in sectors 0-1 (with a note).  Today mke2fs and
 *     fdisk each wipe the other's signature, so both are there only
 *     after a tool that wiped nothing, or a guest that wants to
 *     confuse us; we side with the file system, as what sits at byte
 *     1024 of a live table (boot code, GPT entries) does not pass for
 *     a superblock by accident: magic, revision, block size, non-zero
 *     counts and a size that fits the disk must all hold.
 *  2. No 0x55AA at byte 510: no table.  Linux wants the signature too,
 *     for GPT as well (in the protective MBR), so a Linux guest sees no
 *     table there either.
 *  3. An entry of type 0xEE: GPT.  Other entries beside it (a hybrid
 *     MBR) are ignored, as Linux does, with a note.
 *  4. A boot indicator other than 0x00 or 0x80: some other boot sector,
 *     not a table (Linux's rule).
 *  5. A FAT boot sector (a BPB) whose entries are all empty: a
 *     "superfloppy", a whole-disk FAT file system, not a table.
 *  6. Otherwise an MBR, even with no partitions (a fresh table).
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "disk/reader-mem.h"
#include "scan.h"

#define SB_OFFSET 1024            /* ext superblock */
#define SB_END (SB_OFFSET + 0x154) /* the fields read below */
#define EXT_MAGIC 0xef53
#define EXT_INCOMPAT_64BIT 0x80

/* sb is the 1024 bytes at SB_OFFSET. */
static bool
is_ext_superblock (const uint8_t *sb, uint64_t disk_size)
{
  uint32_t log_bs = le32 (sb + 0x18);
  uint64_t blocks = le32 (sb + 0x04);

  if (le16 (sb + 0x38) != EXT_MAGIC || le32 (sb + 0x4c) > 1 || log_bs > 6
      || le32 (sb + 0x00) == 0 || le32 (sb + 0x20) == 0
      || le32 (sb + 0x28) == 0)
    return false;
  if (le32 (sb + 0x60) & EXT_INCOMPAT_64BIT)
    blocks |= (uint64_t) le32 (sb + 0x150) << 32;
  return blocks > 0 && blocks <= disk_size >> (10 + log_bs);
}

/* A FAT BIOS parameter block: jump, sector size, cluster size, FATs,
 * media byte all as mkfs.fat and DOS write them.
 */
static bool
is_fat_boot_sector (const uint8_t *sec)
{
  uint16_t bps = le16 (sec + 0x0b);
  uint8_t spc = sec[0x0d], media = sec[0x15];

  return (sec[0] == 0xe9 || (sec[0] == 0xeb && sec[2] == 0x90))
    && bps >= 512 && bps <= 4096 && (bps & (bps - 1)) == 0
    && spc != 0 && (spc & (spc - 1)) == 0
    && le16 (sec + 0x0e) != 0
    && (sec[0x10] == 1 || sec[0x10] == 2)
    && (media == 0xf0 || media >= 0xf8);
}

void
part_note (struct part_table_info *out, const char *fmt, ...)
{
  const size_t size = sizeof out->note;
  size_t used = strlen (out->note), cut;
  char msg[256];
  va_list ap;
  int n;

  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  n = snprintf (out->note + used, size - used, "%s%s", used ? "; " : "",
                msg);
  if (used + n < size)
    return;
  /* Cut: "..." says there was more, placed on a character boundary so
   * the note stays valid UTF-8 (error texts may carry file names).
   */
  cut = size - 4;
  while (cut > 0 && (out->note[cut] & 0xc0) == 0x80)
    cut--;
  memcpy (out->note + cut, "...", 4);
}

struct part *
part_add (struct part_scan_ctx *s, int number, uint64_t lba, uint64_t n)
{
  struct part *p;

  if (s->out->count == PART_MAX) {
    if (!s->full)
      part_note (s->out, "more than %d partitions; the rest are ignored",
                 PART_MAX);
    s->full = true;
    return NULL;
  }
  p = &s->out->parts[s->out->count++];
  memset (p, 0, sizeof *p);
  p->number = number;
  p->start = lba * s->ss;
  p->size = n * s->ss;
  return p;
}

int
part_scan (struct bw_reader *disk, struct part_table_info *out,
           char *err, size_t errlen)
{
  struct part_scan_ctx s = {
    .disk = disk, .ss = disk->sector_size, .out = out,
  };
  uint8_t head[2048];
  size_t n;

  memset (out, 0, sizeof *out);
  if (s.ss < 512 || s.ss > 65536 || (s.ss & (s.ss - 1)) != 0) {
    snprintf (err, errlen, "sector size %u is not a power of two from 512 "
              "to 65536", s.ss);
    return -1;
  }
  s.sectors = disk->size / s.ss;
  if (disk->size < MBR_SIZE)
    return 0;                   /* too small for any table */
  n = disk->size < sizeof head ? disk->size : sizeof head;
  if (bw_pread (disk, head, n, 0, err, errlen) == -1)
    return -1;

  if (n >= SB_END && is_ext_superblock (head + SB_OFFSET, disk->size)) {
    if (mbr_has_signature (head))
      part_note (out, "ext superblock at byte 1024: whole-disk file "
                 "system; the table in sector 0 is stale");
    return 0;
  }
  if (!mbr_has_signature (head))
    return 0;
  if (mbr_is_protective (head)) {
    int r = gpt_scan (&s, err, errlen);

    if (r == 0 && mbr_is_hybrid (head))
      part_note (out, "hybrid MBR: its other entries are ignored");
    return r;
  }
  if (!mbr_boot_flags_valid (head)) {
    part_note (out, "boot sector with 0x55AA but invalid boot indicators: "
               "not a partition table");
    return 0;
  }
  if (is_fat_boot_sector (head) && mbr_is_empty (head)) {
    part_note (out, "FAT boot sector without partitions: whole-disk file "
               "system");
    return 0;
  }
  return mbr_scan (&s, head, err, errlen);
}

int
part_scan_buffer (const void *buf, size_t len, uint32_t sector_size,
                  struct part_table_info *out, char *err, size_t errlen)
{
  struct bw_reader *r = bw_reader_open_memory (buf, len, sector_size,
                                               err, errlen);
  int ret;

  if (r == NULL) {
    memset (out, 0, sizeof *out);
    return -1;
  }
  ret = part_scan (r, out, err, errlen);
  bw_reader_close (r);
  return ret;
}

const char *
part_table_name (enum part_table t)
{
  switch (t) {
  case PART_MBR: return "mbr";
  case PART_GPT: return "gpt";
  case PART_NONE: break;
  }
  return "none";
}
