/* Supervising one disk (see disk.h). */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "disk.h"
#include "log.h"
#include "state.h"
#include "subprocess.h"

#define NS 1000000000ull
#define BACKOFF_MIN_NS (NS / 2)
#define BACKOFF_MAX_NS (30 * NS)
/* A child that ran this long before it failed starts the back-off anew. */
#define STABLE_NS (60 * NS)
/* How often to look whether a child became ready. */
#define READY_POLL_NS (NS / 20)

/* The role a child cannot run without, -1: none.  The iSCSI front end
 * is a client of nbdkit's export: it starts once nbdkit serves it, and
 * restarts when nbdkit gets a new command (a new backend, new
 * policies), not when nbdkit merely restarts (it reconnects).  nbdkit
 * starts without its introspector if need be (after start-wait): the
 * guest's disk comes first.
 */
static const int needs[NROLES] = {
  [ROLE_WATCH] = -1, [ROLE_NBDKIT] = -1, [ROLE_ISCSI] = ROLE_NBDKIT,
};

/* A directory of the disk, owned by the user its children run as:
 * they create their sockets, stats files and run mark in it.
 */
static void
prepare_dir (const struct disk *k, const struct bwd_config *c,
             const char *dir)
{
  if (mkdir (dir, 0750) == -1 && errno != EEXIST)
    log_error ("disk %s: cannot create %s: %s", k->name, dir,
               strerror (errno));
  else if (c->user.name && geteuid () == 0 &&
           chown (dir, c->user.uid, c->user.gid) == -1)
    log_error ("disk %s: cannot give %s to %s: %s", k->name, dir,
               c->user.name, strerror (errno));
}

/* Its run and state directories.  Without them nothing can start; the
 * back-off retries.
 */
static void
prepare_dirs (const struct disk *k, const struct bwd_config *c)
{
  prepare_dir (k, c, k->dir);
  prepare_dir (k, c, k->state);
}

/* The child's next commands from the configuration. */
static int
set_next (struct disk *k, const struct bwd_config *c,
          const struct bwd_disk *d)
{
  struct command cmds[NROLES];
  char *vm = strdup (d->vm);

  if (vm == NULL || disk_commands (c, d, cmds) == -1) {
    free (vm);
    return -1;
  }
  for (int r = 0; r < NROLES; r++) {
    command_free (&k->ch[r].next);
    k->ch[r].next = cmds[r];
    /* A role the disk does not have (any more) is not wanted. */
    k->ch[r].want = !k->removing && cmds[r].argv.n > 0;
  }
  free (k->vm);
  k->vm = vm;
  return 0;
}

struct disk *
disk_new (const struct bwd_config *c, const struct bwd_disk *d)
{
  struct disk *k = calloc (1, sizeof *k);

  if (k == NULL)
    return NULL;
  k->name = strdup (d->name);
  k->dir = disk_dir (c, d);
  k->state = disk_state_dir (c, d);
  for (int r = 0; r < NROLES; r++)
    k->ch[r] = (struct child) { .role = r, .log_fd = -1 };
  if (k->name == NULL || k->dir == NULL || k->state == NULL ||
      set_next (k, c, d) == -1) {
    disk_free (k);
    return NULL;
  }
  prepare_dirs (k, c);
  state_adopt (c, k->name, k->dir, k->state);
  return k;
}

int
disk_update (struct disk *k, const struct bwd_config *c,
             const struct bwd_disk *d)
{
  struct command was[NROLES];
  int changed = 0;

  for (int r = 0; r < NROLES; r++)
    if (command_copy (&was[r], &k->ch[r].next) == -1) {
      while (r--)
        command_free (&was[r]);
      return -1;
    }
  /* Removed, then configured again before it had stopped. */
  if (k->removing) {
    k->removing = k->forget = false;
    changed = 1;
  }
  if (set_next (k, c, d) == -1)
    changed = -1;
  for (int r = 0; r < NROLES; r++) {
    if (changed != -1 && !command_equal (&was[r], &k->ch[r].next)) {
      log_info ("disk %s: %s has a new command", k->name,
                role_name (r));
      k->ch[r].gen++;
      changed = 1;
    }
    command_free (&was[r]);
  }
  if (changed != -1)
    prepare_dirs (k, c);
  return changed;
}

void
disk_renew_certs (struct disk *k)
{
  struct child *ch = &k->ch[ROLE_WATCH];

  if (k->removing || ch->state != CHILD_UP ||
      !command_equal (&ch->cmd, &ch->next))
    return;
  if (kill (ch->pid, SIGUSR1) == -1)
    log_warning ("disk %s: cannot signal the introspector (pid %d): %s",
                 k->name, (int) ch->pid, strerror (errno));
  else
    log_info ("disk %s: the introspector reconnects with the new "
              "certificate files", k->name);
}

void
disk_stop (struct disk *k)
{
  k->removing = true;
  for (int r = 0; r < NROLES; r++)
    k->ch[r].want = false;
}

void
disk_remove (struct disk *k)
{
  k->forget = true;
  disk_stop (k);
}

/* Removes a socket, if that is what path is (never a file someone
 * put there by mistake).
 */
