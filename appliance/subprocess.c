/* Helper programs run by a blockwatch command (see subprocess.h). */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "subprocess.h"

pid_t
sub_spawn (char *const argv[], int out_fd, int deathsig)
{
  pid_t parent = getpid (), pid = fork ();
  sigset_t none;
  int null;

  if (pid != 0)
    return pid;
  null = open ("/dev/null", O_RDONLY);
  if (null == -1 || dup2 (null, STDIN_FILENO) == -1 ||
      dup2 (out_fd >= 0 ? out_fd : STDERR_FILENO, STDOUT_FILENO) == -1)
    _exit (126);
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
  signal (SIGPIPE, SIG_DFL);
  /* If we died before this, nothing would ever send the signal. */
  if (prctl (PR_SET_PDEATHSIG, deathsig) == -1 || getppid () != parent)
    _exit (126);
  close_range (3, ~0u, 0);
  execvp (argv[0], argv);
  fprintf (stderr, "cannot run %s: %s\n", argv[0], strerror (errno));
  _exit (127);
}

int
sub_wait (pid_t pid, unsigned timeout_ms, int *status)
{
  unsigned long long end = now_ms () + timeout_ms;
  const struct timespec tick = { 0, 10 * 1000 * 1000 };

  for (;;) {
    pid_t r = waitpid (pid, status, WNOHANG);
    if (r == pid || (r == -1 && errno == ECHILD))
      return 0;
    if (now_ms () >= end)
      return 1;
    nanosleep (&tick, NULL);
  }
}

void
sub_describe (int status, char *buf, size_t len)
{
  if (WIFEXITED (status))
    snprintf (buf, len, "exited with status %d", WEXITSTATUS (status));
  else if (WIFSIGNALED (status))
    snprintf (buf, len, "was killed by signal %d (%s)", WTERMSIG (status),
              strsignal (WTERMSIG (status)));
  else
    snprintf (buf, len, "ended (status 0x%x)", status);
}

/* Reads fd into out until end of file or end (a time in ms). */
static void
collect (int fd, char *out, size_t outlen, unsigned long long end)
{
  size_t n = 0;

  for (;;) {
    unsigned long long now = now_ms ();
    struct pollfd p = { .fd = fd, .events = POLLIN };
    char sink[512];
    ssize_t r;

    if (now >= end || poll (&p, 1, end - now) <= 0)
      break;
    if (n + 1 < outlen)
      r = read (fd, out + n, outlen - 1 - n);
    else
      r = read (fd, sink, sizeof sink);   /* beyond what is kept */
    if (r == -1 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    if (n + 1 < outlen)
      n += r;
  }
  out[n] = '\0';
}

int
sub_run (const char *what, char *const argv[], unsigned timeout_ms,
         char *out, size_t outlen)
{
  unsigned long long end = now_ms () + timeout_ms;
  int pfd[2] = { -1, -1 }, status;
  char how[128];
  pid_t pid;

  if (out && pipe2 (pfd, O_CLOEXEC) == -1) {
    fprintf (stderr, "%s: pipe: %s\n", what, strerror (errno));
    return -1;
  }
  pid = sub_spawn (argv, pfd[1], SIGKILL);
  if (pfd[1] >= 0)
    close (pfd[1]);
  if (pid == -1) {
    fprintf (stderr, "%s: fork: %s\n", what, strerror (errno));
    if (pfd[0] >= 0)
      close (pfd[0]);
    return -1;
  }
  if (out) {
    collect (pfd[0], out, outlen, end);
    close (pfd[0]);
  }
  if (sub_wait (pid, now_ms () < end ? end - now_ms () : 0, &status)) {
    kill (pid, SIGKILL);
    waitpid (pid, &status, 0);
    fprintf (stderr, "%s: no answer within %u ms\n", what, timeout_ms);
    return -1;
  }
  if (WIFEXITED (status))
    return WEXITSTATUS (status);
  sub_describe (status, how, sizeof how);
  fprintf (stderr, "%s: %s %s\n", what, argv[0], how);
  return -1;
}
