/* iSCSI backend: one LUN of an iSCSI target, reached with libiscsi.
 *
 *   iscsi://[USER[%PASSWORD]@]HOST[:PORT]/TARGET-IQN/LUN
 *
 * This file probes the LUN and serves nbdkit's requests; the URI, the
 * credentials, sessions and the SCSI commands run on them are the
 * iSCSI client's (storage/iscsi-client.h), which the introspector's
 * iscsi reader shares.
 *
 * setup() logs in once before nbdkit forks to learn the LUN's size,
 * block size and provisioning (READ CAPACITY(16), the Block Limits and
 * Logical Block Provisioning VPD pages, MODE SENSE's WP and DPOFUA
 * bits) so that every start-up error is reported there.  Then every
 * NBD connection has its own iSCSI session.
 *
 * Thread model: PARALLEL.  Each connection's session is served by a
 * thread of its own (iscsi_session_serve), which alone touches the
 * libiscsi context: nbdkit's request threads queue their commands to
 * it and wait, so a connection has as many commands outstanding on
 * its session as the client has requests in flight.  Requests in
 * flight together may complete in any order, as NBD allows.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "backend.h"
#include "plugin-stats.h"
#include "storage/iscsi-client.h"

/* One fixed initiator name by default, so a target's ACL can admit
 * "the blockwatch proxy" without knowing which host it runs on.
 */
#define DEFAULT_INITIATOR   "iqn.2024-01.io.blockwatch:proxy"
/* One WRITE SAME or UNMAP covers at most this much when the Block
 * Limits page sets no limit, so each command stays well inside
 * COMMAND_TIMEOUT_MS (storage/iscsi-session.c) even on a target that
 * writes every block.
 */
#define DEFAULT_MAX_SAME    (256u * 1024 * 1024)
#define LBA_STATUS_ALLOC    (8 + 16 * 128)
#define MODE_SENSE_WP       0x80
#define MODE_SENSE_DPOFUA   0x10

/* The LUN served.  setup() alone writes it, so the connections'
 * threads read it without a lock once nbdkit has forked.
 */
static struct {
  struct iscsi_where where;     /* from the URI and the config */
  uint64_t size;
  uint32_t block_size;
  uint32_t phys_block_size;
  uint32_t max_io;              /* bytes per READ or WRITE */
  uint32_t max_same_blocks;     /* blocks per WRITE SAME */
  uint32_t max_unmap_blocks;    /* blocks per UNMAP */
  uint32_t unmap_granularity;   /* blocks */
  uint32_t unmap_alignment;     /* blocks */
  bool lbpme;                   /* provisioning management: GET LBA STATUS */
  bool lbprz;                   /* unmapped blocks read as zeroes */
  bool lbpu;                    /* UNMAP */
  bool lbpws;                   /* WRITE SAME(16) with the UNMAP bit */
  bool write_protected;
  bool fua;                     /* the FUA bit is honoured (DPOFUA) */
} lun;

/* One NBD connection (or setup()'s probing) and its session. */
struct ihandle {
  struct iscsi_session s;
  /* The target rejected WRITE SAME(16); set and read atomically, by
   * the connection's concurrent requests.
   */
  bool no_write_same;
};

static int
fail_with (int err)
{
  nbdkit_set_error (err);
  errno = err;
  return -1;
}

/* A failure of the iSCSI client (errno set), told to nbdkit. */
static void
report (const char *err)
{
  nbdkit_error ("iscsi backend: %s", err);
  nbdkit_set_error (errno);
}

/* Runs c on h's session.  NULL after an error was reported, except
 * that a quiet command's CHECK CONDITION is left to the caller.
 */
static struct scsi_task *
cmd_run (struct ihandle *h, struct iscsi_cmd *c)
{
  char err[MAX_STRING_SIZE + 256];
  struct scsi_task *task = iscsi_cmd_run (&h->s, c, err, sizeof err);

  if (task == NULL && !(c->quiet && c->check_condition))
    report (err);
  return task;
}

