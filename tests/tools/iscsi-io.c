/* iscsi-io: an iSCSI initiator for the tests (libiscsi), doing what
 * libiscsi-bin's tools do not: writes, SYNCHRONIZE CACHE, whole-LUN
 * reads.
 *
 *   iscsi-io [-i INITIATOR] URL replay TRACE
 *       Writes every record of a tap trace (tap=record:FILE) to the LUN
 *       as an initiator would: a write is WRITE(16) (with FUA if the
 *       record had it), a zero (or a trim that reads as zeroes) writes
 *       zeroes, a flush is SYNCHRONIZE CACHE(10).  So a file-system
 *       workload recorded through NBD is played again through iSCSI,
 *       block by block.  Prints the counts (fua: commands with FUA).
 *   iscsi-io [-i INITIATOR] URL compare IMAGE
 *       Reads the whole LUN and compares it with IMAGE.
 *   iscsi-io [-i INITIATOR] URL sync
 *       One SYNCHRONIZE CACHE(10).
 *
 * URL is iscsi://[USER%PASSWORD@]HOST[:PORT]/IQN/LUN.  Exit 1 on any
 * error, mismatch or record it cannot play.
 */

#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "tap/tap-reader.h"
#include "tap/tap-seq.h"

#define CHUNK (1024 * 1024)

static struct iscsi_context *iscsi;
static int lun;
static uint32_t block;
static uint64_t lun_size;
static unsigned long long fua_commands;   /* each one flushes */

static void __attribute__ ((noreturn, format (printf, 1, 2)))
die (const char *fmt, ...)
{
  va_list ap;

  fprintf (stderr, "iscsi-io: ");
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fprintf (stderr, "\n");
  exit (1);
}

/* The task of a command, checked: a unit attention (the first command
 * after a login gets one) is worth one more try.
 */
#define RUN(what, call)                                                   \
  ({                                                                      \
    struct scsi_task *t_ = (call);                                        \
    if (t_ && t_->status == SCSI_STATUS_CHECK_CONDITION &&                \
        t_->sense.key == SCSI_SENSE_UNIT_ATTENTION) {                     \
      scsi_free_scsi_task (t_);                                           \
      t_ = (call);                                                        \
    }                                                                     \
    if (t_ == NULL || t_->status != SCSI_STATUS_GOOD)                     \
      die ("%s: %s", what, iscsi_get_error (iscsi));                      \
    t_;                                                                   \
  })

static void
connect_lun (const char *initiator, const char *url)
{
  struct iscsi_url *u;
  struct scsi_task *t;
  struct scsi_readcapacity16 *rc;

  iscsi = iscsi_create_context (initiator);
  if (iscsi == NULL)
    die ("cannot create a libiscsi context");
  u = iscsi_parse_full_url (iscsi, url);
  if (u == NULL)
    die ("%s: %s", url, iscsi_get_error (iscsi));
  iscsi_set_session_type (iscsi, ISCSI_SESSION_NORMAL);
  iscsi_set_header_digest (iscsi, ISCSI_HEADER_DIGEST_NONE_CRC32C);
  if (iscsi_full_connect_sync (iscsi, u->portal, u->lun) != 0)
    die ("login: %s", iscsi_get_error (iscsi));
  lun = u->lun;
  iscsi_destroy_url (u);
  t = RUN ("READ CAPACITY(16)", iscsi_readcapacity16_sync (iscsi, lun));
  rc = scsi_datain_unmarshall (t);
  if (rc == NULL)
    die ("READ CAPACITY(16): cannot decode the answer");
  block = rc->block_length;
  lun_size = (rc->returned_lba + 1) * block;
  scsi_free_scsi_task (t);
}

static void
write_at (uint64_t off, const uint8_t *data, uint64_t len, bool fua)
{
  if (off % block || len % block || off + len > lun_size)
    die ("a write at %" PRIu64 "+%" PRIu64 " does not fit blocks of %u on "
         "%" PRIu64 " bytes", off, len, block, lun_size);
  while (len) {
    uint32_t n = len < CHUNK ? len : CHUNK;
    scsi_free_scsi_task (RUN ("WRITE(16)",
      iscsi_write16_sync (iscsi, lun, off / block, (unsigned char *) data, n,
                          block, 0, 0, fua, 0, 0)));
    fua_commands += fua;
    off += n;
    data += n;
    len -= n;
  }
}

static void
sync_cache (void)
{
  scsi_free_scsi_task (RUN ("SYNCHRONIZE CACHE(10)",
    iscsi_synchronizecache10_sync (iscsi, lun, 0, 0, 0, 0)));
}

