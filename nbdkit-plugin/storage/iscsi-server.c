/* iSCSI: one session with many commands outstanding (see
 * iscsi_session_serve in iscsi-client.h).
 *
 * A libiscsi context is not thread-safe, so one thread of ours owns it:
 * request threads queue their commands, wake it through an eventfd and
 * sleep on a condition variable; it sends them with libiscsi's async
 * API, polls the socket and the eventfd, lets iscsi_service call the
 * completion callbacks, and hands each command back when it is done.
 *
 * Each command is run as iscsi_cmd_run does it, with the same bounded
 * waits: COMMAND_TIMEOUT_MS for an answer, UNIT ATTENTION and ABORTED
 * COMMAND sent again up to MAX_SENDS times, and when the session fails
 * it is logged in again (with the same ISID: a session reinstatement,
 * which ends the old session's tasks first) and every command that was
 * outstanding is sent once more; one that fails again, or that was
 * waiting for that login, fails with EIO.  The difference is only that
 * a session lost with many commands outstanding costs them all one
 * resend, and one login serves them all.
 */

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "iscsi-internal.h"

/* One command, from the request thread that waits for it. */
struct req {
  struct iscsi_cmd *c;
  char *err;                    /* the request thread's buffer */
  size_t errlen;
  struct iscsi_data out;        /* read by libiscsi while outstanding */
  struct scsi_task *task;       /* outstanding, or the result */
  int sends;
  bool logged_in_again;         /* a loss now is final */
  bool answered;                /* the callback ran: status and why */
  int status;
  char why[MAX_STRING_SIZE + 1];
  int64_t deadline;
  bool done;                    /* under the lock, with errnum */
  int errnum;
  pthread_cond_t wakeup;        /* its request thread waits on it */
  struct req *next;
};

struct iscsi_server {
  struct iscsi_session *s;
  pthread_t thread;
  int wake;                     /* eventfd: commands were queued, or stop */
  pthread_mutex_t lock;
  /* Under the lock: */
  struct req *queue, **queue_tail;
  bool stopping;
  /* The serving thread's alone: to send, and outstanding. */
  struct req *todo, **todo_tail;
  struct req *sent;
  unsigned in_flight;
};

static void
append (struct req ***tail, struct req *r)
{
  r->next = NULL;
  **tail = r;
  *tail = &r->next;
}

/* Hands r back: result, or NULL with r->err and this thread's errno
 * saying why.  r is the request thread's again: not to be touched.
 */
static void
complete (struct iscsi_server *sv, struct req *r, struct scsi_task *result)
{
  pthread_mutex_lock (&sv->lock);
  r->task = result;
  r->errnum = errno;
  r->done = true;
  /* Its own condition: a completion wakes only the thread waiting for
   * it, not every request thread of the connection.
   */
  pthread_cond_signal (&r->wakeup);
  pthread_mutex_unlock (&sv->lock);
}

/* r failed without a SCSI status; cause as in iscsi_cmd_lost. */
static void
fail (struct iscsi_server *sv, struct req *r, const char *cause,
      const char *why)
{
  iscsi_cmd_lost (sv->s, r->c, cause, why, r->err, r->errlen);
  complete (sv, r, NULL);
}

static void
cmd_cb (struct iscsi_context *iscsi, int status, void *data, void *opaque)
{
  struct req *r = opaque;

  (void) data;
  r->answered = true;
  r->status = status;
  if (status != SCSI_STATUS_GOOD)
    snprintf (r->why, sizeof r->why, "%s", iscsi_get_error (iscsi));
}

/* Takes r out of the outstanding list. */
static void
unsend (struct iscsi_server *sv, struct req *r)
{
  struct req **p;

  for (p = &sv->sent; *p != r; p = &(*p)->next)
    ;
  *p = r->next;
  sv->in_flight--;
}

/* r's session failed (why): r goes again on a new session, unless it
 * already did or has been sent too often.
 */
static void
lost (struct iscsi_server *sv, struct req *r, const char *why)
{
  struct iscsi_session *s = sv->s;

  if (r->task) {
    scsi_free_scsi_task (r->task);
    r->task = NULL;
  }
  if (r->logged_in_again || r->sends >= MAX_SENDS) {
    fail (sv, r, NULL, why);
    return;
  }
  iscsi_cmd_debug (s, r->c, why, "; logging in again");
  append (&sv->todo_tail, r);
}

/* Whether the callback gave r a SCSI status, as opposed to a failure
 * of the connection.
 */
static bool
has_scsi_status (const struct req *r)
{
  return r->answered &&
    (r->status == SCSI_STATUS_GOOD ||
     r->status == SCSI_STATUS_CHECK_CONDITION ||
     r->status == SCSI_STATUS_RESERVATION_CONFLICT);
}

