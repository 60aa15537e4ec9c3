/* Partition tables: MBR primaries and EBR chains, GPT with its CRCs and
 * backup header, the rules that tell a table from a whole-disk file
 * system, and hostile tables (loops, entries off the disk, absurd
 * counts) refused with a note or an error instead of followed.  Every
 * table is built in memory, byte by byte, as the specs lay it out.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "disk/reader-mem.h"
#include "partition/crc32.h"
#include "partition/partition.h"
#include "partition/scan.h"

#define MiB (1024 * 1024)

static struct part_table_info t;
static char err[512];

static void
put32 (uint8_t *p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    p[i] = v >> (8 * i);
}

static void
put64 (uint8_t *p, uint64_t v)
{
  put32 (p, v);
  put32 (p + 4, v >> 32);
}

static uint8_t *
new_disk (size_t bytes)
{
  uint8_t *d = calloc (1, bytes);

  assert_non_null (d);
  return d;
}

static int
scan (const uint8_t *disk, size_t len, uint32_t ss)
{
  err[0] = '\0';
  return part_scan_buffer (disk, len, ss, &t, err, sizeof err);
}

/* Fills entry slot (0-3) of the boot sector at sec, and its signature. */
static void
mbr_entry (uint8_t *sec, int slot, uint8_t type, uint32_t start,
           uint32_t size)
{
  uint8_t *p = sec + 0x1be + 16 * slot;

  p[0] = 0;
  p[4] = type;
  put32 (p + 8, start);
  put32 (p + 12, size);
  sec[510] = 0x55;
  sec[511] = 0xaa;
}

static void
assert_part (int i, int number, uint64_t start, uint64_t size)
{
  assert_true (i < t.count);
  assert_int_equal (t.parts[i].number, number);
  assert_int_equal (t.parts[i].start, start);
  assert_int_equal (t.parts[i].size, size);
}

static void
assert_note (const char *what)
{
  if (strstr (t.note, what) == NULL)
    fail_msg ("note \"%s\" does not mention \"%s\"", t.note, what);
}

static void
assert_err (const char *what)
{
  if (strstr (err, what) == NULL)
    fail_msg ("error \"%s\" does not mention \"%s\"", err, what);
}

/* GPT: a protective MBR, the primary header at LBA 1 with nent entries
 * at LBA 2, the backup array just before the backup header at the
 * last LBA.
 */
#define ESIZE 128
static uint32_t nent = 128;

struct gent {
  int index;
  uint64_t first, last;
  const char *name;             /* ASCII, or NULL */
};

static const uint8_t linux_fs[16] = {
  0xaf, 0x3d, 0xc6, 0x0f, 0x83, 0x84, 0x72, 0x47,
  0x8e, 0x79, 0x3d, 0x69, 0xd8, 0x47, 0x7d, 0xe4,
};

static uint64_t
array_sectors (uint32_t ss)
{
  return (nent * ESIZE + ss - 1) / ss;
}

/* Recomputes the header CRC of the header at h after an edit. */
static void
rehash (uint8_t *h)
{
  uint32_t hsize = h[12] | h[13] << 8;

  put32 (h + 16, 0);
  put32 (h + 16, bw_crc32 (0, h, hsize));
}

static void
gpt_header (uint8_t *d, uint32_t ss, uint64_t sectors, uint64_t lba,
            uint64_t alt, uint64_t array_lba)
{
  uint8_t *h = d + lba * ss;

  memset (h, 0, ss);
  memcpy (h, "EFI PART", 8);
  put32 (h + 8, 0x00010000);
  put32 (h + 12, 92);
  put64 (h + 24, lba);
  put64 (h + 32, alt);
  put64 (h + 40, 2 + array_sectors (ss));
  put64 (h + 48, sectors - 2 - array_sectors (ss));
  memset (h + 56, 0x42, 16);    /* disk GUID */
  put64 (h + 72, array_lba);
  put32 (h + 80, nent);
  put32 (h + 84, ESIZE);
  put32 (h + 88, bw_crc32 (0, d + array_lba * ss, nent * ESIZE));
  rehash (h);
}

static void
gpt_entry (uint8_t *array, const struct gent *g)
{
  uint8_t *e = array + g->index * ESIZE;

  memcpy (e, linux_fs, 16);
  memset (e + 16, g->index + 1, 16);     /* unique GUID */
  put64 (e + 32, g->first);
  put64 (e + 40, g->last);
  for (int i = 0; g->name && g->name[i]; i++)
    e[56 + 2 * i] = g->name[i];
}

