/* blockwatchd: the appliance daemon.
 *
 *   blockwatchd [-c FILE] [--check]
 *
 * Reads one configuration file (config.h) and, for every disk in it,
 * runs and supervises the introspector (blockwatch watch) and the
 * proxy (nbdkit with the blockwatch plugin) (disk.h); serves metrics
 * (metrics.h).  SIGHUP loads the file again (added, removed and changed
 * disks; the others are left alone), SIGTERM or SIGINT stops every
 * disk in order and exits.  Everything happens in one thread, in the
 * loop below: signals arrive through a signalfd, the children's output
 * through pipes, scrapes through libmicrohttpd's epoll descriptor.
 */

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker.h"
#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "state.h"
#include "web.h"

static void
usage (FILE *f)
{
  fprintf (f, "usage: blockwatchd [-c FILE] [--check [--root DIR]]\n"
           "  -c, --config FILE   the configuration (default "
           BWD_DEFAULT_CONFIG ")\n"
           "  --check             check the configuration, start nothing\n"
           "  --root DIR          with --check: the configuration is for\n"
           "                      the system installed under DIR (the files\n"
           "                      it names are looked for there)\n"
           "Signals: SIGHUP reloads the configuration (and broker\n"
           "certificate files renewed in place), SIGTERM stops.\n"
           "See docs/appliance.md.\n");
}

/* The directory blockwatchd was run from. */
static char *
self_dir (void)
{
  char path[PATH_MAX];
  ssize_t n = readlink ("/proc/self/exe", path, sizeof path - 1);

  if (n <= 0)
    return NULL;
  path[n] = '\0';
  return strdup (dirname (path));
}

/* Collects every child that exited and tells its disk. */
static void
reap (struct daemon *dm)
{
  uint64_t now = now_ns ();
  int status;
  pid_t pid;

  while ((pid = waitpid (-1, &status, WNOHANG)) > 0) {
    bool ours = false;
    for (size_t i = 0; i < dm->ndisks && !ours; i++)
      ours = disk_reaped (dm->disks[i], pid, status, now);
    if (!ours)
      log_debug ("reaped pid %d, not a disk's", (int) pid);
  }
}

static void
shut_down (struct daemon *dm, int sig)
{
  if (dm->stopping) {
    log_info ("%s again: still stopping", strsignal (sig));
    return;
  }
  log_info ("%s: stopping every disk", strsignal (sig));
  dm->stopping = true;
  for (size_t i = 0; i < dm->ndisks; i++)
    disk_stop (dm->disks[i]);
}

static void
on_signal (struct daemon *dm, int sfd)
{
  struct signalfd_siginfo si;

  while (read (sfd, &si, sizeof si) == sizeof si) {
    switch (si.ssi_signo) {
    case SIGCHLD: reap (dm); break;
    case SIGHUP:
      if (!dm->stopping)
        daemon_reload (dm);
      break;
    default: shut_down (dm, si.ssi_signo); break;
    }
  }
}

/* Frees the disks that were removed and have stopped. */
static void
drop_stopped (struct daemon *dm)
{
  size_t n = 0;

  for (size_t i = 0; i < dm->ndisks; i++) {
    struct disk *k = dm->disks[i];
    if (k->removing && disk_idle (k)) {
      log_info ("disk %s: stopped", k->name);
      disk_free (k);
    }
    else
      dm->disks[n++] = k;
  }
  dm->ndisks = n;
}

/* Milliseconds until the first thing to do, for poll. */
static int
timeout_ms (struct daemon *dm, uint64_t now)
{
  uint64_t next = UINT64_MAX;
  int ms = -1;

  for (size_t i = 0; i < dm->ndisks; i++) {
    uint64_t t = disk_next_event (dm->disks[i], dm->cfg, now);
    if (t < next)
      next = t;
  }
  if (next != UINT64_MAX)
    ms = next <= now ? 0 : (int) ((next - now + 999999) / 1000000);
  if (dm->metrics) {
    int m = metrics_timeout_ms (dm->metrics);
    if (m >= 0 && (ms < 0 || m < ms))
      ms = m;
  }
  return ms;
}