/* The session failed (why).  Destroying the context cancels whatever
 * is outstanding (no callback outlives it); the commands the target
 * answered before are still handed back by finish_answered.
 */
static void
drop_session (struct iscsi_server *sv, const char *why)
{
  struct req *r, *next, *answered = NULL;

  if (sv->s->debug)
    sv->s->debug ("iscsi: %s: the session failed: %s", sv->s->where->name,
                  why);
  iscsi_destroy_context (sv->s->iscsi);
  sv->s->iscsi = NULL;
  for (r = sv->sent; r; r = next) {
    next = r->next;
    if (has_scsi_status (r)) {
      r->next = answered;
      answered = r;
      continue;
    }
    sv->in_flight--;
    /* libiscsi cancels what is in flight when the connection drops;
     * ERROR covers protocol errors and statuses it does not know.
     */
    if (r->answered && r->status != SCSI_STATUS_CANCELLED)
      lost (sv, r, r->why);
    else
      lost (sv, r, r->answered ? "the connection was lost" : why);
  }
  sv->sent = answered;
}

/* Hands back or sends again the commands the target answered. */
static void
finish_answered (struct iscsi_server *sv)
{
  struct iscsi_session *s = sv->s;
  struct req *r, *next;

  for (r = sv->sent; r; r = next) {
    next = r->next;
    if (!r->answered)
      continue;
    if (!has_scsi_status (r)) {
      /* The connection failed under r: the others with it. */
      drop_session (sv, r->why);
      finish_answered (sv);
      return;
    }
    unsend (sv, r);
    /* The async API hands the status to the callback only. */
    r->task->status = r->status;
    if (r->status != SCSI_STATUS_GOOD && r->sends < MAX_SENDS &&
        iscsi_worth_resending (r->task)) {
      iscsi_cmd_debug (s, r->c, scsi_sense_key_str (r->task->sense.key),
                       ", sending it again");
      scsi_free_scsi_task (r->task);
      r->task = NULL;
      append (&sv->todo_tail, r);
      continue;
    }
    complete (sv, r, iscsi_cmd_finish (s, r->c, r->task, r->err, r->errlen));
  }
}

/* Logs in for the commands to send; if that fails, they fail. */
static void
log_in_again (struct iscsi_server *sv)
{
  char why[MAX_STRING_SIZE + 256];
  struct req *r, *next;

  for (r = sv->todo; r; r = r->next)
    r->logged_in_again = true;
  if (iscsi_session_login (sv->s, why, sizeof why) == 0)
    return;
  for (r = sv->todo; r; r = next) {
    next = r->next;
    fail (sv, r, "the session is down and logging in again failed", why);
  }
  sv->todo = NULL;
  sv->todo_tail = &sv->todo;
}

static void
send_todo (struct iscsi_server *sv)
{
  struct iscsi_session *s = sv->s;
  struct req *r = sv->todo;

  sv->todo = NULL;
  sv->todo_tail = &sv->todo;
  while (r) {
    struct req *next = r->next;

    r->task = iscsi_new_task (r->c);
    if (r->task == NULL) {
      iscsi_cmd_lost (s, r->c, NULL, "out of memory", r->err, r->errlen);
      errno = ENOMEM;
      complete (sv, r, NULL);
      r = next;
      continue;
    }
    r->sends++;
    r->answered = false;
    /* libiscsi only reads data-out buffers; its struct is not const. */
    r->out = (struct iscsi_data) { .size = r->c->len,
                                   .data = (unsigned char *) r->c->out };
    r->deadline = iscsi_now_ms () + COMMAND_TIMEOUT_MS;
    r->next = sv->sent;
    sv->sent = r;
    sv->in_flight++;
    if (iscsi_scsi_command_async (s->iscsi, s->where->lun, r->task, cmd_cb,
                                  r->c->out ? &r->out : NULL, r) == -1) {
      char why[MAX_STRING_SIZE + 1];

      snprintf (why, sizeof why, "%s", iscsi_get_error (s->iscsi));
      /* The rest wait for the next login. */
      while (next) {
        struct req *n = next->next;
        append (&sv->todo_tail, next);
        next = n;
      }
      drop_session (sv, why);
      return;
    }
    if (s->in_flight)
      s->in_flight (sv->in_flight);
    r = next;
  }
}

/* Waits for the socket, the eventfd or the first deadline, and lets
 * libiscsi do its work.
 */
