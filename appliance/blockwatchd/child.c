/* Starting one process of a disk (see child.h). */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "child.h"
#include "log.h"

/* A file of lines a killed process wrote last may end in half a line;
 * the next one appends after it.  Cut it off, so that every line stays
 * whole (the events of a line cut short were of records the process
 * had not acknowledged, which its successor reports as a loss).
 */
static void
trim_torn_line (int fd, const char *path)
{
  struct stat st;
  char buf[4096];
  off_t end;

  if (fstat (fd, &st) == -1 || !S_ISREG (st.st_mode) || st.st_size == 0)
    return;
  end = st.st_size;
  while (end > 0) {
    size_t n = end < (off_t) sizeof buf ? (size_t) end : sizeof buf;
    ssize_t r = pread (fd, buf, n, end - n);
    char *nl;
    if (r != (ssize_t) n)
      return;
    nl = memrchr (buf, '\n', n);
    if (nl) {
      end = end - n + (nl - buf) + 1;
      break;
    }
    end -= n;
  }
  if (end == st.st_size)
    return;
  if (ftruncate (fd, end) == 0)
    log_warning ("%s: removed %lld bytes of a line cut short", path,
                 (long long) (st.st_size - end));
}

/* The groups of the user a child becomes, looked up before the fork:
 * blockwatchd has threads (the MQTT bridge's, broker.h), and after a
 * fork only async-signal-safe calls are sure to work, which the user
 * database's lookups (initgroups) are not.  *n -1: failed (errno).
 */
static gid_t *
groups_of (const struct command *cmd, int *n)
{
  gid_t *g = NULL, *more;
  int want = 16;

  for (;;) {
    if ((more = realloc (g, want * sizeof *g)) == NULL) {
      free (g);
      *n = -1;
      return NULL;
    }
    g = more;
    *n = want;
    if (getgrouplist (cmd->user, cmd->gid, g, n) != -1)
      return g;
    if (*n <= want)           /* no sense in asking for more */
      want *= 2;
    else
      want = *n;
    if (want > 65536) {
      free (g);
      errno = E2BIG;
      *n = -1;
      return NULL;
    }
  }
}

/* In the child, after fork (system calls only): lowers its CPU
 * priority by cmd->nice and raises its oom_score_adj to at least
 * cmd->oom_score_adj.  Before the user change: as root, the OOM score
 * set becomes the least the process itself may set later (proc(5)),
 * so a process taken over by what it parses cannot lower it again.
 * What does not work is said in the disk's log; the process runs all
 * the same (it is a precaution, not what the process is for).
 */
static void
yield_priority (const struct command *cmd)
{
  char buf[16];
  ssize_t n;
  int fd, now = 0, sign = 1;

  errno = 0;
  if (cmd->nice && nice (cmd->nice) == -1 && errno)
    dprintf (STDERR_FILENO, "warning: cannot lower the CPU priority by %u: "
             "%s\n", cmd->nice, strerror (errno));
  if (cmd->oom_score_adj == 0)
    return;
  fd = open ("/proc/self/oom_score_adj", O_RDWR | O_CLOEXEC);
  n = fd == -1 ? -1 : pread (fd, buf, sizeof buf - 1, 0);
  for (ssize_t i = 0; i < n; i++)
    if (buf[i] == '-')
      sign = -1;
    else if (buf[i] >= '0' && buf[i] <= '9')
      now = now * 10 + buf[i] - '0';
  if (n > 0 && sign * now >= (int) cmd->oom_score_adj) {
    close (fd);
    return;
  }
  n = snprintf (buf, sizeof buf, "%u", cmd->oom_score_adj);
  if (fd == -1 || write (fd, buf, n) != n)
    dprintf (STDERR_FILENO, "warning: cannot set oom_score_adj to %u: %s\n",
             cmd->oom_score_adj, strerror (errno));
  if (fd != -1)
    close (fd);
}

/* In the child, after fork: nothing here returns. */
static void __attribute__ ((noreturn))
become (const struct command *cmd, pid_t parent, int out, int log,
        const gid_t *groups, int ngroups)
{
  int null = open ("/dev/null", O_RDONLY);
  sigset_t none;

  if (null == -1 || dup2 (null, STDIN_FILENO) == -1 ||
      dup2 (out, STDOUT_FILENO) == -1 || dup2 (log, STDERR_FILENO) == -1)
    _exit (126);
  /* Our signal mask (signals go to a signalfd) and ignored SIGPIPE
   * would be inherited through exec.  All but SIGUSR1: blockwatchd
   * sends it to an introspector whose certificate files changed
   * (blockwatch watch takes it with sigwait), and one sent before the
   * program is ready for it must wait, not kill.  The other programs
   * have no use for it.
   */
  sigemptyset (&none);
  sigaddset (&none, SIGUSR1);
  sigprocmask (SIG_SETMASK, &none, NULL);
  signal (SIGPIPE, SIG_DFL);
  yield_priority (cmd);
  if (groups && (setgroups (ngroups, groups) == -1 ||
                 setgid (cmd->gid) == -1 || setuid (cmd->uid) == -1)) {
    dprintf (STDERR_FILENO, "cannot become user %s: %s\n", cmd->user,
             strerror (errno));
    _exit (126);
  }
  /* After the user change, which clears it.  If blockwatchd died
   * before this, nothing would ever send the signal: go now.
   */
  if (prctl (PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid () != parent)
    _exit (126);
  close_range (3, ~0u, 0);
  execvp (cmd->argv.v[0], cmd->argv.v);
  dprintf (STDERR_FILENO, "cannot run %s: %s\n", cmd->argv.v[0],
           strerror (errno));
  _exit (127);
}

pid_t
child_spawn (const struct command *cmd, int *log_fd, char *err,
             size_t errlen)
{
  pid_t parent = getpid (), pid;
  int pfd[2], out = -1, ngroups = 0;
  gid_t *groups = NULL;

  if (cmd->user && geteuid () == 0 &&
      (groups = groups_of (cmd, &ngroups)) == NULL) {
    snprintf (err, errlen, "the groups of user %s: %s", cmd->user,
              strerror (errno));
    return -1;
  }
  if (pipe2 (pfd, O_CLOEXEC) == -1) {
    snprintf (err, errlen, "pipe: %s", strerror (errno));
    free (groups);
    return -1;
  }
  if (cmd->out) {
    out = open (cmd->out, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (out == -1) {
      snprintf (err, errlen, "%s: %s", cmd->out, strerror (errno));
      close (pfd[0]);
      close (pfd[1]);
      free (groups);
      return -1;
    }
    trim_torn_line (out, cmd->out);
  }
  pid = fork ();
  if (pid == 0)
    become (cmd, parent, out >= 0 ? out : pfd[1], pfd[1], groups, ngroups);
  free (groups);
  if (out >= 0)
    close (out);
  close (pfd[1]);
  if (pid == -1) {
    snprintf (err, errlen, "fork: %s", strerror (errno));
    close (pfd[0]);
    return -1;
  }
  fcntl (pfd[0], F_SETFL, O_NONBLOCK);
  *log_fd = pfd[0];
  return pid;
}
