/* iSCSI backend: one LUN of an iSCSI target, reached with libiscsi.
 *
 *   iscsi://[USER[%PASSWORD]@]HOST[:PORT]/TARGET-IQN/LUN
 *
 * CHAP credentials come from the URI or from user= and password=,
 * which override it.  The initiator name is initiator=IQN, by default
 * DEFAULT_INITIATOR below: one fixed name, so a target's ACL can admit
 * "the blockwatch proxy" without knowing which host it runs on.
 *
 * setup() logs in once before nbdkit forks to learn the LUN's size,
 * block size and provisioning (READ CAPACITY(16), the Block Limits and
 * Logical Block Provisioning VPD pages, MODE SENSE's WP and DPOFUA
 * bits) so that every start-up error is reported there.  Then every
 * NBD connection has its own iSCSI session.
 *
 * Thread model: SERIALIZE_REQUESTS.  A libiscsi context is not
 * thread-safe, and with one session per connection nbdkit's guarantee
 * of one request at a time per connection is exactly the locking a
 * context needs; PARALLEL plus a per-handle mutex would only park
 * nbdkit's worker threads on that mutex.  Clients that want requests
 * in parallel open several connections (multi-conn is safe, below).
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
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "backend.h"

#define DEFAULT_INITIATOR   "iqn.2024-01.io.blockwatch:proxy"
#define ISCSI_PREFIX        "iscsi://"
#define URI_SYNTAX ISCSI_PREFIX "[USER[%PASSWORD]@]HOST[:PORT]/TARGET-IQN/LUN"
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
#define MAX_IO              (32u * 1024 * 1024)
/* One WRITE SAME or UNMAP covers at most this much when the Block
 * Limits page sets no limit, so each command stays well inside
 * COMMAND_TIMEOUT_MS even on a target that writes every block.
 */
#define DEFAULT_MAX_SAME    (256u * 1024 * 1024)
#define MAX_BLOCK_SIZE      65536       /* nbdkit's largest minimum */
#define LBA_STATUS_ALLOC    (8 + 16 * 128)
/* SBC: DATA PROTECT, SPACE ALLOCATION FAILED WRITE PROTECT (27h/07h):
 * a thin-provisioned LUN ran out of space.
 */
#define ASCQ_SPACE_ALLOCATION_FAILED 0x2707
#define MODE_SENSE_WP       0x80
#define MODE_SENSE_DPOFUA   0x10

/* What setup() learnt; read-only once nbdkit has forked. */
static struct {
  char portal[MAX_STRING_SIZE + 1];
  char target[MAX_STRING_SIZE + 1];
  int lun;
  char user[MAX_STRING_SIZE + 1];
  char password[MAX_STRING_SIZE + 1];
  char target_user[MAX_STRING_SIZE + 1];      /* mutual CHAP (URI query) */
  char target_password[MAX_STRING_SIZE + 1];
  const char *initiator;
  char *name;                   /* iscsi://HOST:PORT/IQN/LUN, no secrets */

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

/* ISIDs: a random part for this process, so that proxies sharing the
 * default initiator name do not reinstate each other's sessions, and a
 * qualifier per connection (setup's session uses 0).
 */
static uint32_t isid_random;
static unsigned isid_count;

struct ihandle {
  struct iscsi_context *iscsi;  /* NULL while the session is down */
  uint16_t isid_qualifier;
  bool no_write_same;           /* the target rejected WRITE SAME(16) */
};

/* One SCSI command.  The CDB is kept apart from the task that carries
 * it so that it can be sent again on a new session.
 */
struct cmd {
  const char *name;             /* "READ(16)", for messages */
  struct scsi_task *cdb;        /* from a scsi_cdb_* builder; run frees it */
  void *in;                     /* data-in buffer of len bytes, or NULL */
  const void *out;              /* data-out buffer of len bytes, or NULL */
  uint32_t len;
  uint64_t offset, count;       /* the bytes it acts on, for messages */
  bool quiet;                   /* CHECK CONDITION is the caller's to report */
  bool check_condition;         /* run failed with CHECK CONDITION: */
  struct scsi_sense sense;      /* this one */
};

/* What a completion callback tells the poll loop. */
struct waiter {
  bool done;
  bool timed_out;
  int status;
  /* libiscsi's error when it failed: later calls overwrite its own. */
  char error[MAX_STRING_SIZE + 1];
};

static const unsigned char zero_block[MAX_BLOCK_SIZE];

static int
fail_with (int err)
{
  nbdkit_set_error (err);
  errno = err;
  return -1;
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
  /* Its reconnection retries forever; run() reconnects once instead. */
  iscsi_set_noautoreconnect (iscsi, 1);
  return 0;
}

/* A new logged-in session to the LUN, or NULL after nbdkit_error. */
static struct iscsi_context *
login (uint16_t isid_qualifier)
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

static void
logout (struct iscsi_context *iscsi)
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

static void
report_sense (const struct cmd *c)
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
    report_sense (c);
  return sense_errno (&c->sense);
}