static void
wait_events (struct iscsi_server *sv)
{
  struct iscsi_context *iscsi = sv->s->iscsi;
  struct pollfd pfd[2] = { { .fd = sv->wake, .events = POLLIN } };
  int64_t first = INT64_MAX, now;
  struct req *r;
  uint64_t n;
  int timeout = -1;

  for (r = sv->sent; r; r = r->next)
    if (r->deadline < first)
      first = r->deadline;
  if (first != INT64_MAX) {
    now = iscsi_now_ms ();
    timeout = first > now ? first - now : 0;
  }
  if (iscsi) {
    pfd[1].fd = iscsi_get_fd (iscsi);
    pfd[1].events = iscsi_which_events (iscsi);
  }
  if (poll (pfd, iscsi ? 2 : 1, timeout) == -1)
    return;                     /* EINTR: the loop comes back */
  /* Reset the eventfd; what it announced is taken at the loop's top. */
  if ((pfd[0].revents & POLLIN) && read (sv->wake, &n, sizeof n) == -1)
    n = 0;
  if (iscsi && pfd[1].revents && iscsi_service (iscsi, pfd[1].revents) < 0) {
    char why[MAX_STRING_SIZE + 1];

    snprintf (why, sizeof why, "%s", iscsi_get_error (iscsi));
    /* A failing service call may have answered some first. */
    finish_answered (sv);
    if (sv->s->iscsi)
      drop_session (sv, why);
    return;
  }
  finish_answered (sv);
  now = iscsi_now_ms ();
  for (r = sv->sent; r; r = r->next)
    if (r->deadline <= now) {
      char why[64];

      snprintf (why, sizeof why, "no answer within %d s",
                COMMAND_TIMEOUT_MS / 1000);
      drop_session (sv, why);
      return;
    }
}

static void *
serve (void *arg)
{
  struct iscsi_server *sv = arg;

  for (;;) {
    pthread_mutex_lock (&sv->lock);
    if (sv->queue) {
      *sv->todo_tail = sv->queue;
      sv->todo_tail = sv->queue_tail;
      sv->queue = NULL;
      sv->queue_tail = &sv->queue;
    }
    /* nbdkit closes a connection once its requests are done. */
    if (sv->stopping && !sv->todo && !sv->sent) {
      pthread_mutex_unlock (&sv->lock);
      return NULL;
    }
    pthread_mutex_unlock (&sv->lock);
    if (sv->todo && sv->s->iscsi == NULL)
      log_in_again (sv);
    if (sv->todo)
      send_todo (sv);
    if (sv->todo == NULL)
      wait_events (sv);
  }
}

static void
wake (struct iscsi_server *sv)
{
  const uint64_t one = 1;

  /* Only fails when the counter is full, which wakes it anyway. */
  if (write (sv->wake, &one, sizeof one) == -1)
    return;
}

struct scsi_task *
iscsi_server_run (struct iscsi_server *sv, struct iscsi_cmd *c, char *err,
                  size_t errlen)
{
  struct req r = { .c = c, .err = err, .errlen = errlen };

  pthread_cond_init (&r.wakeup, NULL);
  pthread_mutex_lock (&sv->lock);
  append (&sv->queue_tail, &r);
  pthread_mutex_unlock (&sv->lock);
  wake (sv);
  pthread_mutex_lock (&sv->lock);
  while (!r.done)
    pthread_cond_wait (&r.wakeup, &sv->lock);
  pthread_mutex_unlock (&sv->lock);
  /* complete() signalled before it let go of the lock. */
  pthread_cond_destroy (&r.wakeup);
  errno = r.errnum;
  return r.task;
}

int
iscsi_session_serve (struct iscsi_session *s, char *err, size_t errlen)
{
  struct iscsi_server *sv = calloc (1, sizeof *sv);
  int r;

  if (sv == NULL) {
    snprintf (err, errlen, "%s: out of memory", s->where->name);
    errno = ENOMEM;
    return -1;
  }
  sv->s = s;
  sv->queue_tail = &sv->queue;
  sv->todo_tail = &sv->todo;
  sv->wake = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (sv->wake == -1) {
    snprintf (err, errlen, "%s: eventfd: %s", s->where->name,
              strerror (errno));
    free (sv);
    return -1;
  }
  pthread_mutex_init (&sv->lock, NULL);
  r = pthread_create (&sv->thread, NULL, serve, sv);
  if (r != 0) {
    snprintf (err, errlen, "%s: cannot start its thread: %s",
              s->where->name, strerror (r));
    iscsi_server_stop (sv);
    errno = r;
    return -1;
  }
  s->server = sv;
  return 0;
}

void
iscsi_server_stop (struct iscsi_server *sv)
{
  if (sv->s->server == sv) {
    pthread_mutex_lock (&sv->lock);
    sv->stopping = true;
    pthread_mutex_unlock (&sv->lock);
    wake (sv);
    pthread_join (sv->thread, NULL);
  }
  close (sv->wake);
  pthread_mutex_destroy (&sv->lock);
  free (sv);
}