struct replay {
  struct tap_seq seq;
  uint8_t *zeroes;
  unsigned long long writes, bytes, zero, zero_bytes, syncs;
};

static int
play (const struct tap_item *it, void *opaque)
{
  struct replay *r = opaque;
  const struct tap_record *rec = &it->rec;

  if (it->kind == TAP_ITEM_HEADER) {
    tap_seq_header (&r->seq, it->hdr);
    return 0;
  }
  if (tap_seq_record (&r->seq, rec) != TAP_SEQ_NEW)
    return 0;
  switch (rec->type) {
  case TAP_WRITE:
    write_at (rec->offset, it->payload, rec->length, rec->flags & TAP_F_FUA);
    r->writes++;
    r->bytes += rec->length;
    return 0;
  case TAP_TRIM:
    if (!(rec->flags & TAP_F_READS_ZERO))
      die ("seq %" PRIu64 ": a trim whose content is undefined cannot be "
           "played", rec->seq);
    /* fallthrough */
  case TAP_ZERO:
    for (uint64_t done = 0; done < rec->length; done += CHUNK) {
      uint64_t n = rec->length - done < CHUNK ? rec->length - done : CHUNK;
      write_at (rec->offset + done, r->zeroes, n, rec->flags & TAP_F_FUA);
    }
    r->zero++;
    r->zero_bytes += rec->length;
    return 0;
  case TAP_FLUSH:
    sync_cache ();
    r->syncs++;
    return 0;
  case TAP_END:
    return 0;
  default:
    die ("seq %" PRIu64 ": record type %u cannot be played (a trace with "
         "losses?)", rec->seq, rec->type);
  }
}

static void
replay (const char *trace)
{
  struct replay r = { .zeroes = calloc (1, CHUNK) };
  char err[256];

  if (r.zeroes == NULL)
    die ("out of memory");
  if (tap_read_file (trace, play, &r, err, sizeof err) == -1)
    die ("%s: %s", trace, err);
  printf ("writes %llu bytes %llu fua %llu zeroes %llu zero-bytes %llu "
          "syncs %llu\n", r.writes, r.bytes, fua_commands, r.zero,
          r.zero_bytes, r.syncs);
  free (r.zeroes);
}

static void
compare (const char *image)
{
  int fd = open (image, O_RDONLY);
  uint8_t *want = malloc (CHUNK);

  if (fd == -1 || want == NULL)
    die ("%s: %m", image);
  if ((uint64_t) lseek (fd, 0, SEEK_END) != lun_size)
    die ("%s is not the size of the LUN (%" PRIu64 " bytes)", image,
         lun_size);
  for (uint64_t off = 0; off < lun_size; off += CHUNK) {
    uint32_t n = lun_size - off < CHUNK ? lun_size - off : CHUNK;
    struct scsi_task *t = RUN ("READ(16)",
      iscsi_read16_sync (iscsi, lun, off / block, n, block, 0, 0, 0, 0, 0));
    if (t->datain.size != (int) n || pread (fd, want, n, off) != n)
      die ("short read at %" PRIu64, off);
    for (uint32_t i = 0; i < n; i++)
      if (t->datain.data[i] != want[i])
        die ("the LUN differs from %s at byte %" PRIu64, image, off + i);
    scsi_free_scsi_task (t);
  }
  printf ("same %" PRIu64 " bytes\n", lun_size);
  free (want);
  close (fd);
}

int
main (int argc, char **argv)
{
  const char *initiator = "iqn.2024-01.io.blockwatch.test:iscsi-io";
  int c;

  while ((c = getopt (argc, argv, "i:")) != -1) {
    if (c != 'i')
      goto usage;
    initiator = optarg;
  }
  if (argc - optind < 2)
    goto usage;
  connect_lun (initiator, argv[optind]);
  if (strcmp (argv[optind + 1], "replay") == 0 && argc - optind == 3)
    replay (argv[optind + 2]);
  else if (strcmp (argv[optind + 1], "compare") == 0 && argc - optind == 3)
    compare (argv[optind + 2]);
  else if (strcmp (argv[optind + 1], "sync") == 0 && argc - optind == 2)
    sync_cache ();
  else
    goto usage;
  iscsi_logout_sync (iscsi);
  iscsi_destroy_context (iscsi);
  return 0;
 usage:
  fprintf (stderr, "usage: iscsi-io [-i INITIATOR] URL replay TRACE | "
           "compare IMAGE | sync\n");
  return 2;
}
