/* iSCSI backend: sessions with the LUN and the SCSI commands run on
 * them.
 *
 * Every wait on the target is bounded (LOGIN_TIMEOUT_MS,
 * COMMAND_TIMEOUT_MS): we drive libiscsi's async API with our own
 * poll loop instead of its *_sync calls, which poll forever.  When a
 * session fails mid-request we log in again once and resend the
 * command (READ, WRITE, UNMAP and WRITE SAME are idempotent); if that
 * fails too the request fails with EIO.  libiscsi's built-in
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

#include "iscsi-lun.h"
#include "iscsi-session.h"

/* TCP connect, login and TEST UNIT READY: generous for a LAN, short
 * enough that an unreachable portal fails nbdkit's start-up promptly.
 */
#define LOGIN_TIMEOUT_MS    (15 * 1000)
#define LOGOUT_TIMEOUT_MS   (3 * 1000)
/* As long as Linux's sd waits for a command. */
#define COMMAND_TIMEOUT_MS  (30 * 1000)
/* How often one command is sent while the target answers UNIT
 * ATTENTION or ABORTED COMMAND, which only ask for it again.
 */
#define MAX_SENDS           4
/* SBC: DATA PROTECT, SPACE ALLOCATION FAILED WRITE PROTECT (27h/07h):
 * a thin-provisioned LUN ran out of space.
 */
#define ASCQ_SPACE_ALLOCATION_FAILED 0x2707

/* ISIDs: a random part for this process, so that proxies sharing the
 * default initiator name do not reinstate each other's sessions, and a
 * qualifier per connection (setup's session uses 0).
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
session_init_isids (void)
{
  if (getrandom (&isid_random, sizeof isid_random, 0) != sizeof isid_random)
    isid_random = getpid () ^ time (NULL);
}

uint16_t
session_next_isid_qualifier (void)
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

static int64_t
now_ms (void)
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
  const int64_t deadline = now_ms () + timeout_ms;

  while (!w->done) {
    struct pollfd pfd = {
      .fd = iscsi_get_fd (iscsi),
      .events = iscsi_which_events (iscsi),
    };
    int64_t left = deadline - now_ms ();
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
configure_context (struct iscsi_context *iscsi, uint16_t isid_qualifier)
{
  if (iscsi_set_isid_random (iscsi, isid_random, isid_qualifier) == -1 ||
      iscsi_set_targetname (iscsi, lun.target) == -1 ||
      iscsi_set_session_type (iscsi, ISCSI_SESSION_NORMAL) == -1 ||
      iscsi_set_initiator_username_pwd (iscsi, lun.user, lun.password) == -1 ||
      iscsi_set_target_username_pwd (iscsi, lun.target_user,
                                     lun.target_password) == -1)
    return -1;
  /* Its reconnection retries forever; cmd_run() reconnects once instead. */
  iscsi_set_noautoreconnect (iscsi, 1);
  return 0;
}

struct iscsi_context *
session_login (uint16_t isid_qualifier)
{
  struct iscsi_context *iscsi = iscsi_create_context (lun.initiator);
  struct waiter w = { 0 };
  char why[MAX_STRING_SIZE + 64];

  if (iscsi == NULL) {
    nbdkit_error ("iscsi backend: cannot create a libiscsi context for "
                  "initiator %s", lun.initiator);
    return NULL;
  }
  if (configure_context (iscsi, isid_qualifier) == 0 &&
      iscsi_full_connect_async (iscsi, lun.portal, lun.lun,
                                done_cb, &w) == 0 &&
      wait_for (iscsi, &w, LOGIN_TIMEOUT_MS) == 0 &&
      w.status == SCSI_STATUS_GOOD)
    return iscsi;

  wait_error (why, sizeof why, iscsi, &w, LOGIN_TIMEOUT_MS);
  nbdkit_error ("iscsi backend: cannot log in to %s: %s", lun.name, why);
  iscsi_destroy_context (iscsi);
  return NULL;
}

void
session_logout (struct iscsi_context *iscsi)
{
  struct waiter w = { 0 };

  /* Polite but bounded: a dead target must not hold up a close. */
  if (iscsi_is_logged_in (iscsi) &&
      iscsi_logout_async (iscsi, done_cb, &w) == 0)
    wait_for (iscsi, &w, LOGOUT_TIMEOUT_MS);
  iscsi_destroy_context (iscsi);
}

static void
drop_session (struct ihandle *h)
{
  iscsi_destroy_context (h->iscsi);
  h->iscsi = NULL;
}

/* Sends C once on h's session.  Returns the finished task when the
 * target gave a SCSI status; otherwise the session is dropped and why
 * says what went wrong.
 */
