/* jbd2-replay: blockwatch's journal reader against e2fsprogs'.
 *
 *   jbd2-replay [--dump] IMAGE [OUT]
 *
 * Reads the journal of an ext3/ext4 image as the introspector does
 * (introspector/jbd2/) from where its superblock says the log starts.
 * --dump prints what it found in the words of `debugfs -R "logdump -a"`
 * ("FS block N logged at journal block M", one line per commit), so a
 * test can compare the two.  OUT: a copy of IMAGE with every committed
 * transaction's blocks written home, to compare with what e2fsck's own
 * replay makes of the same image.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ext2fs/ext2fs.h>

#include "disk/reader.h"
#include "jbd2/log.h"

struct journal {
  ext2_filsys fs;
  struct bw_reader *disk;
  ext2_ino_t ino;
  bool dump;
  uint64_t *changed;
  size_t nchanged, cap;
};

static int
read_jblk (void *opaque, uint32_t jblk, uint8_t *buf)
{
  struct journal *j = opaque;
  blk64_t phys = 0;
  char err[256];

  if (ext2fs_bmap2 (j->fs, j->ino, NULL, NULL, 0, jblk, NULL, &phys) ||
      phys == 0)
    return -1;
  return bw_pread (j->disk, buf, j->fs->blocksize,
                   phys * j->fs->blocksize, err, sizeof err);
}

static void
on_txn (void *opaque, const struct jbd2_txn *t, const uint64_t *changed,
        size_t n)
{
  struct journal *j = opaque;

  if (j->dump) {
    for (size_t i = 0; i < t->ntags; i++)
      printf ("FS block %llu logged at journal block %u\n",
              (unsigned long long) t->tags[i].home, t->tags[i].jblk);
    for (size_t i = 0; i < t->nrevoked; i++)
      printf ("Revoke FS block %llu\n", (unsigned long long) t->revoked[i]);
    printf ("commit %u at block %u\n", t->tid,
            t->next == 0 ? 0 : t->next - 1);
  }
  for (size_t i = 0; i < n; i++) {
    if (j->nchanged == j->cap) {
      j->cap = j->cap ? j->cap * 2 : 256;
      j->changed = realloc (j->changed, j->cap * sizeof *j->changed);
      if (j->changed == NULL)
        abort ();
    }
    j->changed[j->nchanged++] = changed[i];
  }
}

static int
write_home (struct journal *j, struct overlay *ov, const char *image,
            const char *out)
{
  char cmd[8192];
  int fd;

  snprintf (cmd, sizeof cmd, "cp --sparse=always '%s' '%s'", image, out);
  if (system (cmd) != 0)
    return -1;
  fd = open (out, O_WRONLY);
  if (fd == -1)
    return -1;
  for (size_t i = 0; i < j->nchanged; i++) {
    const uint8_t *img = overlay_get (ov, j->changed[i]);
    if (img && pwrite (fd, img, j->fs->blocksize,
                       (off_t) j->changed[i] * j->fs->blocksize) !=
               (ssize_t) j->fs->blocksize) {
      close (fd);
      return -1;
    }
  }
  return close (fd);
}

int
main (int argc, char **argv)
{
  struct journal j = { 0 };
  struct jbd2_log log;
  struct overlay *ov;
  char err[256];
  int a = 1, n;

  if (a < argc && strcmp (argv[a], "--dump") == 0) {
    j.dump = true;
    a++;
  }
  if (argc - a < 1 || argc - a > 2) {
    fprintf (stderr, "usage: jbd2-replay [--dump] IMAGE [OUT]\n");
    return 2;
  }
  if (ext2fs_open (argv[a], EXT2_FLAG_64BITS, 0, 0, unix_io_manager,
                   &j.fs)) {
    fprintf (stderr, "jbd2-replay: %s: not an ext2/3/4 image\n", argv[a]);
    return 1;
  }
  j.ino = j.fs->super->s_journal_inum;
  j.disk = bw_reader_open_file (argv[a], false, err, sizeof err);
  if (j.ino == 0 || j.disk == NULL) {
    fprintf (stderr, "jbd2-replay: %s: %s\n", argv[a],
             j.ino ? err : "no journal inode");
    return 1;
  }
  ov = overlay_new (j.disk, j.fs->blocksize);
  if (jbd2_log_open (&log, j.fs->blocksize, ext2fs_blocks_count (j.fs->super),
                     read_jblk, &j, ov, err, sizeof err) == -1) {
    fprintf (stderr, "jbd2-replay: %s\n", err);
    return 1;
  }
  if (j.dump)
    printf ("Journal starts at block %u, transaction %u\n", log.pos, log.tid);
  n = jbd2_log_advance (&log, on_txn, &j, err, sizeof err);
  if (n == -1)
    fprintf (stderr, "jbd2-replay: stopped: %s\n", err);
  fprintf (stderr, "jbd2-replay: %llu transactions, %llu blocks, %llu bad "
           "copies\n", (unsigned long long) log.txns,
           (unsigned long long) log.blocks_applied,
           (unsigned long long) log.bad_blocks);
  if (argc - a == 2 && write_home (&j, ov, argv[a], argv[a + 1]) == -1) {
    fprintf (stderr, "jbd2-replay: writing %s: %s\n", argv[a + 1],
             strerror (errno));
    return 1;
  }
  jbd2_log_close (&log);
  overlay_free (ov);
  bw_reader_close (j.disk);
  ext2fs_close_free (&j.fs);
  free (j.changed);
  return n == -1;
}