static void
gpt_build (uint8_t *d, uint32_t ss, uint64_t sectors, const struct gent *g,
           int n)
{
  uint64_t last = sectors - 1, backup_array = last - array_sectors (ss);

  mbr_entry (d, 0, 0xee, 1, sectors - 1);
  for (int i = 0; i < n; i++) {
    gpt_entry (d + 2 * ss, &g[i]);
    gpt_entry (d + backup_array * ss, &g[i]);
  }
  gpt_header (d, ss, sectors, 1, last, 2);
  gpt_header (d, ss, sectors, last, 1, backup_array);
}

static const struct gent two[] = {
  { 0, 34, 133, "root" },
  { 2, 200, 299, NULL },
};

static void
crc32_vectors (void **state)
{
  const char *fox = "The quick brown fox jumps over the lazy dog";

  (void) state;
  assert_int_equal (bw_crc32 (0, "123456789", 9), 0xcbf43926);
  assert_int_equal (bw_crc32 (0, "", 0), 0);
  assert_int_equal (bw_crc32 (0, "a", 1), 0xe8b7be43);
  assert_int_equal (bw_crc32 (0, fox, strlen (fox)), 0x414fa339);
  /* Continued over pieces, as zlib's. */
  assert_int_equal (bw_crc32 (bw_crc32 (0, fox, 10), fox + 10,
                              strlen (fox) - 10), 0x414fa339);
}

static void
no_table (void **state)
{
  uint8_t *d = new_disk (MiB);

  (void) state;
  assert_int_equal (scan (d, MiB, 512), 0);
  assert_int_equal (t.table, PART_NONE);
  assert_int_equal (t.count, 0);
  assert_string_equal (t.note, "");
  /* Too small for a table, or nothing at all. */
  mbr_entry (d, 0, 0x83, 1, 1);
  assert_int_equal (scan (d, 511, 512), 0);
  assert_int_equal (t.table, PART_NONE);
  assert_int_equal (scan (NULL, 0, 512), 0);
  assert_int_equal (t.table, PART_NONE);
  /* A sector size no disk has. */
  assert_int_equal (scan (d, MiB, 1000), -1);
  assert_err ("sector size 1000");
  assert_int_equal (scan (d, MiB, 256), -1);
  assert_string_equal (part_table_name (PART_NONE), "none");
  assert_string_equal (part_table_name (PART_MBR), "mbr");
  assert_string_equal (part_table_name (PART_GPT), "gpt");
  free (d);
}

static void
mbr_primaries (void **state)
{
  uint8_t *d = new_disk (MiB);

  (void) state;
  /* A signature and nothing else: a freshly made, empty table. */
  d[510] = 0x55; d[511] = 0xaa;
  assert_int_equal (scan (d, MiB, 512), 0);
  assert_int_equal (t.table, PART_MBR);
  assert_int_equal (t.count, 0);

  mbr_entry (d, 0, 0x83, 2048 - 1024, 100);
  mbr_entry (d, 1, 0x83, 1500, 0);         /* zero size: unused */
  mbr_entry (d, 2, 0x07, 1200, 848);       /* ends at the last sector */
  assert_int_equal (scan (d, MiB, 512), 0);
  assert_int_equal (t.table, PART_MBR);
  assert_int_equal (t.count, 2);
  assert_part (0, 1, 1024 * 512, 100 * 512);
  assert_part (1, 3, 1200 * 512, 848 * 512);
  assert_int_equal (t.parts[0].mbr_type, 0x83);
  assert_int_equal (t.parts[1].mbr_type, 0x07);
  assert_string_equal (t.note, "");
  free (d);
}

static void
mbr_outside_disk (void **state)
{
  uint8_t *d = new_disk (MiB);     /* 2048 sectors */

  (void) state;
  mbr_entry (d, 0, 0x83, 2048, 1);         /* starts past the end */
  mbr_entry (d, 1, 0x83, 2000, 49);        /* runs one sector past */
  mbr_entry (d, 2, 0x05, 1000, 0xffffffff); /* extended, far past */
  mbr_entry (d, 3, 0x83, 100, 100);
  assert_int_equal (scan (d, MiB, 512), 0);
  assert_int_equal (t.table, PART_MBR);
  assert_int_equal (t.count, 1);
  assert_part (0, 4, 100 * 512, 100 * 512);
  /* Three notes do not fit: the last is cut, and says so. */
  assert_note ("partition 1 (sectors 2048+1) lies outside the disk");
  assert_note ("partition 2 (sectors 2000+49)");
  assert_int_equal (strlen (t.note), sizeof t.note - 1);
  assert_string_equal (t.note + sizeof t.note - 4, "...");
  free (d);
}

