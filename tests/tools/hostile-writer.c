/* hostile-writer: a guest gone bad.  Writes randomly mutated copies of
 * an ext2/3/4 file system's metadata through an NBD export (the
 * proxy's), each write followed by a FLUSH, and checks that every
 * write reads back as it was written (tests/hostile-metadata-live.sh).
 *
 *   hostile-writer --uri URI --image IMAGE [--seed N] [--rounds N]
 *                  [--data-from OFFSET] [--verify-from OFFSET]
 *                  [--model FILE]
 *
 * IMAGE holds the file system at offset 0 (the export's storage, read
 * before anything is written): libext2fs finds its metadata there, of
 * every kind: the superblock, group descriptors, block and inode
 * bitmaps, inode tables, directory blocks (htree roots among them),
 * extent tree and indirect blocks, the journal's superblock and log;
 * and the first sector, where a partition table would be.  Each round
 * picks a kind and a block, reads it through the export, and writes
 * it back damaged: a few bytes changed, random bytes, zeroes, another
 * metadata block's bytes, a plausible MBR, an htree root with its
 * counts and levels changed, or in the journal a whole transaction
 * (descriptor, images, commit) with valid magic, sequence and
 * checksums whose tags point anywhere (each after the last, so that a
 * follower that took one looks for the next).  The superblock and the
 * first sector are damaged in the last quarter of the rounds only.
 * Each write is read back at once.  With --data-from, each round also writes random bytes at a
 * random place from OFFSET on (where a mounted file system does not
 * write); at the end the export from --verify-from on (the whole
 * export unless a file system is mounted and writing too) must read
 * as everything written left it; --model saves that content.
 *
 * The damage is pseudo-random from the seed, printed first, so that a
 * failure replays.  Exit 0: every write read back; 1: a mismatch or an
 * NBD error (the plugin stopped serving); 2: usage.
 */

#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ext2fs/ext2fs.h>
#include <libnbd.h>

#define MAX_PICKS 48
#define JBD2_MAGIC 0xC03B3998u
#define JBD2_DESCRIPTOR 1
#define JBD2_COMMIT 2
#define JBD2_SUPERBLOCK_V2 4
#define JBD2_FLAG_SAME_UUID 2
#define JBD2_FLAG_LAST_TAG 8
#define JBD2_INCOMPAT_64BIT 0x2
#define JBD2_INCOMPAT_CSUM_V2 0x8
#define JBD2_INCOMPAT_CSUM_V3 0x10
#define JLOG_BLOCKS 512       /* journal blocks mapped from its start */

enum kind { K_BOOT, K_SUPER, K_GDT, K_BITMAP, K_ITABLE, K_DIR, K_HTREE,
            K_MAP, K_JOURNAL, NKINDS };
static const char *const kind_names[NKINDS] = {
  "first-sector", "superblock", "descriptors", "bitmap", "inode-table",
  "directory", "htree-root", "extent/indirect", "journal",
};

static struct nbd_handle *nbd;
static uint8_t *model;        /* the export as we left it */
static uint64_t size, rng;
static unsigned bs;           /* the file system's block size */
static uint64_t fs_blocks;
static unsigned long long writes, mismatches;

/* Metadata blocks by kind (file system block numbers). */
static uint64_t picks[NKINDS][MAX_PICKS];
static int npicks[NKINDS];
/* The journal's first blocks on the disk (0: not mapped). */
static uint64_t jmap[JLOG_BLOCKS];
/* Our log: where the next transaction goes and its id (after the last
 * one, so that a follower that took it looks there next), and the
 * journal's features and checksum seed as its superblock had them when
 * the log began (later damage to it would make ours invalid too).
 * pos 0: begin again from the journal superblock.
 */
static struct {
  uint32_t pos, tid, seed, tagsz;
  bool csum, v3, b64;
  uint8_t uuid[16];
} jr;

static uint64_t
rnd (void)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static void
die (const char *what)
{
  fprintf (stderr, "hostile-writer: %s: %s\n", what, nbd_get_error ());
  exit (1);
}

static void
pick (enum kind k, uint64_t b)
{
  if (npicks[k] < MAX_PICKS && b < fs_blocks && (b + 1) * bs <= size)
    picks[k][npicks[k]++] = b;
}

/* Collects the blocks of a map (extent tree, indirect blocks), and for
 * directories their first blocks.
 */
struct walk {
  bool dir;
  int data;
};

