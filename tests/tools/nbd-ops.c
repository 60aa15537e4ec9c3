/* nbd-ops: drives every NBD operation the export offers against a
 * model of the disk and checks each read against it.
 *
 *   nbd-ops --uri URI [--ops N] [--seed S] [--max-len BYTES]
 *
 * The model starts as a full read of the export.  Writes and zeroes
 * change it; a trim makes the range's content the backend's choice, so
 * the tool reads it back and takes that as the new model.  Ops are
 * aligned to 512 bytes (iSCSI LUNs need it).  Exit 1 on any mismatch
 * or unexpected error.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libnbd.h>

#define ALIGN 512

static struct nbd_handle *nbd;
static uint8_t *model;
static uint64_t size;
static unsigned long long mismatches, counts[10];
enum { W, WF, R, Z, ZT, ZF, T, F, C, B };
static const char *names[] = { "write", "write-fua", "read", "zero",
  "zero-may-trim", "fast-zero", "trim", "flush", "cache", "block-status" };

static uint64_t rng;
static uint64_t
rnd (void)
{
  rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
  return rng;
}

static void
die (const char *what)
{
  fprintf (stderr, "nbd-ops: %s: %s\n", what, nbd_get_error ());
  exit (1);
}

static void
check_read (uint64_t off, uint64_t len, const char *why)
{
  uint8_t *buf = malloc (len);

  if (nbd_pread (nbd, buf, len, off, 0) == -1)
    die ("pread");
  if (memcmp (buf, model + off, len) != 0) {
    uint64_t i = 0;
    while (buf[i] == model[off + i])
      i++;
    fprintf (stderr, "nbd-ops: MISMATCH %s at offset %" PRIu64 " (range %"
             PRIu64 "+%" PRIu64 "): read %02x, expected %02x\n", why,
             off + i, off, len, buf[i], model[off + i]);
    mismatches++;
  }
  free (buf);
}

static int
extent_cb (void *opaque, const char *metacontext, uint64_t offset,
           uint32_t *entries, size_t n, int *error)
{
  (void) opaque; (void) error;
  if (strcmp (metacontext, LIBNBD_CONTEXT_BASE_ALLOCATION) != 0)
    return 0;
  for (size_t i = 0; i + 1 < n; i += 2) {
    uint64_t len = entries[i];
    if (offset + len > size)
      len = size - offset;
    if (entries[i + 1] & LIBNBD_STATE_ZERO) {
      for (uint64_t j = 0; j < len; j++)
        if (model[offset + j] != 0) {
          fprintf (stderr, "nbd-ops: MISMATCH block status says %" PRIu64
                   "+%" PRIu64 " reads as zero but byte %" PRIu64
                   " is %02x\n", offset, len, offset + j, model[offset + j]);
          mismatches++;
          break;
        }
    }
    offset += len;
  }
  return 0;
}

int
main (int argc, char **argv)
{
  static const struct option opts[] = {
    { "uri", required_argument, NULL, 'u' },
    { "ops", required_argument, NULL, 'n' },
    { "seed", required_argument, NULL, 's' },
    { "max-len", required_argument, NULL, 'm' },
    { 0 }
  };
  const char *uri = NULL;
  unsigned long nops = 2000, max_len = 256 * 1024;
  bool can_trim, can_zero, can_fast, can_flush, can_fua, can_cache, can_bs;
  int c;

  rng = 0x9e3779b97f4a7c15ull;
  while ((c = getopt_long (argc, argv, "u:n:s:m:", opts, NULL)) != -1) {
    switch (c) {
    case 'u': uri = optarg; break;
    case 'n': nops = strtoul (optarg, NULL, 0); break;
    case 's': rng ^= strtoull (optarg, NULL, 0) * 0x2545f4914f6cdd1dull; break;
    case 'm': max_len = strtoul (optarg, NULL, 0); break;
    default: return 2;
    }
  }
  if (uri == NULL || max_len < ALIGN) {
    fprintf (stderr, "usage: nbd-ops --uri URI [--ops N] [--seed S] "
             "[--max-len BYTES]\n");
    return 2;
  }

  nbd = nbd_create ();
  if (nbd == NULL)
    die ("nbd_create");
  nbd_add_meta_context (nbd, LIBNBD_CONTEXT_BASE_ALLOCATION);
  if (nbd_connect_uri (nbd, uri) == -1)
    die ("connect");
  size = nbd_get_size (nbd);
  if ((int64_t) size <= 0 || size % ALIGN)
    die ("size");
  can_trim = nbd_can_trim (nbd) == 1;
  can_zero = nbd_can_zero (nbd) == 1;
  can_fast = nbd_can_fast_zero (nbd) == 1;
  can_flush = nbd_can_flush (nbd) == 1;
  can_fua = nbd_can_fua (nbd) == 1;
  can_cache = nbd_can_cache (nbd) == 1;
  can_bs = nbd_can_meta_context (nbd, LIBNBD_CONTEXT_BASE_ALLOCATION) == 1;
  if (nbd_is_read_only (nbd) == 1) {
    fprintf (stderr, "nbd-ops: export is read-only\n");
    return 1;
  }

  model = malloc (size);
  for (uint64_t off = 0; off < size; off += 1 << 22) {
    uint64_t n = size - off < (1 << 22) ? size - off : 1 << 22;
    if (nbd_pread (nbd, model + off, n, off, 0) == -1)
      die ("initial read");
  }

  for (unsigned long i = 0; i < nops; i++) {
    uint64_t len = (1 + rnd () % (max_len / ALIGN)) * ALIGN;
    uint64_t off;
    unsigned pick = rnd () % 100;
    int op;

    if (len > size)
      len = size;
    off = (rnd () % ((size - len) / ALIGN + 1)) * ALIGN;
    op = pick < 40 ? W : pick < 50 ? WF : pick < 65 ? R : pick < 71 ? Z
       : pick < 75 ? ZT : pick < 78 ? ZF : pick < 85 ? T : pick < 92 ? F
       : pick < 95 ? C : B;
    if ((op == WF && !can_fua) || ((op == Z || op == ZT) && !can_zero) ||
        (op == ZF && !can_fast) || (op == T && !can_trim) ||
        (op == F && !can_flush) || (op == C && !can_cache) ||
        (op == B && !can_bs))
      op = W;
    counts[op]++;

    switch (op) {
    case W:
    case WF:
      for (uint64_t j = 0; j < len; j += 8) {
        uint64_t v = rnd ();
        memcpy (model + off + j, &v, len - j < 8 ? len - j : 8);
      }
      if (nbd_pwrite (nbd, model + off, len, off,
                      op == WF ? LIBNBD_CMD_FLAG_FUA : 0) == -1)
        die ("pwrite");
      break;
    case R:
      check_read (off, len, "read");
      break;
    case Z:
    case ZT:
      if (nbd_zero (nbd, len, off, op == Z ? LIBNBD_CMD_FLAG_NO_HOLE : 0) == -1)
        die ("zero");
      memset (model + off, 0, len);
      check_read (off, len, "after zero");
      break;
    case ZF:
      if (nbd_zero (nbd, len, off, LIBNBD_CMD_FLAG_FAST_ZERO) == -1) {
        /* Refusing a fast zero is allowed; it must change nothing. */
        if (nbd_get_errno () != ENOTSUP && nbd_get_errno () != EOPNOTSUPP)
          die ("fast zero");
        counts[ZF]--;
        check_read (off, len, "after refused fast zero");
        break;
      }
      memset (model + off, 0, len);
      check_read (off, len, "after fast zero");
      break;
    case T:
      if (nbd_trim (nbd, len, off, 0) == -1)
        die ("trim");
      if (nbd_pread (nbd, model + off, len, off, 0) == -1)
        die ("pread after trim");
      break;
    case F:
      if (nbd_flush (nbd, 0) == -1)
        die ("flush");
      break;
    case C:
      if (nbd_cache (nbd, len, off, 0) == -1)
        die ("cache");
      break;
    case B:
      if (nbd_block_status (nbd, len, off,
                            (nbd_extent_callback) { .callback = extent_cb },
                            0) == -1)
        die ("block status");
      break;
    }
  }
  if (can_flush && nbd_flush (nbd, 0) == -1)
    die ("final flush");
  for (uint64_t off = 0; off < size; off += 1 << 22)
    check_read (off, size - off < (1 << 22) ? size - off : 1 << 22, "final");
  nbd_shutdown (nbd, 0);
  nbd_close (nbd);
  free (model);

  printf ("nbd-ops: %lu ops:", nops);
  for (int k = 0; k < 10; k++)
    printf (" %s=%llu", names[k], counts[k]);
  printf (", %llu mismatches\n", mismatches);
  return mismatches ? 1 : 0;
}
