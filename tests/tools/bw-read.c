/* bw-read: a disk as the introspector reads it, by storage URI.
 *
 *   bw-read [--writable] URI
 *   bw-read --compare IMAGE [--reads N] [--max-len BYTES] [--seed S]
 *           [--reconnect-timeout S] URI
 *
 * The first form opens URI with bw_reader_open_uri and prints "size
 * BYTES sector BYTES", or the error (exit 1).  The second reads random
 * ranges of URI, most of them unaligned and some larger than one
 * request, and compares each with the same range of IMAGE (a copy of
 * what the storage holds); a read past the end must fail.  Exit 1 on
 * any difference or failed read.  --reconnect-timeout: how long an NBD
 * reader tries again after its server went away (default 30 s).
 */

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disk/reader.h"

static uint64_t rng_state;

static uint64_t
rng (void)
{
  /* splitmix64: any seed gives a good sequence. */
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* Reads [off, off + n) from both and compares: 0 when equal. */
static int
compare_range (struct bw_reader *disk, struct bw_reader *image,
               unsigned char *a, unsigned char *b, size_t n, uint64_t off)
{
  char err[512];

  if (bw_pread (disk, a, n, off, err, sizeof err) == -1) {
    fprintf (stderr, "bw-read: %s\n", err);
    return -1;
  }
  if (bw_pread (image, b, n, off, err, sizeof err) == -1) {
    fprintf (stderr, "bw-read: image: %s\n", err);
    return -1;
  }
  if (memcmp (a, b, n) != 0) {
    fprintf (stderr, "bw-read: %zu bytes at %llu differ from the image\n",
             n, (unsigned long long) off);
    return -1;
  }
  return 0;
}

static int
compare (struct bw_reader *disk, const char *path, unsigned reads,
         size_t max_len)
{
  struct bw_reader *image;
  unsigned char *a = malloc (max_len), *b = malloc (max_len);
  unsigned long long bytes = 0;
  char err[512];
  unsigned i;
  int r = -1;

  image = bw_reader_open_file (path, false, err, sizeof err);
  if (image == NULL || a == NULL || b == NULL) {
    fprintf (stderr, "bw-read: %s\n", image ? "out of memory" : err);
    goto out;
  }
  if (image->size != disk->size || disk->size < max_len) {
    fprintf (stderr, "bw-read: the storage has %llu bytes, the image %llu, "
             "--max-len %zu\n", (unsigned long long) disk->size,
             (unsigned long long) image->size, max_len);
    goto out;
  }
  for (i = 0; i < reads; i++) {
    size_t n = 1 + rng () % max_len;
    uint64_t off = rng () % (disk->size - n + 1);

    /* Every third read is block-aligned, as libext2fs reads. */
    if (i % 3 == 0) {
      off -= off % 4096;
      n = n > 4096 ? n - n % 4096 : 4096;
    }
    if (compare_range (disk, image, a, b, n, off) == -1)
      goto out;
    bytes += n;
  }
  /* The very ends, then one byte too far. */
  if (compare_range (disk, image, a, b, 1, 0) == -1 ||
      compare_range (disk, image, a, b, 1, disk->size - 1) == -1)
    goto out;
  if (bw_pread (disk, a, 2, disk->size - 1, err, sizeof err) == 0) {
    fprintf (stderr, "bw-read: a read past the end succeeded\n");
    goto out;
  }
  printf ("%u reads, %llu bytes, identical; past the end: %s\n", reads,
          bytes, err);
  r = 0;

 out:
  bw_reader_close (image);
  free (a);
  free (b);
  return r;
}

int
main (int argc, char **argv)
{
  static const struct option opts[] = {
    { "writable", no_argument, NULL, 'w' },
    { "compare", required_argument, NULL, 'c' },
    { "reads", required_argument, NULL, 'n' },
    { "max-len", required_argument, NULL, 'm' },
    { "seed", required_argument, NULL, 's' },
    { "reconnect-timeout", required_argument, NULL, 'r' },
    { NULL, 0, NULL, 0 },
  };
  const char *image = NULL;
  bool writable = false;
  unsigned reads = 2000, reconnect_s = BW_RECONNECT_DEFAULT_S;
  size_t max_len = 256 * 1024;
  struct bw_reader *disk;
  char err[512];
  int c, r = 0;

  rng_state = 1;
  while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'w': writable = true; break;
    case 'c': image = optarg; break;
    case 'n': reads = strtoul (optarg, NULL, 10); break;
    case 'm': max_len = strtoul (optarg, NULL, 10); break;
    case 's': rng_state = strtoull (optarg, NULL, 10); break;
    case 'r': reconnect_s = strtoul (optarg, NULL, 10); break;
    default: goto usage;
    }
  }
  if (optind != argc - 1 || max_len == 0 || (writable && image))
    goto usage;

  disk = bw_reader_open_uri (argv[optind], writable, reconnect_s, err,
                             sizeof err);
  if (disk == NULL) {
    fprintf (stderr, "bw-read: %s\n", err);
    return 1;
  }
  if (image)
    r = compare (disk, image, reads, max_len);
  else
    printf ("size %llu sector %u\n", (unsigned long long) disk->size,
            disk->sector_size);
  bw_reader_close (disk);
  return r == 0 ? 0 : 1;

 usage:
  fprintf (stderr, "usage: bw-read [--writable] URI\n"
           "       bw-read --compare IMAGE [--reads N] [--max-len BYTES] "
           "[--seed S]\n"
           "               [--reconnect-timeout S] URI\n");
  return 2;
}