static void
cmd_report_sense (const struct ihandle *h, const struct iscsi_cmd *c)
{
  char err[MAX_STRING_SIZE + 256];

  iscsi_cmd_describe_sense (&h->s, c, err, sizeof err);
  nbdkit_error ("iscsi backend: %s", err);
}

static void
session_init (struct ihandle *h, uint16_t isid_qualifier)
{
  h->s.where = &lun.where;
  h->s.isid_qualifier = isid_qualifier;
  h->s.debug = nbdkit_debug;
}

static int
session_login (struct ihandle *h)
{
  char err[MAX_STRING_SIZE + 256];

  if (iscsi_session_login (&h->s, err, sizeof err) == -1) {
    report (err);
    return -1;
  }
  return 0;
}

static const unsigned char zero_block[ISCSI_MAX_BLOCK];

/* ---- setup: what the LUN can do ---- */

static int
probe_capacity (struct ihandle *h)
{
  struct iscsi_capacity cap;
  char err[MAX_STRING_SIZE + 256];

  if (iscsi_read_capacity (&h->s, &cap, err, sizeof err) == -1) {
    report (err);
    return -1;
  }
  lun.size = cap.size;
  lun.block_size = cap.block_size;
  lun.phys_block_size = cap.phys_block_size;
  lun.lbpme = cap.lbpme;
  lun.lbprz = cap.lbprz;
  return 0;
}

static uint32_t
clamp_blocks (uint64_t blocks, uint64_t max_bytes)
{
  uint64_t max = max_bytes / lun.block_size;

  return blocks && blocks < max ? blocks : max;
}

static void
probe_vpd (struct ihandle *h)
{
  struct scsi_inquiry_block_limits *bl;
  struct scsi_inquiry_logical_block_provisioning *lbp;
  struct scsi_task *task;

  bl = iscsi_inquire_vpd (&h->s, SCSI_INQUIRY_PAGECODE_BLOCK_LIMITS, "Block Limits VPD",
                    &task);
  lun.max_io = clamp_blocks (bl ? bl->max_xfer_len : 0, ISCSI_MAX_IO)
               * lun.block_size;
  lun.max_same_blocks = clamp_blocks (bl ? bl->max_ws_len : 0,
                                      DEFAULT_MAX_SAME);
  lun.max_unmap_blocks = clamp_blocks (bl ? bl->max_unmap : 0,
                                       DEFAULT_MAX_SAME);
  lun.unmap_granularity = bl && bl->opt_unmap_gran ? bl->opt_unmap_gran : 1;
  lun.unmap_alignment = bl && bl->ugavalid ? bl->unmap_gran_align : 0;
  if (task)
    scsi_free_scsi_task (task);

  lbp = iscsi_inquire_vpd (&h->s, SCSI_INQUIRY_PAGECODE_LOGICAL_BLOCK_PROVISIONING,
                     "Logical Block Provisioning VPD", &task);
  lun.lbpu = lbp && lbp->lbpu;
  lun.lbpws = lbp && lbp->lbpws;
  if (task)
    scsi_free_scsi_task (task);
}

/* The WP and DPOFUA bits of the mode parameter header.  A LUN without
 * MODE SENSE is taken as writable (writes would then fail with EROFS)
 * and without FUA (nbdkit then flushes after FUA writes).
 */
static void
probe_mode (struct ihandle *h)
{
  struct iscsi_cmd c = { .name = "MODE SENSE(6)", .quiet = true,
                   .cdb = scsi_cdb_modesense6 (1, SCSI_MODESENSE_PC_CURRENT,
                                               SCSI_MODEPAGE_RETURN_ALL_PAGES,
                                               0, 255) };
  struct scsi_task *task = cmd_run (h, &c);

  if (task && task->datain.size >= 4) {
    lun.write_protected = task->datain.data[2] & MODE_SENSE_WP;
    lun.fua = task->datain.data[2] & MODE_SENSE_DPOFUA;
  }
  if (task)
    scsi_free_scsi_task (task);
}