/* Runs C to completion.  Returns the task (status GOOD, free it with
 * scsi_free_scsi_task) or NULL with the error reported and errno set.
 */
static struct scsi_task *
run (struct ihandle *h, struct cmd *c)
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
      if ((h->iscsi = login (h->isid_qualifier)) == NULL) {
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

/* ---- setup: the URI, the credentials, what the LUN can do ---- */

/* Length of "USER[%PASSWORD]" in iscsi://USER[%PASSWORD]@HOST..., or 0.
 * Like libiscsi, the first '@' before any '?' ends it.
 */
static size_t
userinfo_len (const char *uri)
{
  const char *rest = uri + strlen (ISCSI_PREFIX);
  const char *at = memchr (rest, '@', strcspn (rest, "?"));

  return at ? (size_t) (at - rest) : 0;
}

/* The URI without credentials and without the query (which can hold
 * target_password): safe to print.
 */
static char *
public_uri (const char *uri)
{
  const char *rest = uri + strlen (ISCSI_PREFIX);
  size_t skip = userinfo_len (uri);
  char *s;

  if (skip)
    rest += skip + 1;
  if (asprintf (&s, ISCSI_PREFIX "%.*s",
                (int) strcspn (rest, "?"), rest) == -1)
    return NULL;
  return s;
}

/* libiscsi's parse errors quote the URI they were given, secrets and
 * all, so a failure is explained by parsing it again without them.
 * Such an error reads "Invalid URL ...\nREASON\niSCSI URL must be
 * ...": only REASON is news.
 */
static void
report_bad_uri (const char *uri)
{
  char *pub = public_uri (uri);
  struct iscsi_context *iscsi = iscsi_create_context (DEFAULT_INITIATOR);
  struct iscsi_url *url = NULL;
  const char *why = "", *nl;
  int len = 0;

  if (pub && iscsi && (url = iscsi_parse_full_url (iscsi, pub)) == NULL) {
    why = iscsi_get_error (iscsi);
    if ((nl = strchr (why, '\n')) != NULL)
      why = nl + 1;
    len = strcspn (why, "\n");
  }
  nbdkit_error ("iscsi backend: bad URI '%s': %.*s%sexpected %s",
                pub ? pub : "(not shown)", len, why, len ? "; " : "",
                URI_SYNTAX);
  if (url)
    iscsi_destroy_url (url);
  iscsi_destroy_context (iscsi);
  free (pub);
}

static int
copy_secret (char *dst, const char *src, const char *what)
{
  if (strlen (src) > MAX_STRING_SIZE) {
    nbdkit_error ("iscsi backend: the CHAP %s is longer than %d bytes",
                  what, MAX_STRING_SIZE);
    return -1;
  }
  strcpy (dst, src);
  return 0;
}

/* user= and password= override the URI's USER%PASSWORD@.  libiscsi
 * keeps a URI user only together with a password, so a URI user alone
 * (to be completed by password=) is taken from the URI here.
 */
static int
choose_credentials (const struct backend_config *cfg,
                    const struct iscsi_url *url)
{
  const char *rest = cfg->uri + strlen (ISCSI_PREFIX);
  size_t n = userinfo_len (cfg->uri);
  char uri_user[MAX_STRING_SIZE + 1];

  if (url->user[0])
    strcpy (uri_user, url->user);
  else if (n > 0 && n <= MAX_STRING_SIZE && !memchr (rest, '%', n) &&
           !memchr (rest, ':', n))
    snprintf (uri_user, sizeof uri_user, "%.*s", (int) n, rest);
  else
    uri_user[0] = '\0';

  if (copy_secret (lun.user, cfg->user ? cfg->user : uri_user, "user") == -1 ||
      copy_secret (lun.password, cfg->password ? cfg->password : url->passwd,
                   "password") == -1)
    return -1;
  if (!lun.user[0] != !lun.password[0]) {
    nbdkit_error ("iscsi backend: CHAP needs both a user and a password; "
                  "%s is missing (give user= and password=, or "
                  "USER%%PASSWORD@ in the URI)",
                  lun.user[0] ? "the password" : "the user");
    return -1;
  }
  strcpy (lun.target_user, url->target_user);
  strcpy (lun.target_password, url->target_passwd);
  return 0;
}

/* HOST:PORT, [IPV6]:PORT, or a bare host that means port 3260. */
static bool
portal_has_port (const char *portal)
{
  const char *bracket = strrchr (portal, ']');

  return strchr (bracket ? bracket : portal, ':') != NULL;
}

static int
parse_uri (const struct backend_config *cfg)
{
  struct iscsi_context *iscsi;
  struct iscsi_url *url;
  int r = -1;

  if (strncmp (cfg->uri, ISCSI_PREFIX, strlen (ISCSI_PREFIX)) != 0) {
    nbdkit_error ("iscsi backend: the URI must look like %s", URI_SYNTAX);
    return -1;
  }
  iscsi = iscsi_create_context (DEFAULT_INITIATOR);
  if (iscsi == NULL) {
    nbdkit_error ("iscsi backend: cannot create a libiscsi context");
    return -1;
  }
  url = iscsi_parse_full_url (iscsi, cfg->uri);
  if (url == NULL)
    report_bad_uri (cfg->uri);
  else if (url->lun < 0 || url->lun > 16383)
    nbdkit_error ("iscsi backend: LUN %d out of range 0-16383", url->lun);
  else if (choose_credentials (cfg, url) == 0) {
    strcpy (lun.portal, url->portal);
    strcpy (lun.target, url->target);
    lun.lun = url->lun;
    free (lun.name);
    if (asprintf (&lun.name, ISCSI_PREFIX "%s%s/%s/%d", lun.portal,
                  portal_has_port (lun.portal) ? "" : ":3260",
                  lun.target, lun.lun) == -1)
      nbdkit_error ("iscsi backend: out of memory");
    else
      r = 0;
  }
  if (url)
    iscsi_destroy_url (url);
  iscsi_destroy_context (iscsi);
  return r;
}

static bool
is_power_of_2 (uint32_t n)
{
  return n && !(n & (n - 1));
}

static int
probe_capacity (struct ihandle *h)
{
  struct cmd c = { .name = "READ CAPACITY(16)",
                   .cdb = scsi_cdb_readcapacity16 () };
  struct scsi_task *task = run (h, &c);
  struct scsi_readcapacity16 *rc;
  int r = -1;

  if (task == NULL)
    return -1;
  rc = scsi_datain_unmarshall (task);
  if (rc == NULL)
    nbdkit_error ("iscsi backend: %s: cannot parse the READ CAPACITY(16) "
                  "answer", lun.name);
  else if (!is_power_of_2 (rc->block_length) || rc->block_length < 512 ||
           rc->block_length > MAX_BLOCK_SIZE ||
           rc->returned_lba >= INT64_MAX / MAX_BLOCK_SIZE)
    nbdkit_error ("iscsi backend: %s: unsupported geometry: %" PRIu64
                  " blocks of %" PRIu32 " bytes", lun.name,
                  rc->returned_lba + 1, rc->block_length);
  else {
    lun.block_size = rc->block_length;
    /* Only a hint for the preferred request size. */
    lun.phys_block_size = rc->lbppbe < 16 &&
      ((uint64_t) rc->block_length << rc->lbppbe) <= MAX_IO
      ? rc->block_length << rc->lbppbe : rc->block_length;
    lun.size = (rc->returned_lba + 1) * rc->block_length;
    lun.lbpme = rc->lbpme;
    lun.lbprz = rc->lbprz;
    r = 0;
  }
  scsi_free_scsi_task (task);
  return r;
}

/* A VPD page, unmarshalled; NULL if the LUN lacks it.  Free *task. */
static void *
inquire_vpd (struct ihandle *h, int page, const char *name,
             struct scsi_task **task)
{
  struct cmd c = { .name = name, .cdb = scsi_cdb_inquiry (1, page, 255),
                   .quiet = true };
  void *data = NULL;

  *task = run (h, &c);
  if (*task)
    data = scsi_datain_unmarshall (*task);
  if (data == NULL)
    nbdkit_debug ("iscsi backend: %s: no usable %s page", lun.name, name);
  return data;
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

  bl = inquire_vpd (h, SCSI_INQUIRY_PAGECODE_BLOCK_LIMITS, "Block Limits VPD",
                    &task);
  lun.max_io = clamp_blocks (bl ? bl->max_xfer_len : 0, MAX_IO)
               * lun.block_size;
  lun.max_same_blocks = clamp_blocks (bl ? bl->max_ws_len : 0,
                                      DEFAULT_MAX_SAME);
  lun.max_unmap_blocks = clamp_blocks (bl ? bl->max_unmap : 0,
                                       DEFAULT_MAX_SAME);
  lun.unmap_granularity = bl && bl->opt_unmap_gran ? bl->opt_unmap_gran : 1;
  lun.unmap_alignment = bl && bl->ugavalid ? bl->unmap_gran_align : 0;
  if (task)
    scsi_free_scsi_task (task);

  lbp = inquire_vpd (h, SCSI_INQUIRY_PAGECODE_LOGICAL_BLOCK_PROVISIONING,
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
  struct cmd c = { .name = "MODE SENSE(6)", .quiet = true,
                   .cdb = scsi_cdb_modesense6 (1, SCSI_MODESENSE_PC_CURRENT,
                                               SCSI_MODEPAGE_RETURN_ALL_PAGES,
                                               0, 255) };
  struct scsi_task *task = run (h, &c);

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

  if (cfg->initiator && !*cfg->initiator) {
    nbdkit_error ("iscsi backend: initiator= must not be empty");
    return -1;
  }
  lun.initiator = cfg->initiator ? cfg->initiator : DEFAULT_INITIATOR;
  if (getrandom (&isid_random, sizeof isid_random, 0) != sizeof isid_random)
    isid_random = getpid () ^ time (NULL);
  if (parse_uri (cfg) == -1 || (h.iscsi = login (0)) == NULL)
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
                  lun.name, lun.size, lun.block_size, lun.phys_block_size,
                  lun.max_io, lun.lbpme, lun.lbprz, lun.lbpu, lun.lbpws,
                  lun.write_protected, lun.fua);
  }
  if (h.iscsi)
    logout (h.iscsi);
  return r;
}

