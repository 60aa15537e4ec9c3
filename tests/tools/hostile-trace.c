/* hostile-trace: a tap trace that rewrites an ext2/3/4 file system's
 * metadata with damage, so that reconcile reads hostile blocks where it
 * knew good ones (tests/introspect-hostile-images.sh).
 *
 *   hostile-trace [--seed N] IMAGE TRACE
 *
 * IMAGE holds the file system at offset 0, as the e2fsprogs test images
 * do.  libext2fs finds its metadata: the superblock, the first
 * descriptor block, the inode tables of group 0 and of one other group,
 * the first blocks of the root directory, of lost+found and of the next
 * few directories, and the extent or indirect blocks of the first
 * inodes.  The trace, for a disk
 * of IMAGE's size, then has rounds that each end with a FLUSH:
 *   1. every block chosen, with a few bytes changed (the structure
 *      mostly holds: magic numbers, headers);
 *   2. inode table, directory and map blocks full of random bytes;
 *   3. the superblock and the descriptors with bytes changed;
 *   4. a lost record (overflow: everything is re-read) and an inode
 *      table block zeroed;
 * and an END record.  The damage is pseudo-random from the seed, so a
 * failure repeats.  Exit 1 when IMAGE is not a file system libext2fs
 * can open at all.
 */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ext2fs/ext2fs.h>

#include "tap/tap-format.h"

#define MAX_PICKS 32

static uint64_t rng;

static uint64_t
next_random (void)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

struct trace {
  FILE *f;
  uint64_t seq;
  struct tap_header h;
};

static void
put (struct trace *t, uint16_t type, uint64_t off, uint64_t len,
     const uint8_t *payload)
{
  uint8_t hdr[TAP_RECORD_HDR];
  struct tap_record r = {
    .seq = t->seq++, .time_ns = t->h.time_ns + t->seq * 1000,
    .offset = off, .length = len, .type = type,
    .payload_len = type == TAP_WRITE ? len : 0,
  };

  if (type == TAP_OVERFLOW) {
    /* one record lost: its seq, and this one accounts for it */
    r.offset = r.seq;
    r.length = 1;
    r.seq = t->seq++;
  }
  tap_encode_record (hdr, &r);
  tap_set_record_check (hdr, tap_record_check (hdr, payload, r.payload_len,
                                               NULL, 0));
  fwrite (hdr, 1, sizeof hdr, t->f);
  if (r.payload_len)
    fwrite (payload, 1, r.payload_len, t->f);
}

struct picks {
  blk64_t itable[MAX_PICKS], dir[MAX_PICKS], map[MAX_PICKS];
  int nitable, ndir, nmap;
};

static void
pick (blk64_t *v, int *n, blk64_t b, ext2_filsys fs)
{
  if (*n < MAX_PICKS && b >= fs->super->s_first_data_block &&
      b < ext2fs_blocks_count (fs->super))
    v[(*n)++] = b;
}

static int
map_cb (ext2_filsys fs, blk64_t *blocknr, e2_blkcnt_t blockcnt,
        blk64_t ref_blk, int ref_offset, void *priv)
{
  struct picks *p = priv;

  (void) ref_blk; (void) ref_offset;
  if (blockcnt < 0)
    pick (p->map, &p->nmap, *blocknr, fs);
  return p->nmap == MAX_PICKS ? BLOCK_ABORT : 0;
}

static void
find_metadata (ext2_filsys fs, struct picks *p)
{
  ext2_ino_t dirs[] = { EXT2_ROOT_INO, 11 };
  dgrp_t other = fs->group_desc_count > 1
                 ? 1 + next_random () % (fs->group_desc_count - 1) : 0;

  pick (p->itable, &p->nitable, ext2fs_inode_table_loc (fs, 0), fs);
  if (other)
    pick (p->itable, &p->nitable, ext2fs_inode_table_loc (fs, other), fs);
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
    blk64_t b = 0;
    if (ext2fs_bmap2 (fs, dirs[i], NULL, NULL, 0, 0, NULL, &b) == 0 && b)
      pick (p->dir, &p->ndir, b, fs);
  }
  /* The first blocks of the next directories, and the extent tree and
   * indirect blocks of the first inodes that have them; a broken map
   * simply gives fewer.
   */
  for (ext2_ino_t ino = EXT2_FIRST_INODE (fs->super) + 1;
       ino < EXT2_FIRST_INODE (fs->super) + 64 &&
       ino <= fs->super->s_inodes_count; ino++) {
    struct ext2_inode in;
    blk64_t b = 0;

    if (ext2fs_read_inode (fs, ino, &in) != 0 || in.i_links_count == 0 ||
        !ext2fs_inode_has_valid_blocks2 (fs, &in) ||
        (in.i_flags & EXT4_INLINE_DATA_FL))
      continue;
    if (LINUX_S_ISDIR (in.i_mode) && p->ndir < 6 &&
        ext2fs_bmap2 (fs, ino, NULL, NULL, 0, 0, NULL, &b) == 0 && b)
      pick (p->dir, &p->ndir, b, fs);
    if (p->nmap < 4)
      ext2fs_block_iterate3 (fs, ino, BLOCK_FLAG_READ_ONLY, NULL, map_cb, p);
  }
}