static int
ib_setup (const struct backend_config *cfg, struct backend_info *info)
{
  struct ihandle h = { 0 };
  int r;

  char err[MAX_STRING_SIZE + 256];

  if (cfg->initiator && !*cfg->initiator) {
    nbdkit_error ("iscsi backend: initiator= must not be empty");
    return -1;
  }
  if (iscsi_where_parse (&lun.where, cfg->uri, cfg->user, cfg->password,
                         cfg->initiator ? cfg->initiator : DEFAULT_INITIATOR,
                         err, sizeof err) == -1) {
    nbdkit_error ("iscsi backend: %s", err);
    return -1;
  }
  iscsi_init_isids ();
  session_init (&h, 0);
  if (session_login (&h) == -1)
    return -1;
  r = probe_capacity (&h);
  if (r == 0) {
    probe_vpd (&h);
    probe_mode (&h);
    info->size = lun.size;
    info->sector_size = lun.block_size;
    nbdkit_debug ("iscsi backend: %s: %" PRIu64 " bytes, block %" PRIu32
                  " (physical %" PRIu32 "), max I/O %" PRIu32 ", lbpme %d "
                  "lbprz %d lbpu %d lbpws %d, write-protected %d, fua %d",
                  lun.where.name, lun.size, lun.block_size, lun.phys_block_size,
                  lun.max_io, lun.lbpme, lun.lbprz, lun.lbpu, lun.lbpws,
                  lun.write_protected, lun.fua);
  }
  iscsi_session_logout (&h.s);
  return r;
}

static void
ib_unload (void)
{
  iscsi_where_clear (&lun.where);
}

/* ---- connections ---- */

static void *
ib_open (int readonly)
{
  struct ihandle *h = calloc (1, sizeof *h);
  char err[MAX_STRING_SIZE + 256];

  (void) readonly;              /* nbdkit sends no writes then */
  if (h == NULL) {
    nbdkit_error ("iscsi backend: calloc: %m");
    return NULL;
  }
  session_init (h, iscsi_next_isid_qualifier ());
  h->s.in_flight = plugin_stats_in_flight;
  if (session_login (h) == -1) {
    free (h);
    return NULL;
  }
  if (iscsi_session_serve (&h->s, err, sizeof err) == -1) {
    report (err);
    iscsi_session_logout (&h->s);
    free (h);
    return NULL;
  }
  return h;
}

static void
ib_close (void *hv)
{
  struct ihandle *h = hv;

  iscsi_session_logout (&h->s);
  free (h);
}

/* The size setup() read: the tap's header promised it. */
static int64_t
ib_get_size (void *hv)
{
  (void) hv;
  return lun.size;
}

static int
ib_block_size (void *hv, uint32_t *minimum, uint32_t *preferred,
               uint32_t *maximum)
{
  (void) hv;
  *minimum = lun.block_size;
  /* Whole physical blocks spare the array a read-modify-write. */
  *preferred = lun.phys_block_size > 4096 ? lun.phys_block_size : 4096;
  *maximum = lun.max_io;
  if (*preferred > *maximum)
    *preferred = *minimum;
  return 0;
}

static int
ib_can_write (void *hv)
{
  (void) hv;
  return !lun.write_protected;
}

static int
yes (void *hv)
{
  (void) hv;
  return 1;
}

static int
ib_can_fua (void *hv)
{
  (void) hv;
  return lun.fua ? NBDKIT_FUA_NATIVE : NBDKIT_FUA_EMULATE;
}

static int
ib_can_trim (void *hv)
{
  (void) hv;
  return lun.lbpu;
}

/* Only WRITE SAME with UNMAP on a LUN whose unmapped blocks read as
 * zeroes is sure not to write every block.
 */
static int
ib_can_fast_zero (void *hv)
{
  (void) hv;
  return lun.lbpws && lun.lbprz;
}

static int
ib_can_extents (void *hv)
{
  (void) hv;
  return lun.lbpme;
}