static void
loop (struct daemon *dm, int sfd)
{
  struct pollfd *pfd = NULL;
  size_t cap = 0;

  for (;;) {
    uint64_t now = now_ns ();
    size_t n = 0;

    for (size_t i = 0; i < dm->ndisks; i++)
      disk_step (dm->disks[i], dm->cfg, now);
    drop_stopped (dm);
    if (dm->stopping && dm->ndisks == 0)
      break;

    if (cap < 2 + dm->ndisks * NROLES) {
      cap = 2 + dm->ndisks * NROLES;
      pfd = realloc (pfd, cap * sizeof *pfd);
      if (pfd == NULL) {
        log_error ("out of memory");
        exit (1);
      }
    }
    pfd[n++] = (struct pollfd) { .fd = sfd, .events = POLLIN };
    if (dm->metrics)
      pfd[n++] = (struct pollfd) { .fd = metrics_fd (dm->metrics),
                                   .events = POLLIN };
    for (size_t i = 0; i < dm->ndisks; i++)
      for (int r = 0; r < NROLES; r++)
        if (dm->disks[i]->ch[r].log_fd >= 0)
          pfd[n++] = (struct pollfd) { .fd = dm->disks[i]->ch[r].log_fd,
                                       .events = POLLIN };
    if (poll (pfd, n, timeout_ms (dm, now)) == -1 && errno != EINTR) {
      log_error ("poll: %s", strerror (errno));
      exit (1);
    }
    for (size_t i = 0; i < dm->ndisks; i++)
      disk_relay_logs (dm->disks[i]);
    on_signal (dm, sfd);
    if (dm->metrics)
      metrics_run (dm->metrics);
  }
  free (pfd);
}

int
main (int argc, char **argv)
{
  static const struct option opts[] = {
    { "config", required_argument, NULL, 'c' },
    { "check", no_argument, NULL, 'k' },
    { "root", required_argument, NULL, 'r' },
    { "help", no_argument, NULL, 'h' },
    { 0 }
  };
  struct daemon dm = { .config_path = BWD_DEFAULT_CONFIG, .reload_ok = true };
  struct bwd_config *c;
  bool check = false, made_run_dir = false;
  const char *root = NULL;
  char err[1024];
  sigset_t sigs;
  int opt, sfd;

  while ((opt = getopt_long (argc, argv, "c:h", opts, NULL)) != -1) {
    switch (opt) {
    case 'c': dm.config_path = optarg; break;
    case 'k': check = true; break;
    case 'r': root = optarg; break;
    case 'h': usage (stdout); return 0;
    default: usage (stderr); return 2;
    }
  }
  if (optind != argc) {
    usage (stderr);
    return 2;
  }
  if (root && !check) {
    usage (stderr);
    return 2;
  }
  /* Signals are read from a descriptor, in the loop, never handled in
   * the middle of something; blocked from the start, so that a SIGHUP
   * or SIGTERM that comes while the configuration loads waits for the
   * loop instead of killing the daemon.
   */
  sigemptyset (&sigs);
  sigaddset (&sigs, SIGCHLD);
  sigaddset (&sigs, SIGHUP);
  sigaddset (&sigs, SIGTERM);
  sigaddset (&sigs, SIGINT);
  if (!check)
    sigprocmask (SIG_BLOCK, &sigs, NULL);
  log_init ();
  dm.self_dir = self_dir ();
  c = bwd_config_load (dm.config_path, dm.self_dir, err, sizeof err);
  if (c == NULL) {
    log_error ("%s", err);
    free (dm.self_dir);
    return 1;
  }
  if (check && c->broker.uri &&
      broker_check (c, root, err, sizeof err) == -1) {
    log_error ("%s: %s", dm.config_path, err);
    bwd_config_free (c);
    free (dm.self_dir);
    return 1;
  }
  if (check) {
    printf ("%s: configuration OK, %zu disks\n", dm.config_path, c->ndisks);
    bwd_config_free (c);
    free (dm.self_dir);
    return 0;
  }
  if (state_open (c) == -1) {
    bwd_config_free (c);
    free (dm.self_dir);
    return 1;
  }
  if (mkdir (c->run_dir, 0755) == 0)
    made_run_dir = true;
  else if (errno != EEXIST) {
    log_error ("run-dir %s: %s", c->run_dir, strerror (errno));
    bwd_config_free (c);
    free (dm.self_dir);
    return 1;
  }

  sfd = signalfd (-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
  signal (SIGPIPE, SIG_IGN);
  if (sfd == -1 || daemon_apply (&dm, c, err, sizeof err) == -1) {
    log_error ("%s", sfd == -1 ? strerror (errno) : err);
    /* No disk was started: daemon_apply freed the configuration but
     * may have grown the disk table.
     */
    free (dm.disks);
    free (dm.self_dir);
    return 1;
  }
  log_info ("started: %zu disks, configuration %s", dm.ndisks,
            dm.config_path);
  loop (&dm, sfd);
  /* Every disk has stopped: the appliance says "offline". */
  broker_close (dm.broker);
  metrics_stop (dm.metrics);
  web_stop (dm.web);
  if (made_run_dir)
    rmdir (dm.cfg->run_dir);
  bwd_config_free (dm.cfg);
  free (dm.tls_stamp);
  free (dm.disks);
  free (dm.self_dir);
  close (sfd);
  log_info ("stopped");
  return 0;
}
