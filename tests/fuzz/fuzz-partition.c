/* libFuzzer target: arbitrary bytes as a disk with a partition table.
 *
 * The first byte is flags: bit 0 picks 4096-byte sectors instead of
 * 512; bit 1 has the GPT headers found at LBA 1 and at the last LBA
 * get correct CRCs (array first, then header) before the scan, so the
 * fuzzer gets past the CRC checks into the headers' fields and the
 * entries instead of only ever testing the CRC.  The rest is the disk.
 * Any crash, sanitizer report or hang is a bug.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "partition/crc32.h"
#include "partition/partition.h"
#include "partition/scan.h"

static void
put32 (uint8_t *p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    p[i] = v >> (8 * i);
}

/* Gives the header at lba correct CRCs, where it and its array fit. */
static void
fix_crcs (uint8_t *disk, size_t size, uint32_t ss, uint64_t lba)
{
  uint8_t *h = disk + lba * ss;
  uint32_t hsize, n, esize;
  uint64_t array;

  if (lba >= size / ss || memcmp (h, "EFI PART", 8) != 0)
    return;
  hsize = le32 (h + 12);
  array = le64 (h + 72);
  n = le32 (h + 80);
  esize = le32 (h + 84);
  if (hsize < 92 || hsize > ss)
    return;
  if ((uint64_t) n * esize <= size && array <= size / ss
      && (uint64_t) n * esize <= size - array * ss)
    put32 (h + 88, bw_crc32 (0, disk + array * ss, (size_t) n * esize));
  put32 (h + 16, 0);
  put32 (h + 16, bw_crc32 (0, h, hsize));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static struct part_table_info info;
  uint32_t ss;
  uint8_t *disk;
  char err[512];

  if (size < 1)
    return 0;
  ss = data[0] & 1 ? 4096 : 512;
  disk = malloc (size);
  if (disk == NULL)
    return 0;
  memcpy (disk, data + 1, size - 1);
  size--;
  if (data[0] & 2 && size / ss > 0) {
    fix_crcs (disk, size, ss, 1);
    fix_crcs (disk, size, ss, size / ss - 1);
  }
  part_scan_buffer (disk, size, ss, &info, err, sizeof err);
  free (disk);
  return 0;
}