/* 8 MiB: a primary, then an extended partition at 4096..12287 with
 * three logicals, one EBR each, links of all three extended types.
 */
static uint8_t *
three_logicals (void)
{
  uint8_t *d = new_disk (8 * MiB);

  mbr_entry (d, 0, 0x83, 2048, 1024);
  mbr_entry (d, 1, 0x0f, 4096, 8192);
  mbr_entry (d + 4096 * 512, 0, 0x83, 1, 1000);      /* 5: 4097 */
  mbr_entry (d + 4096 * 512, 1, 0x05, 2048, 2048);   /* -> 6144 */
  mbr_entry (d + 6144 * 512, 0, 0x0c, 1, 1000);      /* 6: 6145 */
  mbr_entry (d + 6144 * 512, 1, 0x85, 4096, 4096);   /* -> 8192 */
  mbr_entry (d + 8192 * 512, 0, 0x83, 2, 3000);      /* 7: 8194 */
  return d;
}

static void
mbr_logicals (void **state)
{
  uint8_t *d = three_logicals ();

  (void) state;
  assert_int_equal (scan (d, 8 * MiB, 512), 0);
  assert_int_equal (t.table, PART_MBR);
  assert_int_equal (t.count, 4);
  assert_part (0, 1, 2048 * 512, 1024 * 512);
  assert_part (1, 5, 4097 * 512, 1000 * 512);
  assert_part (2, 6, 6145 * 512, 1000 * 512);
  assert_part (3, 7, 8194 * 512, 3000 * 512);
  assert_int_equal (t.parts[2].mbr_type, 0x0c);
  assert_string_equal (t.note, "");
  free (d);
}

static void
ebr_loops (void **state)
{
  uint8_t *d = three_logicals ();

  (void) state;
  /* The last EBR links back to the second. */
  mbr_entry (d + 8192 * 512, 1, 0x05, 2048, 2048);
  assert_int_equal (scan (d, 8 * MiB, 512), 0);
  assert_int_equal (t.count, 4);
  assert_note ("loops back to sector 6144");
  /* The first EBR links to itself (start 0). */
  mbr_entry (d + 4096 * 512, 1, 0x05, 0, 8192);
  assert_int_equal (scan (d, 8 * MiB, 512), 0);
  assert_int_equal (t.count, 2);
  assert_part (1, 5, 4097 * 512, 1000 * 512);
  assert_note ("loops back to sector 4096");
  free (d);
}

static void
ebr_outside_extended (void **state)
{
  uint8_t *d = three_logicals ();

  (void) state;
  /* Logical 6 runs past the extended partition (it ends at 12287):
   * refused, but 7 keeps its number.
   */
  mbr_entry (d + 6144 * 512, 0, 0x83, 1, 6144);
  assert_int_equal (scan (d, 8 * MiB, 512), 0);
  assert_int_equal (t.count, 3);
  assert_part (1, 5, 4097 * 512, 1000 * 512);
  assert_part (2, 7, 8194 * 512, 3000 * 512);
  assert_note ("logical partition 6 (sectors 6145+6144) lies outside "
               "extended partition 2");
  /* A link past the end of the extended partition stops the chain. */
  mbr_entry (d + 6144 * 512, 1, 0x05, 8192, 1);
  assert_int_equal (scan (d, 8 * MiB, 512), 0);
  assert_int_equal (t.count, 2);
  assert_note ("links outside extended partition 2");
  /* So does a link that is not of an extended type... */
  mbr_entry (d + 4096 * 512, 1, 0x83, 2048, 2048);
  assert_int_equal (scan (d, 8 * MiB, 512), 0);
  assert_int_equal (t.count, 2);
  assert_note ("second entry is type 0x83");
  /* ...and an EBR without its signature. */
  mbr_entry (d + 4096 * 512, 1, 0x05, 2048, 2048);
  d[6144 * 512 + 511] = 0;
  assert_int_equal (scan (d, 8 * MiB, 512), 0);
  assert_int_equal (t.count, 2);
  assert_note ("EBR at sector 6144 has no 0x55AA signature");
  free (d);
}