static struct scsi_task *
send_once (struct ihandle *h, const struct cmd *c, char *why, size_t n)
{
  struct scsi_task *task = scsi_create_task (c->cdb->cdb_size, c->cdb->cdb,
                                             c->cdb->xfer_dir,
                                             c->cdb->expxferlen);
  /* libiscsi only reads data-out buffers; its struct is not const. */
  struct iscsi_data out = { .size = c->len, .data = (unsigned char *) c->out };
  struct waiter w = { 0 };

  if (task == NULL ||
      (c->in && scsi_task_add_data_in_buffer (task, c->len, c->in) == -1)) {
    snprintf (why, n, "out of memory");
    goto failed;
  }
  if (iscsi_scsi_command_async (h->iscsi, lun.lun, task, done_cb,
                                c->out ? &out : NULL, &w) == -1) {
    snprintf (why, n, "%s", iscsi_get_error (h->iscsi));
    goto failed;
  }
  if (wait_for (h->iscsi, &w, COMMAND_TIMEOUT_MS) == -1) {
    wait_error (why, n, h->iscsi, &w, COMMAND_TIMEOUT_MS);
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
  drop_session (h);             /* first: it cancels what is in flight */
  if (task)
    scsi_free_scsi_task (task);
  return NULL;
}

static bool
worth_resending (const struct scsi_task *task)
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
describe_range (char *buf, size_t n, const struct cmd *c)
{
  if (c->count)
    snprintf (buf, n, " (%" PRIu64 " bytes at offset %" PRIu64 ")",
              c->count, c->offset);
  else
    *buf = '\0';
}

void
cmd_report_sense (const struct cmd *c)
{
  const char *ascq = scsi_sense_ascq_str (c->sense.ascq);
  char range[80];

  describe_range (range, sizeof range, c);
  nbdkit_error ("iscsi backend: %s%s on %s: %s, %s (ASC/ASCQ %02x/%02x)",
                c->name, range, lun.name, scsi_sense_key_str (c->sense.key),
                ascq ? ascq : "unknown condition",
                c->sense.ascq >> 8, c->sense.ascq & 0xff);
}

/* Reports a command that got a SCSI status other than GOOD and
 * returns the errno that fits it.
 */
static int
report_status (struct cmd *c, const struct scsi_task *task)
{
  char range[80];

  if (task->status == SCSI_STATUS_RESERVATION_CONFLICT) {
    describe_range (range, sizeof range, c);
    nbdkit_error ("iscsi backend: %s%s on %s: reservation conflict "
                  "(another initiator holds the LUN)",
                  c->name, range, lun.name);
    return EPERM;
  }
  c->check_condition = true;
  c->sense = task->sense;
  if (!c->quiet)
    cmd_report_sense (c);
  return sense_errno (&c->sense);
}

struct scsi_task *
cmd_run (struct ihandle *h, struct cmd *c)
{
  struct scsi_task *task = NULL;
  bool logged_in_again = false;
  char why[MAX_STRING_SIZE + 64], range[80];
  const char *cause = why;
  int sends, err;

  describe_range (range, sizeof range, c);
  if (c->cdb == NULL) {
    nbdkit_error ("iscsi backend: %s: out of memory", c->name);
    fail_with (ENOMEM);
    return NULL;
  }
  for (sends = 1; sends <= MAX_SENDS; sends++) {
    if (h->iscsi == NULL) {
      logged_in_again = true;
      if ((h->iscsi = session_login (h->isid_qualifier)) == NULL) {
        cause = "the session is down and logging in again failed";
        goto lost;
      }
    }
    task = send_once (h, c, why, sizeof why);
    if (task == NULL) {
      if (logged_in_again)
        goto lost;
      nbdkit_debug ("iscsi backend: %s%s on %s: %s; logging in again",
                    c->name, range, lun.name, why);
      continue;
    }
    if (task->status == SCSI_STATUS_GOOD) {
      scsi_free_scsi_task (c->cdb);
      return task;
    }
    if (sends == MAX_SENDS || !worth_resending (task))
      break;
    nbdkit_debug ("iscsi backend: %s%s on %s: %s, sending it again",
                  c->name, range, lun.name,
                  scsi_sense_key_str (task->sense.key));
    scsi_free_scsi_task (task);
    task = NULL;
  }
  if (task == NULL)
    goto lost;
  err = report_status (c, task);
  scsi_free_scsi_task (task);
  scsi_free_scsi_task (c->cdb);
  fail_with (err);
  return NULL;

 lost:
  nbdkit_error ("iscsi backend: %s%s on %s failed: %s", c->name, range,
                lun.name, cause);
  scsi_free_scsi_task (c->cdb);
  fail_with (EIO);
  return NULL;
}