/* Block b as it is in the image, with n random bytes changed (n = 0:
 * all of them random).
 */
static void
damage (ext2_filsys fs, blk64_t b, int n, uint8_t *buf)
{
  unsigned bs = fs->blocksize;

  if (n == 0 || io_channel_read_blk64 (fs->io, b, 1, buf) != 0) {
    for (unsigned i = 0; i < bs; i++)
      buf[i] = next_random ();
    return;
  }
  for (int i = 0; i < n; i++)
    buf[next_random () % bs] = next_random ();
}

static void
rewrite (struct trace *t, ext2_filsys fs, const blk64_t *v, int n, int bytes,
         uint8_t *buf)
{
  for (int i = 0; i < n; i++) {
    damage (fs, v[i], bytes, buf);
    put (t, TAP_WRITE, v[i] * fs->blocksize, fs->blocksize, buf);
  }
}

int
main (int argc, char **argv)
{
  static const struct option opts[] = {
    { "seed", required_argument, NULL, 's' },
    { NULL, 0, NULL, 0 },
  };
  struct trace t = { .seq = 1 };
  struct picks p = { 0 };
  ext2_filsys fs;
  uint8_t *buf, hbuf[TAP_HEADER_FIXED + TAP_DISK_ID_MAX];
  struct stat st;
  unsigned long long seed = 1;
  errcode_t rc;
  blk64_t gdt, sbb;
  int c;

  while ((c = getopt_long (argc, argv, "s:", opts, NULL)) != -1) {
    if (c != 's')
      goto usage;
    seed = strtoull (optarg, NULL, 0);
  }
  if (optind != argc - 2)
    goto usage;
  rng = seed * 0x9E3779B97F4A7C15ull | 1;

  initialize_ext2_error_table ();
  rc = ext2fs_open (argv[optind], EXT2_FLAG_64BITS | EXT2_FLAG_SKIP_MMP |
                    EXT2_FLAG_IGNORE_CSUM_ERRORS, 0, 0, unix_io_manager, &fs);
  if (rc) {
    fprintf (stderr, "hostile-trace: %s: %s\n", argv[optind],
             error_message (rc));
    return 1;
  }
  buf = malloc (fs->blocksize);
  t.f = fopen (argv[optind + 1], "w");
  if (buf == NULL || t.f == NULL || stat (argv[optind], &st) == -1) {
    perror ("hostile-trace");
    return 1;
  }
  find_metadata (fs, &p);
  gdt = ext2fs_descriptor_block_loc2 (fs, fs->super->s_first_data_block, 0);

  t.h = (struct tap_header) {
    .version = TAP_VERSION, .flags = TAP_HDR_CHECK,
    .disk_size = st.st_size, .sector_size = 512,
    .instance = 0x686f7374696c65ull, .first_seq = 1,
    .time_ns = 1700000000000000000ull, .disk_id_len = 7,
  };
  memcpy (t.h.disk_id, "hostile", 7);
  fwrite (hbuf, 1, tap_encode_header (hbuf, &t.h), t.f);

  /* 1: a few bytes changed everywhere */
  rewrite (&t, fs, p.itable, p.nitable, 8, buf);
  rewrite (&t, fs, p.dir, p.ndir, 8, buf);
  rewrite (&t, fs, p.map, p.nmap, 8, buf);
  put (&t, TAP_FLUSH, 0, 0, NULL);
  /* 2: garbage */
  rewrite (&t, fs, p.itable, p.nitable, 0, buf);
  rewrite (&t, fs, p.dir, p.ndir, 0, buf);
  rewrite (&t, fs, p.map, p.nmap, 0, buf);
  put (&t, TAP_FLUSH, 0, 0, NULL);
  /* 3: the superblock (bytes 1024-2047 of the disk) and descriptors */
  sbb = 1024 / fs->blocksize;
  if (io_channel_read_blk64 (fs->io, sbb, 1, buf) == 0) {
    uint8_t *sb = buf + 1024 % fs->blocksize;
    for (int i = 0; i < 8; i++)
      sb[next_random () % 1024] = next_random ();
    put (&t, TAP_WRITE, 1024, 1024, sb);
  }
  if (gdt < ext2fs_blocks_count (fs->super))
    rewrite (&t, fs, &gdt, 1, 16, buf);
  put (&t, TAP_FLUSH, 0, 0, NULL);
  /* 4: records lost, then an inode table block zeroed */
  put (&t, TAP_OVERFLOW, 0, 0, NULL);
  if (p.nitable)
    put (&t, TAP_ZERO, p.itable[0] * fs->blocksize, fs->blocksize, NULL);
  put (&t, TAP_FLUSH, 0, 0, NULL);
  put (&t, TAP_END, 0, 0, NULL);

  if (fclose (t.f) != 0) {
    perror ("hostile-trace: writing the trace");
    return 1;
  }
  free (buf);
  ext2fs_close_free (&fs);
  return 0;

 usage:
  fprintf (stderr, "usage: hostile-trace [--seed N] IMAGE TRACE\n");
  return 2;
}
