/* iSCSI: sessions with a LUN and the SCSI commands run on them (see
 * iscsi-client.h).
 *
 * Every wait on the target is bounded (LOGIN_TIMEOUT_MS,
 * COMMAND_TIMEOUT_MS): we drive libiscsi's async API with our own
 * poll loop instead of its *_sync calls, which poll forever.  When a
 * session fails mid-command we log in again once and resend the
 * command (READ, WRITE, UNMAP and WRITE SAME are idempotent); if that
 * fails too the command fails with EIO.  libiscsi's built-in
 * reconnection is switched off because it retries without limit.
 *
 * A connection logs in again with the ISID it had, which makes the new
 * login a session reinstatement: the target ends the old session and
 * its tasks first (RFC 7143), so a resent WRITE cannot be overtaken by
 * a stale copy of itself still queued on the dead session.
 */

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "iscsi-internal.h"

/* TCP connect, login and TEST UNIT READY: generous for a LAN, short
 * enough that an unreachable portal fails a start-up promptly.
 */
#define LOGIN_TIMEOUT_MS    (15 * 1000)
#define LOGOUT_TIMEOUT_MS   (3 * 1000)
/* SBC: DATA PROTECT, SPACE ALLOCATION FAILED WRITE PROTECT (27h/07h):
 * a thin-provisioned LUN ran out of space.
 */
#define ASCQ_SPACE_ALLOCATION_FAILED 0x2707

/* ISIDs: a random part for this process, so that clients sharing an
 * initiator name do not reinstate each other's sessions, and a
 * qualifier per connection.
 */
static uint32_t isid_random;
static unsigned isid_count;

/* What a completion callback tells the poll loop. */
struct waiter {
  bool done;
  bool timed_out;
  int status;
  /* libiscsi's error when it failed: later calls overwrite its own. */
  char error[MAX_STRING_SIZE + 1];
};

void
iscsi_init_isids (void)
{
  if (getrandom (&isid_random, sizeof isid_random, 0) != sizeof isid_random)
    isid_random = getpid () ^ time (NULL);
}

uint16_t
iscsi_next_isid_qualifier (void)
{
  /* Connections open in parallel threads. */
  return __atomic_add_fetch (&isid_count, 1, __ATOMIC_RELAXED);
}

static void
done_cb (struct iscsi_context *iscsi, int status, void *data, void *opaque)
{
  struct waiter *w = opaque;

  (void) data;
  w->status = status;
  w->done = true;
  if (status != SCSI_STATUS_GOOD)
    snprintf (w->error, sizeof w->error, "%s", iscsi_get_error (iscsi));
}

int64_t
iscsi_now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * INT64_C (1000) + ts.tv_nsec / 1000000;
}

/* Drives the session until W is done.  -1 if the connection failed
 * (wait_error says why) or timeout_ms passed; the caller must then
 * destroy the context, which also cancels whatever is still in flight
 * so that no callback outlives W.
 */
static int
wait_for (struct iscsi_context *iscsi, struct waiter *w, int timeout_ms)
{
  const int64_t deadline = iscsi_now_ms () + timeout_ms;

  while (!w->done) {
    struct pollfd pfd = {
      .fd = iscsi_get_fd (iscsi),
      .events = iscsi_which_events (iscsi),
    };
    int64_t left = deadline - iscsi_now_ms ();
    int r;

    if (left <= 0) {
      w->timed_out = true;
      return -1;
    }
    r = poll (&pfd, 1, left);
    if (r == -1 && errno == EINTR)
      continue;
    /* A failing service call may have completed W first. */
    if ((r == -1 || iscsi_service (iscsi, r ? pfd.revents : 0) < 0) &&
        !w->done)
      return -1;
  }
  return 0;
}

static void
wait_error (char *buf, size_t n, struct iscsi_context *iscsi,
            const struct waiter *w, int timeout_ms)
{
  if (w->timed_out)
    snprintf (buf, n, "no answer within %d s", timeout_ms / 1000);
  else
    snprintf (buf, n, "%s", w->error[0] ? w->error : iscsi_get_error (iscsi));
}

static int
configure_context (struct iscsi_context *iscsi, const struct iscsi_where *w,
                   uint16_t isid_qualifier)
{
  if (iscsi_set_isid_random (iscsi, isid_random, isid_qualifier) == -1 ||
      iscsi_set_targetname (iscsi, w->target) == -1 ||
      iscsi_set_session_type (iscsi, ISCSI_SESSION_NORMAL) == -1 ||
      iscsi_set_initiator_username_pwd (iscsi, w->user, w->password) == -1 ||
      iscsi_set_target_username_pwd (iscsi, w->target_user,
                                     w->target_password) == -1)
    return -1;
  /* Its reconnection retries forever; iscsi_cmd_run reconnects once. */
  iscsi_set_noautoreconnect (iscsi, 1);
  return 0;
}

