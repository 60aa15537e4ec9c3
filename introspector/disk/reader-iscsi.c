/* A read-only reader over an iSCSI LUN (libiscsi), by URI:
 *
 *   iscsi://[USER[%PASSWORD]@]HOST[:PORT]/TARGET-IQN/LUN
 *
 * with CHAP when the URI names a user and password (see reader.h).
 * The URI, the session and its commands are the iSCSI client the
 * plugin's iscsi backend uses (storage/iscsi-client.h): every wait is
 * bounded, and a lost session is logged in again once per read.
 * READ CAPACITY(16) gives the size and block size; reads are READ(16)
 * of whole blocks, at most what the Block Limits page allows.
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "reader-blocks.h"
#include "storage/iscsi-client.h"

/* Not the proxy's name: a target's ACL can tell the reader, which only
 * reads, from the proxy, which writes.
 */
#define INITIATOR "iqn.2024-01.io.blockwatch:introspector"

struct iscsi_reader {
  struct bw_block_reader b;
  struct iscsi_where where;
  struct iscsi_session s;
};

static pthread_once_t isids_once = PTHREAD_ONCE_INIT;

static int
iscsi_read_blocks (struct bw_block_reader *b, void *buf, uint32_t n,
                   uint64_t off, char *err, size_t errlen)
{
  struct iscsi_reader *ir = (struct iscsi_reader *) b;
  char why[MAX_STRING_SIZE + 256];

  if (iscsi_read (&ir->s, buf, n, off, b->block, why, sizeof why) == -1) {
    snprintf (err, errlen, "iscsi: %s", why);
    return -1;
  }
  return 0;
}

static void
iscsi_reader_close (struct bw_reader *r)
{
  struct iscsi_reader *ir = (struct iscsi_reader *) r;

  iscsi_session_logout (&ir->s);
  iscsi_where_clear (&ir->where);
  bw_block_reader_fini (&ir->b);
  free (ir);
}

/* The most a READ(16) may carry: the Block Limits page's MAXIMUM
 * TRANSFER LENGTH, if the LUN has one.
 */
static uint32_t
max_read (struct iscsi_reader *ir, uint32_t block_size)
{
  struct scsi_task *task;
  struct scsi_inquiry_block_limits *bl =
    iscsi_inquire_vpd (&ir->s, SCSI_INQUIRY_PAGECODE_BLOCK_LIMITS,
                       "Block Limits VPD", &task);
  uint32_t blocks = ISCSI_MAX_IO / block_size;

  if (bl && bl->max_xfer_len && bl->max_xfer_len < blocks)
    blocks = bl->max_xfer_len;
  if (task)
    scsi_free_scsi_task (task);
  return blocks * block_size;
}

struct bw_reader *
bw_reader_open_iscsi (const char *uri, char *err, size_t errlen)
{
  struct iscsi_reader *ir = calloc (1, sizeof *ir);
  struct iscsi_capacity cap;
  char why[MAX_STRING_SIZE + 256];

  if (ir == NULL) {
    snprintf (err, errlen, "out of memory");
    return NULL;
  }
  pthread_once (&isids_once, iscsi_init_isids);
  if (iscsi_where_parse (&ir->where, uri, NULL, NULL, INITIATOR,
                         why, sizeof why) == -1) {
    snprintf (err, errlen, "iscsi: %s", why);
    free (ir);
    return NULL;
  }
  ir->s.where = &ir->where;
  ir->s.isid_qualifier = iscsi_next_isid_qualifier ();
  ir->b.name = ir->where.name;
  ir->b.read_blocks = iscsi_read_blocks;
  ir->b.r.close = iscsi_reader_close;
  if (iscsi_session_login (&ir->s, why, sizeof why) == -1 ||
      iscsi_read_capacity (&ir->s, &cap, why, sizeof why) == -1) {
    snprintf (err, errlen, "iscsi: %s", why);
    goto fail;
  }
  ir->b.r.size = cap.size;
  ir->b.r.sector_size = cap.block_size;
  ir->b.block = cap.block_size;
  ir->b.max = max_read (ir, cap.block_size);
  if (bw_block_reader_init (&ir->b, err, errlen) == -1)
    goto fail;
  return &ir->b.r;

 fail:
  iscsi_reader_close (&ir->b.r);
  return NULL;
}