static void
ib_unload (void)
{
  explicit_bzero (lun.password, sizeof lun.password);
  explicit_bzero (lun.target_password, sizeof lun.target_password);
  free (lun.name);
  lun.name = NULL;
}

/* ---- connections ---- */

static void *
ib_open (int readonly)
{
  struct ihandle *h = calloc (1, sizeof *h);

  (void) readonly;              /* nbdkit sends no writes then */
  if (h == NULL) {
    nbdkit_error ("iscsi backend: calloc: %m");
    return NULL;
  }
  /* Connections open in parallel threads. */
  h->isid_qualifier = __atomic_add_fetch (&isid_count, 1, __ATOMIC_RELAXED);
  h->iscsi = login (h->isid_qualifier);
  if (h->iscsi == NULL) {
    free (h);
    return NULL;
  }
  return h;
}

static void
ib_close (void *hv)
{
  struct ihandle *h = hv;

  if (h->iscsi)
    logout (h->iscsi);
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
  struct cmd c = { .name = "SYNCHRONIZE CACHE(10)",
                   .cdb = scsi_cdb_synchronizecache10 (0, 0, 0, 0) };
  struct scsi_task *task = run (hv, &c);

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
  struct cmd c = { .name = "READ(16)", .in = buf, .len = count,
                   .offset = offset, .count = count };
  struct scsi_task *task;
  bool short_read;

  (void) flags;
  if (check_io ("read", count, offset) == -1)
    return -1;
  c.cdb = scsi_cdb_read16 (offset / lun.block_size, count, lun.block_size,
                           0, 0, 0, 0, 0);
  task = run (hv, &c);
  if (task == NULL)
    return -1;
  short_read = task->residual_status == SCSI_RESIDUAL_UNDERFLOW &&
               task->residual > 0;
  scsi_free_scsi_task (task);
  if (short_read) {
    nbdkit_error ("iscsi backend: READ(16) of %" PRIu32 " bytes at offset %"
                  PRIu64 " on %s: the target sent less data", count, offset,
                  lun.name);
    return fail_with (EIO);
  }
  return 0;
}