static int
walk_cb (ext2_filsys fs, blk64_t *blocknr, e2_blkcnt_t blockcnt,
         blk64_t ref_blk, int ref_offset, void *priv)
{
  struct walk *w = priv;

  (void) fs; (void) ref_blk; (void) ref_offset;
  if (blockcnt < 0)
    pick (K_MAP, *blocknr);
  else if (w->dir && w->data++ < 4)
    pick (K_DIR, *blocknr);
  return npicks[K_MAP] == MAX_PICKS && (!w->dir || w->data >= 4)
         ? BLOCK_ABORT : 0;
}

static void
find_metadata (ext2_filsys fs)
{
  struct ext2_inode in;
  dgrp_t g;
  blk64_t b;

  bs = fs->blocksize;
  fs_blocks = ext2fs_blocks_count (fs->super);
  pick (K_SUPER, 1024 / bs);  /* the superblock is found by its offset */
  for (g = 0; g < fs->group_desc_count && g < 8; g++) {
    b = ext2fs_descriptor_block_loc2 (fs, fs->super->s_first_data_block, g);
    if (g < fs->desc_blocks)
      pick (K_GDT, b);
    pick (K_BITMAP, ext2fs_block_bitmap_loc (fs, g));
    pick (K_BITMAP, ext2fs_inode_bitmap_loc (fs, g));
    for (int i = 0; i < 3; i++)
      pick (K_ITABLE, ext2fs_inode_table_loc (fs, g) + i);
  }
  for (ext2_ino_t ino = 1; ino <= fs->super->s_inodes_count && ino < 4096;
       ino++) {
    struct walk w = { 0 };

    if (ext2fs_read_inode (fs, ino, &in) != 0 || in.i_links_count == 0 ||
        !ext2fs_inode_has_valid_blocks2 (fs, &in) ||
        (in.i_flags & EXT4_INLINE_DATA_FL) ||
        ino == fs->super->s_journal_inum)
      continue;
    w.dir = LINUX_S_ISDIR (in.i_mode);
    if (w.dir && (in.i_flags & EXT2_INDEX_FL) &&
        ext2fs_bmap2 (fs, ino, &in, NULL, 0, 0, NULL, &b) == 0 && b)
      pick (K_HTREE, b);
    if (w.dir || npicks[K_MAP] < MAX_PICKS)
      ext2fs_block_iterate3 (fs, ino, BLOCK_FLAG_READ_ONLY, NULL, walk_cb,
                             &w);
  }
  if (fs->super->s_journal_inum &&
      ext2fs_read_inode (fs, fs->super->s_journal_inum, &in) == 0)
    for (blk64_t j = 0; j < JLOG_BLOCKS; j++)
      if (ext2fs_bmap2 (fs, fs->super->s_journal_inum, &in, NULL, 0, j,
                        NULL, &b) == 0 && b < fs_blocks &&
          (b + 1) * bs <= size)
        jmap[j] = b;
  if (jmap[0])
    pick (K_JOURNAL, jmap[0]);
}

static void
nbd_read (uint8_t *buf, uint64_t len, uint64_t off)
{
  if (nbd_pread (nbd, buf, len, off, 0) == -1)
    die ("read");
}

/* A write, its FLUSH, and its read-back. */
static void
put (const uint8_t *buf, uint64_t len, uint64_t off, const char *what)
{
  uint8_t *back = malloc (len);

  if (back == NULL)
    exit (1);
  if (nbd_pwrite (nbd, buf, len, off, 0) == -1)
    die ("write");
  if (nbd_flush (nbd, 0) == -1)
    die ("flush");
  memcpy (model + off, buf, len);
  writes++;
  nbd_read (back, len, off);
  if (memcmp (back, buf, len) != 0) {
    uint64_t i = 0;
    while (back[i] == buf[i])
      i++;
    fprintf (stderr, "hostile-writer: MISMATCH after writing %s: byte %"
             PRIu64 " reads %02x, written %02x\n", what, off + i, back[i],
             buf[i]);
    mismatches++;
  }
  free (back);
}

static void
put_be32 (uint8_t *p, uint32_t v)
{
  v = htobe32 (v);
  memcpy (p, &v, 4);
}

static uint32_t
be32 (const uint8_t *p)
{
  uint32_t v;

  memcpy (&v, p, 4);
  return be32toh (v);
}

/* n random bytes of buf[from, to) changed. */
static void
flip (uint8_t *buf, size_t from, size_t to, int n)
{
  for (int i = 0; i < n && to > from; i++)
    buf[from + rnd () % (to - from)] = rnd ();
}

/* Some other metadata block's bytes into buf. */
static void
copy_other (uint8_t *buf)
{
  enum kind k = rnd () % NKINDS;

  if (npicks[k] == 0)
    return;
  nbd_read (buf, bs, picks[k][rnd () % npicks[k]] * bs);
}