static void
ebr_long_chains (void **state)
{
  const size_t size = 2048 * 512;
  uint8_t *d = new_disk (size);

  (void) state;
  /* 1000 EBRs, one a sector, each with a one-sector logical after it
   * and a link to the next: no more than PART_MAX EBRs are read.
   */
  mbr_entry (d, 0, 0x05, 2, 2046);
  for (uint32_t i = 0; i < 1000; i++) {
    mbr_entry (d + (2 + 2 * i) * 512, 0, 0x83, 1, 1);
    mbr_entry (d + (2 + 2 * i) * 512, 1, 0x05, 2 * (i + 1), 2);
  }
  assert_int_equal (scan (d, size, 512), 0);
  assert_int_equal (t.count, PART_MAX);
  assert_part (PART_MAX - 1, 4 + PART_MAX, (2 + 2 * 127 + 1) * 512, 512);
  assert_note ("more than 128 EBRs");
  /* With a primary too, the list is full one logical earlier. */
  mbr_entry (d, 1, 0x83, 1, 1);
  assert_int_equal (scan (d, size, 512), 0);
  assert_int_equal (t.count, PART_MAX);
  assert_part (0, 2, 512, 512);
  assert_part (PART_MAX - 1, 3 + PART_MAX, (2 + 2 * 126 + 1) * 512, 512);
  assert_note ("more than 128 partitions");
  /* Links only: the chain is cut after PART_MAX EBRs all the same. */
  for (uint32_t i = 0; i < 1000; i++)
    memset (d + (2 + 2 * i) * 512 + 0x1be, 0, 16);
  assert_int_equal (scan (d, size, 512), 0);
  assert_int_equal (t.count, 1);
  assert_note ("more than 128 EBRs");
  free (d);
}

/* An ext4 superblock at byte 1024, as mke2fs writes it for a file
 * system of blocks 4 KiB blocks.
 */
static void
ext_superblock (uint8_t *d, uint32_t blocks)
{
  uint8_t *sb = d + 1024;

  put32 (sb + 0x00, 256);          /* inodes */
  put32 (sb + 0x04, blocks);
  put32 (sb + 0x18, 2);            /* 4 KiB blocks */
  put32 (sb + 0x20, 32768);        /* blocks per group */
  put32 (sb + 0x28, 256);          /* inodes per group */
  sb[0x38] = 0x53; sb[0x39] = 0xef;
  put32 (sb + 0x4c, 1);            /* dynamic revision */
}

static void
whole_disk_ext (void **state)
{
  uint8_t *d = new_disk (MiB);

  (void) state;
  ext_superblock (d, 256);
  assert_int_equal (scan (d, MiB, 512), 0);
  assert_int_equal (t.table, PART_NONE);
  assert_string_equal (t.note, "");
  /* A table left in sector 0 from before mkfs is stale. */
  mbr_entry (d, 0, 0x83, 2048, 2048);
  assert_int_equal (scan (d, MiB, 512), 0);
  assert_int_equal (t.table, PART_NONE);
  assert_note ("whole-disk file system");
  /* Bytes that only look like a superblock do not hide a table: too
   * big for the disk, block size 2^30, revision 7.
   */
  mbr_entry (d, 0, 0x83, 100, 100);
  ext_superblock (d, 257);
  assert_int_equal (scan (d, MiB, 512), 0);
  assert_int_equal (t.table, PART_MBR);
  assert_int_equal (t.count, 1);
  ext_superblock (d, 256);
  put32 (d + 1024 + 0x18, 20);
  assert_int_equal (scan (d, MiB, 512), 0);
  assert_int_equal (t.table, PART_MBR);
  ext_superblock (d, 256);
  put32 (d + 1024 + 0x4c, 7);
  assert_int_equal (scan (d, MiB, 512), 0);
  assert_int_equal (t.table, PART_MBR);
  free (d);
}