/* Every connection is its own session to the same LUN, and SYNCHRONIZE
 * CACHE makes everything the logical unit has acknowledged durable,
 * whichever session wrote it; this backend caches nothing itself.  So
 * a flush on one connection covers writes done on all of them, which
 * is what multi-conn promises.
 */
static int
ib_can_multi_conn (void *hv)
{
  (void) hv;
  return 1;
}

/* nbdkit advertises the block size as the minimum but does not
 * enforce it; requests that ignore it cannot be expressed in LBAs.
 */
static int
check_aligned (const char *what, uint32_t count, uint64_t offset)
{
  if (offset % lun.block_size || count % lun.block_size) {
    nbdkit_error ("iscsi backend: %s of %" PRIu32 " bytes at offset %"
                  PRIu64 ": offset and length must be multiples of the "
                  "LUN's %" PRIu32 "-byte block size", what, count, offset,
                  lun.block_size);
    return fail_with (EINVAL);
  }
  return 0;
}

/* Reads and writes also keep to the advertised maximum, which can
 * come from the LUN's MAXIMUM TRANSFER LENGTH.
 */
static int
check_io (const char *what, uint32_t count, uint64_t offset)
{
  if (check_aligned (what, count, offset) == -1)
    return -1;
  if (count > lun.max_io) {
    nbdkit_error ("iscsi backend: %s of %" PRIu32 " bytes: more than the "
                  "advertised maximum of %" PRIu32, what, count, lun.max_io);
    return fail_with (EINVAL);
  }
  return 0;
}

static int
ib_flush (void *hv, uint32_t flags)
{
  /* LBA 0 and 0 blocks: the whole LUN, whatever its size. */
  struct iscsi_cmd c = { .name = "SYNCHRONIZE CACHE(10)",
                   .cdb = scsi_cdb_synchronizecache10 (0, 0, 0, 0) };
  struct scsi_task *task = cmd_run (hv, &c);

  (void) flags;
  if (task == NULL)
    return -1;
  scsi_free_scsi_task (task);
  return 0;
}

static int
ib_pread (void *hv, void *buf, uint32_t count, uint64_t offset,
          uint32_t flags)
{
  struct ihandle *h = hv;
  char err[MAX_STRING_SIZE + 256];

  (void) flags;
  if (check_io ("read", count, offset) == -1)
    return -1;
  if (iscsi_read (&h->s, buf, count, offset, lun.block_size,
                  err, sizeof err) == -1) {
    report (err);
    return -1;
  }
  return 0;
}

static int
ib_pwrite (void *hv, const void *buf, uint32_t count, uint64_t offset,
           uint32_t flags)
{
  struct iscsi_cmd c = { .name = "WRITE(16)", .out = buf, .len = count,
                   .offset = offset, .count = count };
  struct scsi_task *task;

  if (check_io ("write", count, offset) == -1)
    return -1;
  c.cdb = scsi_cdb_write16 (offset / lun.block_size, count, lun.block_size,
                            0, 0, !!(flags & NBDKIT_FLAG_FUA), 0, 0);
  task = cmd_run (hv, &c);
  if (task == NULL)
    return -1;
  scsi_free_scsi_task (task);
  return 0;
}

static void
put_be (unsigned char *p, uint64_t v, int bytes)
{
  while (bytes-- > 0) {
    p[bytes] = v & 0xff;
    v >>= 8;
  }
}

static int
unmap_blocks (struct ihandle *h, uint64_t lba, uint32_t blocks)
{
  /* Parameter list: an 8-byte header and one 16-byte block descriptor. */
  unsigned char list[24] = { 0 };
  struct iscsi_cmd c = { .name = "UNMAP", .out = list, .len = sizeof list,
                   .offset = lba * lun.block_size,
                   .count = (uint64_t) blocks * lun.block_size,
                   .cdb = scsi_cdb_unmap (0, 0, sizeof list) };
  struct scsi_task *task;

  put_be (list, sizeof list - 2, 2);
  put_be (list + 2, 16, 2);
  put_be (list + 8, lba, 8);
  put_be (list + 16, blocks, 4);
  task = cmd_run (h, &c);
  if (task == NULL)
    return -1;
  scsi_free_scsi_task (task);
  return 0;
}