static int
ib_pwrite (void *hv, const void *buf, uint32_t count, uint64_t offset,
           uint32_t flags)
{
  struct cmd c = { .name = "WRITE(16)", .out = buf, .len = count,
                   .offset = offset, .count = count };
  struct scsi_task *task;

  if (check_io ("write", count, offset) == -1)
    return -1;
  c.cdb = scsi_cdb_write16 (offset / lun.block_size, count, lun.block_size,
                            0, 0, !!(flags & NBDKIT_FLAG_FUA), 0, 0);
  task = run (hv, &c);
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
  struct cmd c = { .name = "UNMAP", .out = list, .len = sizeof list,
                   .offset = lba * lun.block_size,
                   .count = (uint64_t) blocks * lun.block_size,
                   .cdb = scsi_cdb_unmap (0, 0, sizeof list) };
  struct scsi_task *task;

  put_be (list, sizeof list - 2, 2);
  put_be (list + 2, 16, 2);
  put_be (list + 8, lba, 8);
  put_be (list + 16, blocks, 4);
  task = run (h, &c);
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
  struct cmd c = { .name = "WRITE SAME(16)", .out = zero_block,
                   .len = lun.block_size, .quiet = true,
                   .offset = lba * lun.block_size,
                   .count = (uint64_t) blocks * lun.block_size,
                   .cdb = scsi_cdb_writesame16 (0, 0, unmap, lba, 0, blocks,
                                                lun.block_size) };
  struct scsi_task *task = run (h, &c);
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
  report_sense (&c);
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
  if (((flags & NBDKIT_FLAG_FAST_ZERO) && !unmap) || h->no_write_same)
    return fail_with (ENOTSUP);
  for (done = 0; done < blocks; done += lun.max_same_blocks) {
    uint64_t n = blocks - done;
    int r = write_same_zero (h, lba + done, n < lun.max_same_blocks
                             ? n : lun.max_same_blocks, unmap);
    if (r == -1)
      return -1;
    if (r == 1) {
      nbdkit_debug ("iscsi backend: %s rejects WRITE SAME(16)%s; zeroing "
                    "by writing", lun.name, unmap ? " with UNMAP" : "");
      h->no_write_same = true;
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
    struct cmd c = { .name = "GET LBA STATUS",
                     .offset = lba * lun.block_size,
                     .count = end - lba * lun.block_size,
                     .cdb = scsi_cdb_get_lba_status (lba, LBA_STATUS_ALLOC) };
    struct scsi_task *task = run (hv, &c);
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
                    "no usable descriptor in the answer", start, lun.name);
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
  .thread_model = NBDKIT_THREAD_MODEL_SERIALIZE_REQUESTS,
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