static void
other_boot_sectors (void **state)
{
  uint8_t *d = new_disk (MiB);

  (void) state;
  /* Boot code where the entries would be: boot indicators that are
   * neither 0x00 nor 0x80 mean this is no partition table.
   */
  mbr_entry (d, 0, 0x83, 100, 100);
  d[0x1be + 16] = 0x12;
  assert_int_equal (scan (d, MiB, 512), 0);
  assert_int_equal (t.table, PART_NONE);
  assert_note ("not a partition table");

  /* A FAT boot sector (superfloppy) with empty entries. */
  memset (d, 0, 512);
  d[0] = 0xeb; d[1] = 0x58; d[2] = 0x90;
  d[0x0b] = 0x00; d[0x0c] = 0x02;  /* 512 bytes a sector */
  d[0x0d] = 8;                     /* sectors a cluster */
  d[0x0e] = 32;                    /* reserved sectors */
  d[0x10] = 2;                     /* FATs */
  d[0x15] = 0xf8;                  /* media: fixed disk */
  d[510] = 0x55; d[511] = 0xaa;
  assert_int_equal (scan (d, MiB, 512), 0);
  assert_int_equal (t.table, PART_NONE);
  assert_note ("FAT boot sector");
  /* The same BPB with a partition in the table: an MBR. */
  mbr_entry (d, 0, 0x83, 100, 100);
  assert_int_equal (scan (d, MiB, 512), 0);
  assert_int_equal (t.table, PART_MBR);
  assert_int_equal (t.count, 1);
  free (d);
}

static void
gpt_good (void **state)
{
  uint8_t *d = new_disk (MiB);
  /* "Données 😀" in UTF-16LE: é is one unit, the emoji a pair. */
  static const uint8_t name[] = {
    'D', 0, 'o', 0, 'n', 0, 'n', 0, 0xe9, 0, 'e', 0, 's', 0, ' ', 0,
    0x3d, 0xd8, 0x00, 0xde,
  };

  (void) state;
  gpt_build (d, 512, 2048, two, 2);
  assert_int_equal (scan (d, MiB, 512), 0);
  assert_int_equal (t.table, PART_GPT);
  assert_int_equal (t.count, 2);
  assert_part (0, 1, 34 * 512, 100 * 512);
  assert_part (1, 3, 200 * 512, 100 * 512);
  assert_memory_equal (t.parts[0].gpt_type, linux_fs, 16);
  assert_string_equal (t.parts[0].name, "root");
  assert_string_equal (t.parts[1].name, "");
  assert_string_equal (t.note, "");

  /* A name beyond ASCII; array and both headers rewritten. */
  memcpy (d + 2 * 512 + 2 * ESIZE + 56, name, sizeof name);
  memcpy (d + (2047 - 32) * 512 + 2 * ESIZE + 56, name, sizeof name);
  gpt_header (d, 512, 2048, 1, 2047, 2);
  gpt_header (d, 512, 2048, 2047, 1, 2047 - 32);
  assert_int_equal (scan (d, MiB, 512), 0);
  assert_string_equal (t.parts[1].name, "Donn\xc3\xa9" "es \xf0\x9f\x98\x80");
  assert_string_equal (t.note, "");

  /* A hybrid MBR: the GPT wins, with a note. */
  mbr_entry (d, 1, 0x83, 34, 100);
  assert_int_equal (scan (d, MiB, 512), 0);
  assert_int_equal (t.table, PART_GPT);
  assert_int_equal (t.count, 2);
  assert_note ("hybrid MBR");
  free (d);
}

static void
gpt_damaged_primary (void **state)
{
  uint8_t *d = new_disk (MiB);

  (void) state;
  /* Header CRC: one byte of the disk GUID changed. */
  gpt_build (d, 512, 2048, two, 2);
  d[512 + 60] ^= 1;
  assert_int_equal (scan (d, MiB, 512), 0);
  assert_int_equal (t.table, PART_GPT);
  assert_int_equal (t.count, 2);
  assert_part (1, 3, 200 * 512, 100 * 512);
  assert_note ("GPT primary damaged (header CRC");
  assert_note ("backup at LBA 2047 used");

  /* Entry array CRC: a partition moved behind the header's back. */
  gpt_build (d, 512, 2048, two, 2);
  d[2 * 512 + 32] = 99;
  assert_int_equal (scan (d, MiB, 512), 0);
  assert_int_equal (t.count, 2);
  assert_part (0, 1, 34 * 512, 100 * 512);
  assert_note ("entry array CRC");
  assert_note ("backup at LBA 2047 used");

  /* No primary at all. */
  memset (d + 512, 0, 512);
  assert_int_equal (scan (d, MiB, 512), 0);
  assert_int_equal (t.count, 2);
  assert_note ("no GPT signature");

  /* Backup damaged too: nothing to trust. */
  d[2047 * 512 + 60] ^= 1;
  assert_int_equal (scan (d, MiB, 512), -1);
  assert_int_equal (t.count, 0);
  assert_err ("no usable GPT");
  assert_err ("primary: no GPT signature");
  assert_err ("backup at LBA 2047: header CRC");
  free (d);
}