/* An MBR: four entries of random types, starts and sizes (some of
 * them past the disk's end, overlapping, extended), and its signature.
 */
static void
fake_mbr (uint8_t *sector)
{
  for (int i = 0; i < 4; i++) {
    uint8_t *e = sector + 446 + 16 * i;
    static const uint8_t types[] = { 0x83, 0x05, 0x0f, 0xee, 0x00, 0x07 };
    e[0] = rnd () % 4 ? 0 : 0x80;
    e[4] = types[rnd () % sizeof types];
    for (int j = 8; j < 16; j++)
      e[j] = rnd () % 3 ? (j == 8 || j == 12 ? rnd () : 0) : rnd ();
  }
  sector[510] = 0x55;
  sector[511] = 0xAA;
}

/* A whole journal transaction, valid as far as magic, sequence and
 * checksums go, at the place the log's next one belongs (or where the
 * kernel's log is); its tags point at metadata, at random blocks, or
 * past the file system, and its images are damaged copies.
 */
static void
fake_transaction (uint8_t *buf)
{
  uint8_t jsb[1024], *desc = malloc (bs), *img = malloc (bs);
  uint32_t incompat, ntags = 1 + rnd () % 6, pos, tid;
  uint64_t homes[8];
  size_t off = 12;

  if (desc == NULL || img == NULL)
    exit (1);
  if (jr.pos == 0 || jr.pos + ntags + 2 > JLOG_BLOCKS) {
    nbd_read (jsb, sizeof jsb, jmap[0] * bs);
    incompat = be32 (jsb + 0x28);
    jr.pos = be32 (jsb + 0x1c) ? be32 (jsb + 0x1c) : be32 (jsb + 0x14);
    jr.tid = be32 (jsb + 0x18);
    jr.v3 = incompat & JBD2_INCOMPAT_CSUM_V3;
    jr.csum = jr.v3 || (incompat & JBD2_INCOMPAT_CSUM_V2);
    jr.b64 = incompat & JBD2_INCOMPAT_64BIT;
    memcpy (jr.uuid, jsb + 0x30, 16);
    jr.seed = jr.csum ? ext2fs_crc32c_le (~0u, jr.uuid, 16) : 0;
    jr.tagsz = jr.v3 ? 16 : 8 + (jr.b64 ? 4 : 0) + (jr.csum ? 2 : 0);
  }
  pos = jr.pos;
  tid = jr.tid;
  if (pos == 0 || pos >= JLOG_BLOCKS || pos + ntags + 2 > JLOG_BLOCKS) {
    free (desc);
    free (img);
    jr.pos = 0;
    return;                   /* not a journal we can write into */
  }
  jr.pos = pos + ntags + 2;
  jr.tid = tid + 1;

  memset (desc, 0, bs);
  put_be32 (desc, JBD2_MAGIC);
  put_be32 (desc + 4, JBD2_DESCRIPTOR);
  put_be32 (desc + 8, tid);
  for (uint32_t i = 0; i < ntags; i++) {
    enum kind k = rnd () % NKINDS;
    uint32_t flags = (i ? JBD2_FLAG_SAME_UUID : 0) |
                     (i == ntags - 1 ? JBD2_FLAG_LAST_TAG : 0);
    uint8_t *t = desc + off;
    uint32_t sum;

    homes[i] = rnd () % 4 == 0 ? rnd () % (fs_blocks * 2)
               : npicks[k] ? picks[k][rnd () % npicks[k]] : rnd () % fs_blocks;
    /* The image: the home block as it is, damaged, or garbage. */
    if (homes[i] < fs_blocks && (homes[i] + 1) * bs <= size)
      nbd_read (img, bs, homes[i] * bs);
    else
      memset (img, 0, bs);
    flip (img, 0, bs, rnd () % 2 ? 8 : bs);
    if (be32 (img) == JBD2_MAGIC)
      put_be32 (img, 0);      /* else it would need escaping */
    sum = ext2fs_crc32c_le (jr.seed, (uint8_t *) &(uint32_t) { htobe32 (tid) },
                            4);
    sum = ext2fs_crc32c_le (sum, img, bs);
    put_be32 (t, homes[i]);
    if (jr.v3) {
      put_be32 (t + 4, flags);
      put_be32 (t + 8, jr.b64 ? homes[i] >> 32 : 0);
      put_be32 (t + 12, jr.csum ? sum : 0);
    }
    else {
      uint16_t f16 = htobe16 (flags), c16 = htobe16 (jr.csum ? sum : 0);
      memcpy (t + 4, &c16, 2);
      memcpy (t + 6, &f16, 2);
      if (jr.b64)
        put_be32 (t + 8, homes[i] >> 32);
    }
    off += jr.tagsz;
    if (i == 0) {
      memcpy (desc + off, jr.uuid, 16);
      off += 16;
    }
    put (img, bs, jmap[pos + 1 + i] * bs, "a journal image");
  }
  if (jr.csum)
    put_be32 (desc + bs - 4, ext2fs_crc32c_le (jr.seed, desc, bs));
  put (desc, bs, jmap[pos] * bs, "a journal descriptor");

  memset (buf, 0, bs);
  put_be32 (buf, JBD2_MAGIC);
  put_be32 (buf + 4, JBD2_COMMIT);
  put_be32 (buf + 8, rnd () % 8 ? tid : (uint32_t) rnd ());
  put_be32 (buf + 0x30, 0);
  put_be32 (buf + 0x34, 1700000000);
  if (jr.csum)
    put_be32 (buf + 0x10, ext2fs_crc32c_le (jr.seed, buf, bs));
  put (buf, bs, jmap[pos + 1 + ntags] * bs, "a journal commit");
  free (desc);
  free (img);
}