static void
remove_socket (const char *path)
{
  struct stat st;

  if (path && lstat (path, &st) == 0 && S_ISSOCK (st.st_mode))
    unlink (path);
}

/* What a child leaves behind, or what a dead one left: its readiness
 * must not be taken from a predecessor's file, nor its metrics.
 */
static void
remove_files (const struct command *cmd)
{
  if (cmd->ready)
    unlink (cmd->ready);
  if (cmd->stats)
    unlink (cmd->stats);
  remove_socket (cmd->leftover);
}

static bool
ready (const struct child *ch)
{
  return ch->state == CHILD_UP && access (ch->cmd.ready, F_OK) == 0;
}

/* The child it needs got a new command since it started. */
static bool
need_changed (const struct disk *k, const struct child *ch)
{
  return needs[ch->role] >= 0 && k->ch[needs[ch->role]].gen != ch->need_gen;
}

static bool
needs_stop (const struct disk *k, const struct child *ch)
{
  return ch->state == CHILD_UP &&
         (!ch->want || !command_equal (&ch->cmd, &ch->next) ||
          need_changed (k, ch));
}

static uint64_t
backoff_ns (const struct child *ch)
{
  unsigned n = ch->quick_failures < 6 ? ch->quick_failures : 6;
  uint64_t d = BACKOFF_MIN_NS << n;

  return d < BACKOFF_MAX_NS ? d : BACKOFF_MAX_NS;
}

/* Whether child r must wait for one started before it to be ready. */
static bool
waiting (const struct disk *k, int r, const struct bwd_config *c,
         uint64_t now)
{
  const struct child *n = needs[r] >= 0 ? &k->ch[needs[r]] : NULL;

  if (n && !(ready (n) && command_equal (&n->cmd, &n->next)))
    return true;
  for (int j = 0; j < r; j++) {
    const struct child *p = &k->ch[j];
    if (p->state == CHILD_UP && !ready (p) &&
        now - p->started_ns < c->start_wait_s * NS)
      return true;
  }
  return false;
}

static void
start (struct disk *k, struct child *ch, uint64_t now)
{
  char err[256];
  pid_t pid;

  /* A pipe the last one's descendants may still hold: not ours now. */
  if (ch->log_fd >= 0) {
    close (ch->log_fd);
    ch->log_fd = -1;
  }
  command_free (&ch->cmd);
  if (command_copy (&ch->cmd, &ch->next) == -1) {
    snprintf (err, sizeof err, "out of memory");
    goto failed;
  }
  remove_files (&ch->cmd);
  if (log_enabled (BWD_LOG_DEBUG)) {
    char line[4096];
    size_t n = 0;
    for (size_t i = 0; i < ch->cmd.argv.n && n < sizeof line; i++)
      n += snprintf (line + n, sizeof line - n, " %s", ch->cmd.argv.v[i]);
    log_debug ("disk %s: %s:%s", k->name, role_name (ch->role), line);
  }
  pid = child_spawn (&ch->cmd, &ch->log_fd, err, sizeof err);
  if (pid == -1)
    goto failed;
  ch->pid = pid;
  ch->state = CHILD_UP;
  ch->started_ns = now;
  ch->need_gen = needs[ch->role] >= 0 ? k->ch[needs[ch->role]].gen : 0;
  ch->killed = false;
  log_info ("disk %s: %s started (pid %d)", k->name, role_name (ch->role),
            (int) pid);
  return;

 failed:
  ch->next_start_ns = now + backoff_ns (ch);
  ch->quick_failures++;
  log_error ("disk %s: cannot start %s: %s; trying again in %.1f s",
             k->name, role_name (ch->role), err,
             (ch->next_start_ns - now) / 1e9);
}

static void
stop (struct disk *k, struct child *ch, const struct bwd_config *c,
      uint64_t now)
{
  if (ch->want && need_changed (k, ch))
    log_info ("disk %s: stopping %s (pid %d) to restart it after %s, which "
              "has a new command", k->name, role_name (ch->role),
              (int) ch->pid, role_name (needs[ch->role]));
  else
    log_info ("disk %s: stopping %s (pid %d)%s", k->name,
              role_name (ch->role), (int) ch->pid,
              ch->want ? " to restart it with a new configuration" : "");
  kill (ch->pid, SIGTERM);
  ch->state = CHILD_STOPPING;
  ch->kill_ns = now + c->stop_timeout_s * NS;
}

void
disk_step (struct disk *k, const struct bwd_config *c, uint64_t now)
{
  /* Stops: in reverse order, each waiting for the one after it. */
  for (int r = NROLES - 1; r >= 0; r--) {
    struct child *ch = &k->ch[r];
    if (ch->state == CHILD_STOPPING) {
      if (!ch->killed && now >= ch->kill_ns) {
        log_warning ("disk %s: %s (pid %d) did not stop within %u s: "
                     "killing it", k->name, role_name (ch->role),
                     (int) ch->pid, c->stop_timeout_s);
        kill (ch->pid, SIGKILL);
        ch->killed = true;
      }
      return;
    }
    if (needs_stop (k, ch)) {
      stop (k, ch, c, now);
      return;
    }
  }
  /* Starts: in order, each after the one before it is ready. */
  for (int r = 0; r < NROLES; r++) {
    struct child *ch = &k->ch[r];
    if (ch->state != CHILD_DOWN || !ch->want || now < ch->next_start_ns)
      continue;
    if (waiting (k, r, c, now))
      return;
    start (k, ch, now);
  }
}