static void
gpt_damaged_backup (void **state)
{
  uint8_t *d = new_disk (MiB);

  (void) state;
  gpt_build (d, 512, 2048, two, 2);
  memset (d + 2047 * 512, 0, 512);
  assert_int_equal (scan (d, MiB, 512), 0);
  assert_int_equal (t.count, 2);
  assert_note ("GPT backup at LBA 2047 damaged (no GPT signature)");
  free (d);
}

static void
gpt_backup_moved (void **state)
{
  uint8_t *d = new_disk (2 * MiB);

  (void) state;
  /* The disk grew from 1 to 2 MiB: the backup is where the primary
   * says (its alternate LBA), not at the end.
   */
  gpt_build (d, 512, 2048, two, 2);
  d[512 + 60] ^= 1;
  assert_int_equal (scan (d, 2 * MiB, 512), 0);
  assert_int_equal (t.count, 2);
  assert_note ("backup at LBA 2047 used");
  free (d);
}

/* Builds a good GPT, edits the primary header with edit, recomputes its
 * CRC, and expects the primary refused for why, the backup used.
 */
static void
refused (void (*edit) (uint8_t *h), const char *why)
{
  uint8_t *d = new_disk (MiB);

  gpt_build (d, 512, 2048, two, 2);
  edit (d + 512);
  rehash (d + 512);
  assert_int_equal (scan (d, MiB, 512), 0);
  assert_int_equal (t.count, 2);
  assert_note (why);
  assert_note ("backup at LBA 2047 used");
  /* And with the backup edited the same way, an error. */
  edit (d + 2047 * 512);
  rehash (d + 2047 * 512);
  assert_int_equal (scan (d, MiB, 512), -1);
  assert_err (why);
  free (d);
}

static void e_count (uint8_t *h) { put32 (h + 80, 0x10000000); }
static void e_count_big (uint8_t *h) { put32 (h + 80, 4097); }
static void e_array_big (uint8_t *h) { put32 (h + 80, 4096); put32 (h + 84, 4096); }
static void e_esize_small (uint8_t *h) { put32 (h + 84, 64); }
static void e_esize_odd (uint8_t *h) { put32 (h + 84, 132); }
static void e_esize_big (uint8_t *h) { put32 (h + 84, 8192); }
static void e_array_off (uint8_t *h) { put64 (h + 72, 2047 - 1); }
static void e_array_far (uint8_t *h) { put64 (h + 72, UINT64_MAX / 2); }
static void e_my_lba (uint8_t *h) { put64 (h + 24, 5); }
static void e_usable (uint8_t *h) { put64 (h + 48, 2048); }
static void e_usable_rev (uint8_t *h) { put64 (h + 40, 2000); put64 (h + 48, 1000); }
static void e_revision (uint8_t *h) { put32 (h + 8, 0x00020000); }
static void e_hsize_small (uint8_t *h) { put32 (h + 12, 91); }

static void
gpt_absurd_headers (void **state)
{
  (void) state;
  refused (e_count, "268435456 entries of 128 bytes are too many");
  refused (e_count_big, "4097 entries");
  refused (e_array_big, "4096 entries of 4096 bytes are too many");
  refused (e_esize_small, "entry size 64");
  refused (e_esize_odd, "entry size 132");
  refused (e_esize_big, "entry size 8192");
  refused (e_array_off, "runs past the end of the disk");
  refused (e_array_far, "runs past the end of the disk");
  refused (e_my_lba, "header says it is at LBA 5");
  refused (e_usable, "usable LBAs 34..2048 do not fit");
  refused (e_usable_rev, "usable LBAs 2000..1000");
  refused (e_revision, "revision 0x00020000");
  refused (e_hsize_small, "header size 91");
}

static void
gpt_header_bigger_than_sector (void **state)
{
  uint8_t *d = new_disk (MiB);

  (void) state;
  /* The CRC cannot even be computed: refused on the size alone. */
  gpt_build (d, 512, 2048, two, 2);
  put32 (d + 512 + 12, 513);
  assert_int_equal (scan (d, MiB, 512), 0);
  assert_note ("header size 513 is outside 92..512");
  free (d);
}