/* Whether UNMAP deallocates all of the range: a target may leave
 * partial granules mapped, with their old contents.
 */
static bool
whole_granules (uint64_t lba, uint64_t blocks)
{
  uint64_t g = lun.unmap_granularity;
  uint64_t a = lun.unmap_alignment % g;

  return (lba + g - a) % g == 0 && blocks % g == 0;
}

static int
ib_trim (void *hv, uint32_t count, uint64_t offset, uint32_t flags)
{
  uint64_t lba = offset / lun.block_size;
  uint64_t blocks = count / lun.block_size;
  uint64_t done;

  if (check_aligned ("trim", count, offset) == -1)
    return -1;
  for (done = 0; done < blocks; done += lun.max_unmap_blocks) {
    uint64_t n = blocks - done;
    if (unmap_blocks (hv, lba + done, n < lun.max_unmap_blocks
                      ? n : lun.max_unmap_blocks) == -1)
      return -1;
  }
  if ((flags & NBDKIT_FLAG_FUA) && ib_flush (hv, 0) == -1)
    return -1;
  return lun.lbprz && whole_granules (lba, blocks);
}

/* WRITE SAME(16) of a zero block.  0 done; 1 the target does not have
 * WRITE SAME (or its UNMAP bit), nothing reported; -1 error reported.
 */
static int
write_same_zero (struct ihandle *h, uint64_t lba, uint32_t blocks,
                 bool unmap)
{
  struct iscsi_cmd c = { .name = "WRITE SAME(16)", .out = zero_block,
                   .len = lun.block_size, .quiet = true,
                   .offset = lba * lun.block_size,
                   .count = (uint64_t) blocks * lun.block_size,
                   .cdb = scsi_cdb_writesame16 (0, 0, unmap, lba, 0, blocks,
                                                lun.block_size) };
  struct scsi_task *task = cmd_run (h, &c);
  const int asc = c.sense.ascq >> 8;

  if (task) {
    scsi_free_scsi_task (task);
    return 0;
  }
  if (!c.check_condition)
    return -1;
  /* Invalid operation code (20h) or invalid field in CDB (24h). */
  if (c.sense.key == SCSI_SENSE_ILLEGAL_REQUEST &&
      (asc == 0x20 || asc == 0x24))
    return 1;
  cmd_report_sense (h, &c);
  return -1;
}

static int
ib_zero (void *hv, uint32_t count, uint64_t offset, uint32_t flags)
{
  struct ihandle *h = hv;
  /* With the UNMAP bit the target may deallocate instead of writing,
   * and deallocated blocks read as zeroes only with LBPRZ (Linux's sd
   * zeroes the same way).
   */
  const bool unmap = (flags & NBDKIT_FLAG_MAY_TRIM) && lun.lbpws && lun.lbprz;
  uint64_t lba = offset / lun.block_size;
  uint64_t blocks = count / lun.block_size;
  uint64_t done;

  if (check_aligned ("zero", count, offset) == -1)
    return -1;
  /* Fast means unmapping; anything else writes every block.  ENOTSUP
   * also makes nbdkit write zeroes through pwrite instead, so the tap
   * still sees them.
   */
  if (((flags & NBDKIT_FLAG_FAST_ZERO) && !unmap) ||
      __atomic_load_n (&h->no_write_same, __ATOMIC_RELAXED))
    return fail_with (ENOTSUP);
  for (done = 0; done < blocks; done += lun.max_same_blocks) {
    uint64_t n = blocks - done;
    int r = write_same_zero (h, lba + done, n < lun.max_same_blocks
                             ? n : lun.max_same_blocks, unmap);
    if (r == -1)
      return -1;
    if (r == 1) {
      nbdkit_debug ("iscsi backend: %s rejects WRITE SAME(16)%s; zeroing "
                    "by writing", lun.where.name, unmap ? " with UNMAP" : "");
      __atomic_store_n (&h->no_write_same, true, __ATOMIC_RELAXED);
      return fail_with (ENOTSUP);
    }
  }
  if ((flags & NBDKIT_FLAG_FUA) && ib_flush (h, 0) == -1)
    return -1;
  return 0;
}

