/* nbd-inflight: puts N writes in flight together on one NBD connection.
 *
 *   nbd-inflight URI N
 *
 * Connects, says "connected" on stdout and waits for a line on stdin,
 * so that a test can freeze the storage behind the server first; then
 * sends N writes of 4 KiB (block i at offset i * 4 KiB, filled with
 * byte i + 1) without waiting for any, waits for all of them, and
 * reads the blocks back.  Exit 1 if a write fails or a block differs.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libnbd.h>

#define BLOCK 4096

int
main (int argc, char **argv)
{
  struct nbd_handle *nbd;
  unsigned char *bufs, back[BLOCK];
  int64_t *cookies;
  char line[16];
  long n, i;

  if (argc != 3 || (n = atol (argv[2])) <= 0 || n > 1024) {
    fprintf (stderr, "usage: nbd-inflight URI N (1-1024)\n");
    return 2;
  }
  nbd = nbd_create ();
  bufs = malloc (n * BLOCK);
  cookies = calloc (n, sizeof *cookies);
  if (nbd == NULL || bufs == NULL || cookies == NULL ||
      nbd_connect_uri (nbd, argv[1]) == -1) {
    fprintf (stderr, "nbd-inflight: %s\n", nbd_get_error ());
    return 1;
  }
  printf ("connected\n");
  fflush (stdout);
  if (fgets (line, sizeof line, stdin) == NULL)
    return 1;
  for (i = 0; i < n; i++) {
    memset (bufs + i * BLOCK, (int) (i + 1), BLOCK);
    cookies[i] = nbd_aio_pwrite (nbd, bufs + i * BLOCK, BLOCK, i * BLOCK,
                                 NBD_NULL_COMPLETION, 0);
    if (cookies[i] == -1) {
      fprintf (stderr, "nbd-inflight: write %ld: %s\n", i, nbd_get_error ());
      return 1;
    }
  }
  while (nbd_aio_in_flight (nbd) > 0)
    if (nbd_poll (nbd, -1) == -1) {
      fprintf (stderr, "nbd-inflight: %s\n", nbd_get_error ());
      return 1;
    }
  for (i = 0; i < n; i++) {
    if (nbd_aio_command_completed (nbd, cookies[i]) != 1) {
      fprintf (stderr, "nbd-inflight: write %ld failed: %s\n", i,
               nbd_get_error ());
      return 1;
    }
    if (nbd_pread (nbd, back, BLOCK, i * BLOCK, 0) == -1 ||
        memcmp (back, bufs + i * BLOCK, BLOCK) != 0) {
      fprintf (stderr, "nbd-inflight: block %ld does not read back\n", i);
      return 1;
    }
  }
  printf ("%ld writes in flight together: all done and read back\n", n);
  nbd_shutdown (nbd, 0);
  nbd_close (nbd);
  free (bufs);
  free (cookies);
  return 0;
}
