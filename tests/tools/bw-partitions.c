/* bw-partitions: the partition table of an image as blockwatch reads it.
 *
 *   bw-partitions [--sector-size BYTES] IMAGE
 *
 * Prints "# table mbr|gpt|none", "# note TEXT" when there is one, then
 * a line "NUMBER START SIZE" (bytes) per partition, for comparing with
 * what sfdisk and sgdisk say.  Exit 1 when the table cannot be read.
 */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "partition/partition.h"

int
main (int argc, char **argv)
{
  static const struct option opts[] = {
    { "sector-size", required_argument, NULL, 's' },
    { NULL, 0, NULL, 0 },
  };
  static struct part_table_info info;
  unsigned long sector_size = 0;
  struct bw_reader *disk;
  char err[512];
  int c, r;

  while ((c = getopt_long (argc, argv, "s:", opts, NULL)) != -1) {
    if (c != 's')
      goto usage;
    sector_size = strtoul (optarg, NULL, 10);
  }
  if (optind != argc - 1)
    goto usage;

  disk = bw_reader_open_file (argv[optind], false, err, sizeof err);
  if (disk == NULL) {
    fprintf (stderr, "bw-partitions: %s\n", err);
    return 1;
  }
  /* An image file does not know the sector size it was made with. */
  if (sector_size != 0)
    disk->sector_size = sector_size;
  r = part_scan (disk, &info, err, sizeof err);
  bw_reader_close (disk);
  if (r == -1) {
    fprintf (stderr, "bw-partitions: %s: %s\n", argv[optind], err);
    return 1;
  }
  printf ("# table %s\n", part_table_name (info.table));
  if (info.note[0])
    printf ("# note %s\n", info.note);
  for (int i = 0; i < info.count; i++)
    printf ("%d %llu %llu\n", info.parts[i].number,
            (unsigned long long) info.parts[i].start,
            (unsigned long long) info.parts[i].size);
  return 0;

 usage:
  fprintf (stderr, "usage: bw-partitions [--sector-size BYTES] IMAGE\n");
  return 1;
}