/* The htree root's header after "." and "..": hash version, info
 * length, levels, limit, count, and the first entries.
 */
static void
damage_htree (uint8_t *buf)
{
  switch (rnd () % 3) {
  case 0: buf[24 + 4 + 2] = rnd () % 4; break;                /* levels */
  case 1: buf[32 + rnd () % 4] = rnd (); break;        /* limit, count */
  default: flip (buf, 24, 24 + 64, 1 + rnd () % 6); break;
  }
}

/* A kind of metadata, by weight.  Damage to the first sector or the
 * superblock can end the following of the file system (a disk whose
 * superblock is gone and that has a partition table is partitioned),
 * after which the rest of the rounds would test little: they come in
 * the last quarter only.
 */
static enum kind
some_kind (bool last_quarter)
{
  int weight[NKINDS] = {
    [K_BOOT] = 2, [K_SUPER] = 4, [K_GDT] = 3, [K_BITMAP] = 3,
    [K_ITABLE] = 6, [K_DIR] = 6, [K_HTREE] = 4, [K_MAP] = 5,
    [K_JOURNAL] = 6,
  };
  int total = 0, x;

  if (!last_quarter)
    weight[K_BOOT] = weight[K_SUPER] = 0;

  for (int k = 0; k < NKINDS; k++)
    total += weight[k];
  x = rnd () % total;
  for (int k = 0; k < NKINDS; k++)
    if ((x -= weight[k]) < 0)
      return k;
  return K_ITABLE;
}

static void
round_of (unsigned long r, unsigned long rounds, uint8_t *buf)
{
  enum kind k = some_kind (r >= rounds - rounds / 4);
  uint64_t b, off;
  unsigned how = rnd () % 10;
  const char *what;

  if (npicks[k] == 0)
    k = K_ITABLE;
  if (npicks[k] == 0)
    return;
  b = picks[k][rnd () % npicks[k]];
  off = b * bs;
  nbd_read (buf, bs, off);
  if (k == K_BOOT) {
    fake_mbr (buf);
    what = "an MBR";
  }
  else if (k == K_JOURNAL && how < 7) {
    printf ("round %lu: a journal transaction\n", r);
    fake_transaction (buf);
    return;
  }
  else if (k == K_JOURNAL && how < 9) {
    /* Its superblock's fields: start, sequence, features, first. */
    flip (buf, 0x0c, 0x30, 1 + rnd () % 3);
    what = "superblock fields";
  }
  else if (k == K_HTREE && how < 6) {
    damage_htree (buf);
    what = "htree counts";
  }
  else if (how < 5) {
    /* A few bytes: the superblock's are in its 1024 bytes. */
    size_t from = k == K_SUPER ? 1024 % bs : 0;
    flip (buf, from, from + (k == K_SUPER ? 1024 : bs), 1 + rnd () % 16);
    what = "bytes changed";
  }
  else if (how < 7) {
    flip (buf, 0, bs, bs);
    what = "random bytes";
  }
  else if (how < 8) {
    memset (buf, 0, bs);
    what = "zeroes";
  }
  else {
    copy_other (buf);
    what = "another block's bytes";
  }
  printf ("round %lu: %s block %" PRIu64 ": %s\n", r, kind_names[k], b,
          what);
  put (buf, bs, off, kind_names[k]);
}