/* Adds the descriptors of one GET LBA STATUS answer that continue the
 * map contiguously from *lba, and moves *lba past them.
 */
static int
add_lba_status (const struct scsi_get_lba_status *st, uint64_t *lba,
                struct nbdkit_extents *extents)
{
  uint32_t i;

  for (i = 0; i < st->num_descriptors; i++) {
    const struct scsi_lba_status_descriptor *d = &st->descriptors[i];
    uint32_t type = 0;

    if (d->lba > *lba || d->lba + d->num_blocks <= *lba)
      break;
    /* Deallocated and anchored blocks hold no data. */
    if (d->provisioning != SCSI_PROVISIONING_TYPE_MAPPED)
      type = NBDKIT_EXTENT_HOLE | (lun.lbprz ? NBDKIT_EXTENT_ZERO : 0);
    if (nbdkit_add_extent (extents, d->lba * lun.block_size,
                           (uint64_t) d->num_blocks * lun.block_size,
                           type) == -1)
      return -1;
    *lba = d->lba + d->num_blocks;
  }
  return 0;
}

static int
ib_extents (void *hv, uint32_t count, uint64_t offset, uint32_t flags,
            struct nbdkit_extents *extents)
{
  /* Block status requests need not be aligned: the blocks around the
   * range are asked for, and nbdkit clips the answer.
   */
  uint64_t lba = offset / lun.block_size;
  const uint64_t end = offset + count;

  while (lba * lun.block_size < end) {
    struct iscsi_cmd c = { .name = "GET LBA STATUS",
                     .offset = lba * lun.block_size,
                     .count = end - lba * lun.block_size,
                     .cdb = scsi_cdb_get_lba_status (lba, LBA_STATUS_ALLOC) };
    struct scsi_task *task = cmd_run (hv, &c);
    struct scsi_get_lba_status *st;
    const uint64_t start = lba;
    int r = 0;

    if (task == NULL)
      return -1;
    st = scsi_datain_unmarshall (task);
    if (st)
      r = add_lba_status (st, &lba, extents);
    scsi_free_scsi_task (task);
    if (r == -1)
      return -1;
    if (lba == start) {
      nbdkit_error ("iscsi backend: GET LBA STATUS at LBA %" PRIu64 " on %s: "
                    "no usable descriptor in the answer", start, lun.where.name);
      return fail_with (EIO);
    }
    if (flags & NBDKIT_FLAG_REQ_ONE)
      break;
  }
  return 0;
}

/* No .cache: NBD_CMD_CACHE would map to PRE-FETCH, which is optional
 * in SBC, answers CONDITION MET when it worked (a status libiscsi 1.19
 * treats as an unknown failure), and tgtd rejects it on read-only
 * LUNs.  A hint is not worth a broken session.
 */
const struct backend backend_iscsi = {
  .name = "iscsi",
  .thread_model = NBDKIT_THREAD_MODEL_PARALLEL,
  .setup = ib_setup,
  .unload = ib_unload,
  .open = ib_open,
  .close = ib_close,
  .get_size = ib_get_size,
  .block_size = ib_block_size,
  .can_write = ib_can_write,
  .can_flush = yes,
  .can_fua = ib_can_fua,
  .can_trim = ib_can_trim,
  .can_zero = yes,
  .can_fast_zero = ib_can_fast_zero,
  .can_extents = ib_can_extents,
  .can_multi_conn = ib_can_multi_conn,
  .pread = ib_pread,
  .pwrite = ib_pwrite,
  .flush = ib_flush,
  .trim = ib_trim,
  .zero = ib_zero,
  .extents = ib_extents,
};