static void
gpt_entries_outside (void **state)
{
  uint8_t *d = new_disk (MiB);
  const struct gent bad[] = {
    { 0, 34, 133, NULL },
    { 1, 2000, 2047, NULL },    /* past the last usable LBA (2014) */
    { 2, 10, 133, NULL },       /* before the first (34) */
    { 3, 300, 200, NULL },      /* ends before it starts */
    { 4, 0, UINT64_MAX, NULL },
    { 127, 1000, 2014, NULL },  /* the last entry, up to the last LBA */
  };

  (void) state;
  gpt_build (d, 512, 2048, bad, 6);
  assert_int_equal (scan (d, MiB, 512), 0);
  assert_int_equal (t.count, 2);
  assert_part (0, 1, 34 * 512, 100 * 512);
  assert_part (1, 128, 1000 * 512, 1015 * 512);
  assert_note ("GPT partition 2 (LBA 2000..2047) lies outside the usable");
  assert_note ("GPT partition 3 ");
  free (d);
}

static void
gpt_many_entries (void **state)
{
  uint8_t *d = new_disk (MiB);
  struct gent g[200];

  (void) state;
  nent = 256;
  for (int i = 0; i < 200; i++)
    g[i] = (struct gent) { i, 100 + i, 100 + i, NULL };
  gpt_build (d, 512, 2048, g, 200);
  nent = 128;
  assert_int_equal (scan (d, MiB, 512), 0);
  assert_int_equal (t.count, PART_MAX);
  assert_part (PART_MAX - 1, PART_MAX, (100 + 127) * 512, 512);
  assert_note ("more than 128 partitions");
  free (d);
}

static void
gpt_tiny_disks (void **state)
{
  uint8_t *d = new_disk (4096);

  (void) state;
  /* A protective MBR on disks too small for anything behind it. */
  for (size_t len = 512; len <= 4096; len += 512) {
    mbr_entry (d, 0, 0xee, 1, 0xffffffff);
    assert_int_equal (scan (d, len, 512), -1);
    assert_err ("no usable GPT");
  }
  assert_int_equal (scan (d, 4096, 4096), -1);
  free (d);
}

static void
sectors_4k (void **state)
{
  const size_t size = 4 * MiB;           /* 1024 sectors */
  uint8_t *d = new_disk (size);

  (void) state;
  mbr_entry (d, 0, 0x83, 256, 256);
  mbr_entry (d, 1, 0x05, 512, 512);
  mbr_entry (d + 512 * 4096, 0, 0x83, 1, 100);
  assert_int_equal (scan (d, size, 4096), 0);
  assert_int_equal (t.count, 2);
  assert_part (0, 1, MiB, MiB);
  assert_part (1, 5, 513 * 4096, 100 * 4096);
  /* Sector units are the reader's: as 512-byte sectors, this is another
   * layout (and the EBR is not where the link points).
   */
  assert_int_equal (scan (d, size, 512), 0);
  assert_part (0, 1, 256 * 512, 256 * 512);
  assert_int_equal (t.count, 1);

  memset (d, 0, size);
  const struct gent g[] = { { 0, 6, 105, "a" }, { 1, 200, 1017, "b" } };
  gpt_build (d, 4096, 1024, g, 2);
  assert_int_equal (scan (d, size, 4096), 0);
  assert_int_equal (t.table, PART_GPT);
  assert_int_equal (t.count, 2);
  assert_part (0, 1, 6 * 4096, 100 * 4096);
  assert_part (1, 2, 200 * 4096, 818 * 4096);
  assert_string_equal (t.note, "");
  /* The primary is at byte 4096: with 512-byte sectors there is none. */
  assert_int_equal (scan (d, size, 512), -1);
  /* Damaged primary: the backup at the last 4 KiB sector. */
  d[4096 + 60] ^= 1;
  assert_int_equal (scan (d, size, 4096), 0);
  assert_int_equal (t.count, 2);
  assert_note ("backup at LBA 1023 used");
  free (d);
}

