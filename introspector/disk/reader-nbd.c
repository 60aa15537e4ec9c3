/* A read-only reader over an NBD export (libnbd), by any URI
 * nbd_connect_uri takes: nbd://, nbds://, nbd+unix://, nbds+unix://,
 * ..., with TLS when the URI asks for it (see reader.h).
 *
 * One connection and synchronous reads: the introspector reads from
 * one thread, one block range at a time.
 */

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libnbd.h>

#include "reader-blocks.h"
#include "storage/storage-uri.h"

/* NBD servers need not take larger requests unless they say so. */
#define DEFAULT_MAX_REQUEST (32u * 1024 * 1024)

struct nbd_reader {
  struct bw_block_reader b;
  struct nbd_handle *nbd;
  char *password;               /* from nbd://USER:PASSWORD@..., never shown */
  char *name;                   /* the URI, password hidden */
};

/* "nbd: NAME: WHAT: libnbd's error", the password hidden: libnbd
 * quotes the URI in some of its messages.
 */
static void
describe (const struct nbd_reader *nr, const char *what, char *err,
          size_t errlen)
{
  const char *e = nbd_get_error ();
  char *msg = strdup (e ? e : "unknown error");

  if (msg)
    msg = storage_scrub (msg, nr->password);
  snprintf (err, errlen, "nbd: %s: %s: %s", nr->name, what,
            msg ? msg : "out of memory");
  free (msg);
}

static int
nbd_read_blocks (struct bw_block_reader *b, void *buf, uint32_t n,
                 uint64_t off, char *err, size_t errlen)
{
  struct nbd_reader *nr = (struct nbd_reader *) b;
  char what[80];

  if (nbd_pread (nr->nbd, buf, n, off, 0) == -1) {
    snprintf (what, sizeof what, "read of %u bytes at %llu", n,
              (unsigned long long) off);
    describe (nr, what, err, errlen);
    return -1;
  }
  return 0;
}

static void
nbd_reader_close (struct bw_reader *r)
{
  struct nbd_reader *nr = (struct nbd_reader *) r;

  if (nr->nbd && nbd_aio_is_ready (nr->nbd))
    nbd_shutdown (nr->nbd, 0);
  nbd_close (nr->nbd);
  bw_block_reader_fini (&nr->b);
  free (nr->password);
  free (nr->name);
  free (nr);
}

/* The server's block size constraints, or the defaults NBD implies
 * when it names none.
 */
static int
set_geometry (struct nbd_reader *nr, char *err, size_t errlen)
{
  int64_t size = nbd_get_size (nr->nbd);
  int64_t min = nbd_get_block_size (nr->nbd, LIBNBD_SIZE_MINIMUM);
  int64_t max = nbd_get_block_size (nr->nbd, LIBNBD_SIZE_MAXIMUM);

  if (size == -1 || min == -1 || max == -1) {
    describe (nr, "size", err, errlen);
    return -1;
  }
  nr->b.r.size = size;
  nr->b.block = min > 0 ? min : 1;
  nr->b.max = max > 0 && max < DEFAULT_MAX_REQUEST ? max : DEFAULT_MAX_REQUEST;
  nr->b.max -= nr->b.max % nr->b.block;
  /* As the plugin's header says: the minimum I/O size when it names a
   * real sector, else the traditional 512.
   */
  nr->b.r.sector_size = min >= 512 ? min : 512;
  return 0;
}

struct bw_reader *
bw_reader_open_nbd (const char *uri, char *err, size_t errlen)
{
  struct nbd_reader *nr = calloc (1, sizeof *nr);

  if (nr == NULL || (nr->name = strdup (uri)) == NULL) {
    snprintf (err, errlen, "out of memory");
    free (nr);
    return NULL;
  }
  nr->password = storage_uri_password (uri);
  nr->name = storage_scrub (nr->name, nr->password);
  nr->b.name = nr->name;
  nr->b.read_blocks = nbd_read_blocks;
  nr->b.r.close = nbd_reader_close;
  nr->nbd = nbd_create ();
  if (nr->nbd == NULL) {
    describe (nr, "nbd_create", err, errlen);
    goto fail;
  }
  /* The URI comes from the administrator's command line, so the
   * tls-psk-file= and tls-certificates= it names are meant to be read.
   */
  if (nbd_set_uri_allow_local_file (nr->nbd, true) == -1 ||
      nbd_connect_uri (nr->nbd, uri) == -1) {
    describe (nr, "cannot connect", err, errlen);
    goto fail;
  }
  if (set_geometry (nr, err, errlen) == -1 ||
      bw_block_reader_init (&nr->b, err, errlen) == -1)
    goto fail;
  return &nr->b.r;

 fail:
  nbd_reader_close (&nr->b.r);
  return NULL;
}