int
iscsi_session_login (struct iscsi_session *s, char *err, size_t errlen)
{
  const struct iscsi_where *where = s->where;
  struct iscsi_context *iscsi = iscsi_create_context (where->initiator);
  struct waiter w = { 0 };
  char why[MAX_STRING_SIZE + 64];

  if (iscsi == NULL) {
    snprintf (err, errlen, "cannot create a libiscsi context for "
              "initiator %s", where->initiator);
    errno = ENOMEM;
    return -1;
  }
  if (configure_context (iscsi, where, s->isid_qualifier) == 0 &&
      iscsi_full_connect_async (iscsi, where->portal, where->lun,
                                done_cb, &w) == 0 &&
      wait_for (iscsi, &w, LOGIN_TIMEOUT_MS) == 0 &&
      w.status == SCSI_STATUS_GOOD) {
    s->iscsi = iscsi;
    return 0;
  }
  wait_error (why, sizeof why, iscsi, &w, LOGIN_TIMEOUT_MS);
  snprintf (err, errlen, "cannot log in to %s: %s", where->name, why);
  iscsi_destroy_context (iscsi);
  errno = EIO;
  return -1;
}

static void
drop_session (struct iscsi_session *s)
{
  iscsi_destroy_context (s->iscsi);
  s->iscsi = NULL;
}

void
iscsi_session_logout (struct iscsi_session *s)
{
  struct waiter w = { 0 };

  if (s->server) {
    iscsi_server_stop (s->server);
    s->server = NULL;
  }
  if (s->iscsi == NULL)
    return;
  /* Polite but bounded: a dead target must not hold up a close. */
  if (iscsi_is_logged_in (s->iscsi) &&
      iscsi_logout_async (s->iscsi, done_cb, &w) == 0)
    wait_for (s->iscsi, &w, LOGOUT_TIMEOUT_MS);
  drop_session (s);
}

struct scsi_task *
iscsi_new_task (const struct iscsi_cmd *c)
{
  struct scsi_task *task = scsi_create_task (c->cdb->cdb_size, c->cdb->cdb,
                                             c->cdb->xfer_dir,
                                             c->cdb->expxferlen);

  if (task && c->in &&
      scsi_task_add_data_in_buffer (task, c->len, c->in) == -1) {
    scsi_free_scsi_task (task);
    return NULL;
  }
  return task;
}

/* Sends C once on s's session.  Returns the finished task when the
 * target gave a SCSI status; otherwise the session is dropped and why
 * says what went wrong.
 */
static struct scsi_task *
send_once (struct iscsi_session *s, const struct iscsi_cmd *c, char *why,
           size_t n)
{
  struct scsi_task *task = iscsi_new_task (c);
  /* libiscsi only reads data-out buffers; its struct is not const. */
  struct iscsi_data out = { .size = c->len, .data = (unsigned char *) c->out };
  struct waiter w = { 0 };

  if (task == NULL) {
    snprintf (why, n, "out of memory");
    goto failed;
  }
  if (iscsi_scsi_command_async (s->iscsi, s->where->lun, task, done_cb,
                                c->out ? &out : NULL, &w) == -1) {
    snprintf (why, n, "%s", iscsi_get_error (s->iscsi));
    goto failed;
  }
  if (wait_for (s->iscsi, &w, COMMAND_TIMEOUT_MS) == -1) {
    wait_error (why, n, s->iscsi, &w, COMMAND_TIMEOUT_MS);
    goto failed;
  }
  /* The async API hands the status to the callback only; libiscsi's
   * own sync wrappers store it in the task the same way.
   */
  task->status = w.status;
  switch (w.status) {
  case SCSI_STATUS_GOOD:
  case SCSI_STATUS_CHECK_CONDITION:
  case SCSI_STATUS_RESERVATION_CONFLICT:
    return task;
  }
  /* libiscsi cancels what is in flight when the connection drops;
   * ERROR covers protocol errors and statuses it does not know (BUSY).
   */
  if (w.status == SCSI_STATUS_CANCELLED)
    snprintf (why, n, "the connection was lost");
  else
    snprintf (why, n, "%s", w.error);

 failed:
  drop_session (s);             /* first: it cancels what is in flight */
  if (task)
    scsi_free_scsi_task (task);
  return NULL;
}