static void
utf16_names (void **state)
{
  char out[72];
  uint8_t in[72];

  (void) state;
#define UNITS(...) do {                                                 \
    const uint16_t u_[] = { __VA_ARGS__ };                              \
    memset (in, 0, sizeof in);                                          \
    for (size_t i_ = 0; i_ < sizeof u_ / sizeof u_[0]; i_++) {          \
      in[2 * i_] = u_[i_]; in[2 * i_ + 1] = u_[i_] >> 8;                \
    }                                                                   \
  } while (0)
  UNITS ('a', 0xd800, 'b');             /* lone high surrogate */
  part_utf16le_to_utf8 (out, sizeof out, in, 36);
  assert_string_equal (out, "a\xef\xbf\xbd" "b");
  UNITS (0xdc00, 'c');                  /* lone low surrogate */
  part_utf16le_to_utf8 (out, sizeof out, in, 36);
  assert_string_equal (out, "\xef\xbf\xbd" "c");
  UNITS ('x', '\n', 0x1b, 0x7f, 0x85, 0xa0);  /* controls */
  part_utf16le_to_utf8 (out, sizeof out, in, 36);
  assert_string_equal (out, "x\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                       "\xef\xbf\xbd\xc2\xa0");
  UNITS ('a', 0xd83d);                  /* pair cut by the field's end */
  part_utf16le_to_utf8 (out, sizeof out, in, 2);
  assert_string_equal (out, "a\xef\xbf\xbd");
  UNITS ('a', 0, 'b');                  /* NUL ends the name */
  part_utf16le_to_utf8 (out, sizeof out, in, 36);
  assert_string_equal (out, "a");

  /* 36 euro signs (3 bytes each) fill 71 bytes with 23 whole ones. */
  for (int i = 0; i < 36; i++) {
    in[2 * i] = 0xac; in[2 * i + 1] = 0x20;
  }
  part_utf16le_to_utf8 (out, sizeof out, in, 36);
  assert_int_equal (strlen (out), 69);
  assert_memory_equal (out + 66, "\xe2\x82\xac", 3);
  part_utf16le_to_utf8 (out, 1, in, 36);
  assert_string_equal (out, "");
#undef UNITS
}

/* A reader that fails every read at or beyond fail_at. */
struct flaky {
  struct bw_reader r;
  struct bw_reader *inner;
  uint64_t fail_at;
};

static int
flaky_pread (struct bw_reader *r, void *buf, size_t n, uint64_t off,
             char *e, size_t elen)
{
  struct flaky *f = (struct flaky *) r;

  if (off + n > f->fail_at) {
    snprintf (e, elen, "Input/output error");
    return -1;
  }
  return bw_pread (f->inner, buf, n, off, e, elen);
}

static void
read_errors (void **state)
{
  uint8_t *d = three_logicals ();
  struct flaky f = {
    .r = { .size = 8 * MiB, .sector_size = 512, .pread = flaky_pread },
    .fail_at = 0,
  };

  (void) state;
  f.inner = bw_reader_open_memory (d, 8 * MiB, 512, err, sizeof err);
  assert_non_null (f.inner);
  assert_int_equal (part_scan (&f.r, &t, err, sizeof err), -1);
  assert_err ("Input/output error");
  f.fail_at = 6144 * 512;
  assert_int_equal (part_scan (&f.r, &t, err, sizeof err), -1);
  assert_err ("EBR at sector 6144: Input/output error");
  bw_reader_close (f.inner);
  free (d);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (crc32_vectors),
    cmocka_unit_test (no_table),
    cmocka_unit_test (mbr_primaries),
    cmocka_unit_test (mbr_outside_disk),
    cmocka_unit_test (mbr_logicals),
    cmocka_unit_test (ebr_loops),
    cmocka_unit_test (ebr_outside_extended),
    cmocka_unit_test (ebr_long_chains),
    cmocka_unit_test (whole_disk_ext),
    cmocka_unit_test (other_boot_sectors),
    cmocka_unit_test (gpt_good),
    cmocka_unit_test (gpt_damaged_primary),
    cmocka_unit_test (gpt_damaged_backup),
    cmocka_unit_test (gpt_backup_moved),
    cmocka_unit_test (gpt_absurd_headers),
    cmocka_unit_test (gpt_header_bigger_than_sector),
    cmocka_unit_test (gpt_entries_outside),
    cmocka_unit_test (gpt_many_entries),
    cmocka_unit_test (gpt_tiny_disks),
    cmocka_unit_test (sectors_4k),
    cmocka_unit_test (utf16_names),
    cmocka_unit_test (read_errors),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
