/* A read-only reader over an NBD export (libnbd), by any URI
 * nbd_connect_uri takes: nbd://, nbds://, nbd+unix://, nbds+unix://,
 * ..., with TLS when the URI asks for it (see reader.h).
 *
 * One connection and synchronous reads: the introspector reads from
 * one thread, one block range at a time.  A connection that breaks
 * (the server restarted) is made again, for up to the reconnect time
 * the reader was opened with, and the read sent again, as the plugin does for its requests: the
 * introspector reads the same storage the proxy writes to, and should
 * not give up on it over an outage the guest only saw as a pause.
 */

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libnbd.h>

#include "common/clock.h"
#include "reader-blocks.h"
#include "storage/storage-uri.h"

/* NBD servers need not take larger requests unless they say so. */
#define DEFAULT_MAX_REQUEST (32u * 1024 * 1024)

struct nbd_reader {
  struct bw_block_reader b;
  struct nbd_handle *nbd;
  char *uri;                    /* as given, to connect again */
  char *password;               /* from nbd://USER:PASSWORD@..., never shown */
  char *name;                   /* the URI, password hidden */
  uint64_t reconnect_ms;        /* how long a broken connection is retried */
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

/* A handle connected to the URI, or NULL with libnbd's error set.
 * The URI comes from the administrator's command line, so the
 * tls-psk-file= and tls-certificates= it names are meant to be read.
 */
static struct nbd_handle *
connect_uri (const char *uri)
{
  struct nbd_handle *nbd = nbd_create ();

  if (nbd && (nbd_set_uri_allow_local_file (nbd, true) == -1 ||
              nbd_connect_uri (nbd, uri) == -1)) {
    nbd_close (nbd);
    return NULL;
  }
  return nbd;
}

/* The connection broke: a new one to the same export, tried for up to
 * reconnect_ms.  0, or -1 with the handle closed.
 */
static int
reconnect (struct nbd_reader *nr)
{
  uint64_t until = now_ms () + nr->reconnect_ms;
  unsigned delay = 50;

  nbd_close (nr->nbd);
  for (;;) {
    nr->nbd = connect_uri (nr->uri);
    if (nr->nbd && nbd_get_size (nr->nbd) == (int64_t) nr->b.r.size)
      return 0;
    nbd_close (nr->nbd);
    nr->nbd = NULL;
    if (now_ms () >= until)
      return -1;
    usleep (delay * 1000);
    delay = delay * 2 < 1000 ? delay * 2 : 1000;
  }
}

static int
nbd_read_blocks (struct bw_block_reader *b, void *buf, uint32_t n,
                 uint64_t off, char *err, size_t errlen)
{
  struct nbd_reader *nr = (struct nbd_reader *) b;
  char what[80];
  int r = nr->nbd ? nbd_pread (nr->nbd, buf, n, off, 0) : -1;

  if (r == -1 && (nr->nbd == NULL || nbd_aio_is_dead (nr->nbd) ||
                  nbd_aio_is_closed (nr->nbd)) &&
      reconnect (nr) == 0)
    r = nbd_pread (nr->nbd, buf, n, off, 0);
  if (r == -1) {
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
  free (nr->uri);
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
bw_reader_open_nbd (const char *uri, unsigned reconnect_s, char *err,
                    size_t errlen)
{
  struct nbd_reader *nr = calloc (1, sizeof *nr);

  if (nr == NULL || (nr->name = strdup (uri)) == NULL ||
      (nr->uri = strdup (uri)) == NULL) {
    snprintf (err, errlen, "out of memory");
    if (nr)
      free (nr->name);
    free (nr);
    return NULL;
  }
  nr->reconnect_ms = reconnect_s * 1000ull;
  nr->password = storage_uri_password (uri);
  nr->name = storage_scrub (nr->name, nr->password);
  nr->b.name = nr->name;
  nr->b.read_blocks = nbd_read_blocks;
  nr->b.r.close = nbd_reader_close;
  nr->nbd = connect_uri (uri);
  if (nr->nbd == NULL) {
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