bool
iscsi_worth_resending (const struct scsi_task *task)
{
  return task->status == SCSI_STATUS_CHECK_CONDITION &&
         (task->sense.key == SCSI_SENSE_UNIT_ATTENTION ||
          task->sense.key == SCSI_SENSE_COMMAND_ABORTED);
}

static int
sense_errno (const struct scsi_sense *sense)
{
  switch (sense->key) {
  case SCSI_SENSE_DATA_PROTECTION:
    return sense->ascq == ASCQ_SPACE_ALLOCATION_FAILED ? ENOSPC : EROFS;
  case SCSI_SENSE_ILLEGAL_REQUEST:
    return EINVAL;              /* LBA out of range, invalid field, ... */
  default:
    return EIO;
  }
}

/* " (4096 bytes at offset 8192)", or "" for a command on no range. */
static void
describe_range (char *buf, size_t n, const struct iscsi_cmd *c)
{
  if (c->count)
    snprintf (buf, n, " (%" PRIu64 " bytes at offset %" PRIu64 ")",
              c->count, c->offset);
  else
    *buf = '\0';
}

void
iscsi_cmd_debug (const struct iscsi_session *s, const struct iscsi_cmd *c,
                 const char *why, const char *then)
{
  char range[80];

  if (s->debug == NULL)
    return;
  describe_range (range, sizeof range, c);
  s->debug ("iscsi: %s%s on %s: %s%s", c->name, range, s->where->name, why,
            then);
}

void
iscsi_cmd_describe_sense (const struct iscsi_session *s,
                          const struct iscsi_cmd *c, char *err, size_t errlen)
{
  const char *ascq = scsi_sense_ascq_str (c->sense.ascq);
  char range[80];

  describe_range (range, sizeof range, c);
  snprintf (err, errlen, "%s%s on %s: %s, %s (ASC/ASCQ %02x/%02x)",
            c->name, range, s->where->name,
            scsi_sense_key_str (c->sense.key),
            ascq ? ascq : "unknown condition",
            c->sense.ascq >> 8, c->sense.ascq & 0xff);
}

/* Describes a command that got a SCSI status other than GOOD and
 * returns the errno that fits it.
 */
static int
status_error (const struct iscsi_session *s, struct iscsi_cmd *c,
              const struct scsi_task *task, char *err, size_t errlen)
{
  char range[80];

  if (task->status == SCSI_STATUS_RESERVATION_CONFLICT) {
    describe_range (range, sizeof range, c);
    snprintf (err, errlen, "%s%s on %s: reservation conflict "
              "(another initiator holds the LUN)",
              c->name, range, s->where->name);
    return EPERM;
  }
  c->check_condition = true;
  c->sense = task->sense;
  iscsi_cmd_describe_sense (s, c, err, errlen);
  return sense_errno (&c->sense);
}

struct scsi_task *
iscsi_cmd_finish (const struct iscsi_session *s, struct iscsi_cmd *c,
                  struct scsi_task *task, char *err, size_t errlen)
{
  int e;

  scsi_free_scsi_task (c->cdb);
  if (task->status == SCSI_STATUS_GOOD)
    return task;
  e = status_error (s, c, task, err, errlen);
  scsi_free_scsi_task (task);
  errno = e;
  return NULL;
}

void
iscsi_cmd_lost (const struct iscsi_session *s, struct iscsi_cmd *c,
                const char *cause, const char *why, char *err, size_t errlen)
{
  char range[80];

  describe_range (range, sizeof range, c);
  snprintf (err, errlen, "%s%s on %s failed: %s%s%s", c->name, range,
            s->where->name, cause ? cause : why, cause ? "; " : "",
            cause ? why : "");
  scsi_free_scsi_task (c->cdb);
  errno = EIO;
}