/* Random bytes somewhere from data_from on. */
static void
data_write (uint64_t data_from)
{
  uint64_t span = size - data_from, len, off;
  uint8_t *buf;

  if (span < 512)
    return;
  len = (1 + rnd () % (span / 512 < 64 ? span / 512 : 64)) * 512;
  off = data_from + rnd () % ((span - len) / 512 + 1) * 512;
  buf = malloc (len);
  if (buf == NULL)
    exit (1);
  for (uint64_t i = 0; i < len; i++)
    buf[i] = rnd ();
  put (buf, len, off, "data");
  free (buf);
}

int
main (int argc, char **argv)
{
  static const struct option opts[] = {
    { "uri", required_argument, NULL, 'u' },
    { "image", required_argument, NULL, 'i' },
    { "seed", required_argument, NULL, 's' },
    { "rounds", required_argument, NULL, 'r' },
    { "data-from", required_argument, NULL, 'd' },
    { "verify-from", required_argument, NULL, 'v' },
    { "model", required_argument, NULL, 'm' },
    { NULL, 0, NULL, 0 },
  };
  const char *uri = NULL, *image = NULL, *model_file = NULL;
  unsigned long long seed = 1, rounds = 100, data_from = 0, verify_from = 0;
  bool data = false;
  uint8_t *buf, *back;
  ext2_filsys fs;
  errcode_t rc;
  int c;

  while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1)
    switch (c) {
    case 'u': uri = optarg; break;
    case 'i': image = optarg; break;
    case 's': seed = strtoull (optarg, NULL, 0); break;
    case 'r': rounds = strtoull (optarg, NULL, 0); break;
    case 'd': data_from = strtoull (optarg, NULL, 0); data = true; break;
    case 'v': verify_from = strtoull (optarg, NULL, 0); break;
    case 'm': model_file = optarg; break;
    default: goto usage;
    }
  if (uri == NULL || image == NULL || optind != argc)
    goto usage;
  printf ("hostile-writer: seed %llu\n", seed);
  rng = seed * 0x9E3779B97F4A7C15ull | 1;

  nbd = nbd_create ();
  if (nbd == NULL || nbd_connect_uri (nbd, uri) == -1)
    die ("connect");
  size = nbd_get_size (nbd);
  if ((int64_t) size <= 0 || data_from > size || verify_from > size)
    die ("size");
  model = malloc (size);
  if (model == NULL)
    return 1;
  for (uint64_t off = 0; off < size; off += 1 << 22)
    nbd_read (model + off, size - off < (1 << 22) ? size - off : 1 << 22,
              off);

  initialize_ext2_error_table ();
  rc = ext2fs_open (image, EXT2_FLAG_64BITS | EXT2_FLAG_SKIP_MMP |
                    EXT2_FLAG_IGNORE_CSUM_ERRORS, 0, 0, unix_io_manager, &fs);
  if (rc) {
    fprintf (stderr, "hostile-writer: %s: %s\n", image, error_message (rc));
    return 1;
  }
  find_metadata (fs);
  ext2fs_close_free (&fs);
  pick (K_BOOT, 0);
  for (int k = 0; k < NKINDS; k++)
    printf ("hostile-writer: %d %s blocks\n", npicks[k], kind_names[k]);

  buf = malloc (bs);
  if (buf == NULL)
    return 1;
  for (unsigned long r = 0; r < rounds; r++) {
    round_of (r, rounds, buf);
    if (data)
      data_write (data_from);
  }
  free (buf);

  /* Everything written is there, and nothing else changed. */
  back = malloc (1 << 22);
  if (back == NULL)
    return 1;
  for (uint64_t off = verify_from; off < size; off += 1 << 22) {
    uint64_t n = size - off < (1 << 22) ? size - off : 1 << 22;
    nbd_read (back, n, off);
    if (memcmp (back, model + off, n) != 0) {
      uint64_t i = 0;
      while (back[i] == model[off + i])
        i++;
      fprintf (stderr, "hostile-writer: MISMATCH at the end: byte %" PRIu64
               " reads %02x, expected %02x\n", off + i, back[i],
               model[off + i]);
      mismatches++;
    }
  }
  free (back);
  if (model_file) {
    FILE *f = fopen (model_file, "w");
    if (f == NULL || fwrite (model, 1, size, f) != size || fclose (f) != 0) {
      perror (model_file);
      return 1;
    }
  }
  nbd_shutdown (nbd, 0);
  nbd_close (nbd);
  free (model);
  printf ("hostile-writer: %llu writes, %llu mismatches\n", writes,
          mismatches);
  return mismatches ? 1 : 0;

 usage:
  fprintf (stderr, "usage: hostile-writer --uri URI --image IMAGE [--seed N] "
           "[--rounds N] [--data-from OFFSET] [--verify-from OFFSET] "
           "[--model FILE]\n");
  return 2;
}