/* Logs one line a child wrote, at the level its words say. */
static void
relay_line (const struct disk *k, const struct child *ch, const char *line)
{
  enum bwd_log_level level = BWD_LOG_INFO;

  if (strstr (line, "debug: "))
    level = BWD_LOG_DEBUG;
  else if (strstr (line, "error: ") || strstr (line, "ERROR: "))
    level = BWD_LOG_ERROR;
  log_msg (level, "disk %s: %s: %s", k->name, role_name (ch->role), line);
}

static void
relay (const struct disk *k, struct child *ch)
{
  ssize_t n;

  while (ch->log_fd >= 0) {
    char *nl;
    n = read (ch->log_fd, ch->log + ch->loglen,
              sizeof ch->log - 1 - ch->loglen);
    if (n <= 0) {
      if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        close (ch->log_fd);   /* end of file: the child is gone */
        ch->log_fd = -1;
      }
      if (n == -1 && errno == EINTR)
        continue;
      break;
    }
    ch->loglen += n;
    ch->log[ch->loglen] = '\0';
    while ((nl = strchr (ch->log, '\n')) != NULL) {
      *nl = '\0';
      relay_line (k, ch, ch->log);
      ch->loglen -= nl + 1 - ch->log;
      memmove (ch->log, nl + 1, ch->loglen + 1);
    }
    /* A line longer than the buffer goes out in pieces. */
    if (ch->loglen == sizeof ch->log - 1) {
      relay_line (k, ch, ch->log);
      ch->loglen = 0;
    }
  }
  if (ch->log_fd == -1 && ch->loglen) {
    relay_line (k, ch, ch->log);
    ch->loglen = 0;
  }
}

void
disk_relay_logs (struct disk *k)
{
  for (int r = 0; r < NROLES; r++)
    relay (k, &k->ch[r]);
}

bool
disk_reaped (struct disk *k, pid_t pid, int status, uint64_t now)
{
  struct child *ch = NULL;
  char how[128];

  for (int r = 0; r < NROLES; r++)
    if (k->ch[r].state != CHILD_DOWN && k->ch[r].pid == pid)
      ch = &k->ch[r];
  if (ch == NULL)
    return false;
  relay (k, ch);
  remove_files (&ch->cmd);
  sub_describe (status, how, sizeof how);
  if (ch->state == CHILD_STOPPING) {
    if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
      log_info ("disk %s: %s stopped", k->name, role_name (ch->role));
    else
      log_warning ("disk %s: %s %s when stopped", k->name,
                   role_name (ch->role), how);
    ch->next_start_ns = now;
    ch->quick_failures = 0;
  }
  else {
    if (now - ch->started_ns >= STABLE_NS)
      ch->quick_failures = 0;
    ch->next_start_ns = now + backoff_ns (ch);
    ch->quick_failures++;
    ch->restarts++;
    log_error ("disk %s: %s (pid %d) %s; starting it again in %.1f s",
               k->name, role_name (ch->role), (int) pid, how,
               (ch->next_start_ns - now) / 1e9);
  }
  ch->state = CHILD_DOWN;
  ch->pid = 0;
  return true;
}

uint64_t
disk_next_event (const struct disk *k, const struct bwd_config *c,
                 uint64_t now)
{
  uint64_t next = UINT64_MAX;

  for (int r = 0; r < NROLES; r++) {
    const struct child *ch = &k->ch[r];
    uint64_t t = UINT64_MAX;
    if (ch->state == CHILD_STOPPING && !ch->killed)
      t = ch->kill_ns;
    else if (ch->state == CHILD_DOWN && ch->want) {
      t = ch->next_start_ns;
      if (t <= now && waiting (k, r, c, now))
        t = now + READY_POLL_NS;
    }
    if (t < next)
      next = t;
  }
  return next;
}

bool
disk_idle (const struct disk *k)
{
  for (int r = 0; r < NROLES; r++)
    if (k->ch[r].state != CHILD_DOWN)
      return false;
  return true;
}

void
disk_free (struct disk *k)
{
  if (k == NULL)
    return;
  for (int r = 0; r < NROLES; r++) {
    if (k->ch[r].log_fd >= 0)
      close (k->ch[r].log_fd);
    command_free (&k->ch[r].cmd);
    command_free (&k->ch[r].next);
  }
  /* Gone for good: what its last introspector could not deliver
   * concerns no later run.
   */
  if (k->forget)
    state_forget (k->name, k->state);
  if (k->dir && rmdir (k->dir) == -1 && errno != ENOENT)
    log_warning ("disk %s: %s is left: %s", k->name, k->dir,
                 strerror (errno));
  free (k->name);
  free (k->vm);
  free (k->dir);
  free (k->state);
  free (k);
}