struct scsi_task *
iscsi_cmd_run (struct iscsi_session *s, struct iscsi_cmd *c, char *err,
               size_t errlen)
{
  struct scsi_task *task = NULL;
  bool logged_in_again = false;
  char why[MAX_STRING_SIZE + 64];
  const char *cause = NULL;
  int sends;

  if (c->cdb == NULL) {
    snprintf (err, errlen, "%s: out of memory", c->name);
    errno = ENOMEM;
    return NULL;
  }
  if (s->server)
    return iscsi_server_run (s->server, c, err, errlen);
  for (sends = 1; sends <= MAX_SENDS; sends++) {
    if (s->iscsi == NULL) {
      logged_in_again = true;
      if (iscsi_session_login (s, why, sizeof why) == -1) {
        cause = "the session is down and logging in again failed";
        break;
      }
    }
    task = send_once (s, c, why, sizeof why);
    if (task == NULL) {
      if (logged_in_again)
        break;
      iscsi_cmd_debug (s, c, why, "; logging in again");
      continue;
    }
    if (task->status == SCSI_STATUS_GOOD || sends == MAX_SENDS ||
        !iscsi_worth_resending (task))
      return iscsi_cmd_finish (s, c, task, err, errlen);
    iscsi_cmd_debug (s, c, scsi_sense_key_str (task->sense.key),
                     ", sending it again");
    scsi_free_scsi_task (task);
    task = NULL;
  }
  /* After a failed login, why holds the login's error. */
  iscsi_cmd_lost (s, c, cause, why, err, errlen);
  return NULL;
}

static bool
is_power_of_2 (uint32_t n)
{
  return n && !(n & (n - 1));
}

int
iscsi_read_capacity (struct iscsi_session *s, struct iscsi_capacity *cap,
                     char *err, size_t errlen)
{
  struct iscsi_cmd c = { .name = "READ CAPACITY(16)",
                         .cdb = scsi_cdb_readcapacity16 () };
  struct scsi_task *task = iscsi_cmd_run (s, &c, err, errlen);
  struct scsi_readcapacity16 *rc;
  int r = -1;

  if (task == NULL)
    return -1;
  rc = scsi_datain_unmarshall (task);
  if (rc == NULL)
    snprintf (err, errlen, "%s: cannot parse the READ CAPACITY(16) answer",
              s->where->name);
  else if (!is_power_of_2 (rc->block_length) || rc->block_length < 512 ||
           rc->block_length > ISCSI_MAX_BLOCK ||
           rc->returned_lba >= INT64_MAX / ISCSI_MAX_BLOCK)
    snprintf (err, errlen, "%s: unsupported geometry: %" PRIu64
              " blocks of %" PRIu32 " bytes", s->where->name,
              rc->returned_lba + 1, rc->block_length);
  else {
    cap->block_size = rc->block_length;
    /* Only a hint for the preferred request size. */
    cap->phys_block_size = rc->lbppbe < 16 &&
      ((uint64_t) rc->block_length << rc->lbppbe) <= ISCSI_MAX_IO
      ? rc->block_length << rc->lbppbe : rc->block_length;
    cap->size = (rc->returned_lba + 1) * rc->block_length;
    cap->lbpme = rc->lbpme;
    cap->lbprz = rc->lbprz;
    r = 0;
  }
  scsi_free_scsi_task (task);
  if (r == -1)
    errno = EIO;
  return r;
}

void *
iscsi_inquire_vpd (struct iscsi_session *s, int page, const char *name,
                   struct scsi_task **task)
{
  struct iscsi_cmd c = { .name = name, .cdb = scsi_cdb_inquiry (1, page, 255),
                         .quiet = true };
  char err[MAX_STRING_SIZE + 256];
  void *data = NULL;

  *task = iscsi_cmd_run (s, &c, err, sizeof err);
  if (*task)
    data = scsi_datain_unmarshall (*task);
  if (data == NULL && s->debug)
    s->debug ("iscsi: %s: no usable %s page%s%s", s->where->name, name,
              *task ? "" : ": ", *task ? "" : err);
  return data;
}

int
iscsi_read (struct iscsi_session *s, void *buf, uint32_t count,
            uint64_t offset, uint32_t block_size, char *err, size_t errlen)
{
  struct iscsi_cmd c = { .name = "READ(16)", .in = buf, .len = count,
                         .offset = offset, .count = count,
                         .cdb = scsi_cdb_read16 (offset / block_size, count,
                                                 block_size, 0, 0, 0, 0, 0) };
  struct scsi_task *task = iscsi_cmd_run (s, &c, err, errlen);
  bool short_read;

  if (task == NULL)
    return -1;
  short_read = task->residual_status == SCSI_RESIDUAL_UNDERFLOW &&
               task->residual > 0;
  scsi_free_scsi_task (task);
  if (short_read) {
    snprintf (err, errlen, "READ(16) of %" PRIu32 " bytes at offset %" PRIu64
              " on %s: the target sent less data", count, offset,
              s->where->name);
    errno = EIO;
    return -1;
  }
  return 0;
}
