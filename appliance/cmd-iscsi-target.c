/* blockwatch iscsi-target: serve an NBD export as an iSCSI target.
 *
 *   blockwatch iscsi-target --nbd SOCKET --dir DIR --target IQN
 *       --portal ADDRESS:PORT [--chap-user USER --chap-password-file FILE]
 *       [--initiator-address ADDRESS[/PREFIX]]... [--initiator-name IQN]...
 *       [--readonly] [--nbdkit PROGRAM]
 *
 * blockwatchd runs it as the iSCSI front end of a disk, on the disk's
 * proxied export, so that what an initiator writes goes through the
 * proxy and its tap like an NBD client's writes.  The chain:
 *
 *   initiator -> tgtd (rdwr store, O_DIRECT) -> DIR/lun/disk (FUSE)
 *     -> nbdfuse -> nbdkit (retry filter, nbd plugin) -> SOCKET
 *
 * - tgtd has no NBD backing store, so nbdfuse makes the export a file.
 *   O_DIRECT keeps the page cache out: each SCSI read and write is an
 *   NBD request (FUSE splits the big ones), the host does not cache
 *   the guest's disk twice, and what tgtd reads is what the proxy
 *   serves.  SYNCHRONIZE CACHE, and a write with FUA, make tgtd call
 *   fdatasync on the file, which nbdfuse turns into an NBD FLUSH: the
 *   tap sees the initiator's barriers.
 * - The nbdkit between nbdfuse and the export reconnects when the
 *   export goes away and comes back (blockwatchd restarts a crashed
 *   proxy), retrying the requests: the initiator's I/O stalls, it does
 *   not fail, as an NBD client that reconnects.
 * - One tgtd per target, with its management socket in DIR: its
 *   sessions, crashes and restarts concern this disk only.
 *
 * It writes DIR/ready once initiators can log in, and runs until
 * SIGTERM: then it removes the target (closing the sessions), stops
 * tgtd, flushes and unmounts the file and exits 0.  If tgtd or nbdfuse
 * dies, it takes the other down and exits 1 for its supervisor to start
 * it again.  docs/appliance.md has the rest.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include "iscsi-values.h"
#include "subprocess.h"
#include "tgt-target.h"

#define PROG "blockwatch iscsi-target"
#define START_MS 30000          /* nbdfuse and tgtd get this to be ready */
#define STOP_MS 10000           /* and this to exit */
#define POLL_MS 20

struct front {
  const char *nbd, *dir, *nbdkit;
  bool readonly;
  struct iscsi_portal portal;
  char *secret;
  struct tgt_target t;
  const char **addresses, **names;
  char *mnt, *lun, *pidfile, *ipc, *ready;
  pid_t fuse, tgtd;
  bool created;               /* the target exists in tgtd */
  int sfd;
  bool stopping;              /* SIGTERM or SIGINT came */
};

static void
usage (FILE *f)
{
  fprintf (f, "usage: " PROG " --nbd SOCKET --dir DIR --target IQN\n"
           "    --portal ADDRESS:PORT [--chap-user USER "
           "--chap-password-file FILE]\n"
           "    [--initiator-address ADDRESS[/PREFIX]]... "
           "[--initiator-name IQN]...\n"
           "    [--readonly] [--nbdkit PROGRAM]\n"
           "Serves the NBD export on SOCKET as LUN 1 of iSCSI target IQN "
           "(tgtd on nbdfuse);\nDIR holds the mount, tgtd's socket and "
           "DIR/ready.  See docs/appliance.md.\n");
}

static bool
add (const char ***v, size_t *n, const char *s)
{
  const char **nv = realloc (*v, (*n + 1) * sizeof *nv);

  if (nv == NULL)
    return false;
  nv[(*n)++] = s;
  *v = nv;
  return true;
}

static char *
path (const char *dir, const char *name)
{
  char *s;

  if (asprintf (&s, "%s/%s", dir, name) == -1) {
    fprintf (stderr, PROG ": out of memory\n");
    exit (1);
  }
  return s;
}

/* Options into f; exits on a bad one. */
static void
parse (struct front *f, int argc, char **argv)
{
  static const struct option opts[] = {
    { "nbd", required_argument, NULL, 'n' },
    { "dir", required_argument, NULL, 'd' },
    { "target", required_argument, NULL, 't' },
    { "portal", required_argument, NULL, 'p' },
    { "chap-user", required_argument, NULL, 'u' },
    { "chap-password-file", required_argument, NULL, 'P' },
    { "initiator-address", required_argument, NULL, 'a' },
    { "initiator-name", required_argument, NULL, 'i' },
    { "readonly", no_argument, NULL, 'r' },
    { "nbdkit", required_argument, NULL, 'k' },
    { "help", no_argument, NULL, 'h' },
    { 0 }
  };
  const char *portal = NULL, *secret_file = NULL, *msg;
  bool ok = true;
  int c;

  f->nbdkit = "nbdkit";
  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 'n': f->nbd = optarg; break;
    case 'd': f->dir = optarg; break;
    case 't': f->t.iqn = optarg; break;
    case 'p': portal = optarg; break;
    case 'u': f->t.chap_user = optarg; break;
    case 'P': secret_file = optarg; break;
    case 'a':
      if ((msg = iscsi_check_address (optarg)) != NULL) {
        fprintf (stderr, PROG ": --initiator-address %s: %s\n", optarg, msg);
        exit (2);
      }
      ok &= add (&f->addresses, &f->t.naddresses, optarg);
      break;
    case 'i':
      if ((msg = iscsi_check_name (optarg)) != NULL) {
        fprintf (stderr, PROG ": --initiator-name %s: %s\n", optarg, msg);
        exit (2);
      }
      ok &= add (&f->names, &f->t.nnames, optarg);
      break;
    case 'r': f->readonly = true; break;
    case 'k': f->nbdkit = optarg; break;
    case 'h': usage (stdout); exit (0);
    default: usage (stderr); exit (2);
    }
  }
  if (optind != argc || !f->nbd || !f->dir || !f->t.iqn || !portal ||
      !f->t.chap_user != !secret_file) {
    usage (stderr);
    exit (2);
  }
  if (!ok) {
    fprintf (stderr, PROG ": out of memory\n");
    exit (1);
  }
  if ((msg = iscsi_check_name (f->t.iqn)) != NULL ||
      (msg = iscsi_parse_portal (portal, &f->portal)) != NULL ||
      (f->t.chap_user &&
       (msg = iscsi_check_chap_user (f->t.chap_user)) != NULL)) {
    fprintf (stderr, PROG ": %s\n", msg);
    exit (2);
  }
  if (secret_file && (msg = iscsi_read_secret (secret_file, &f->secret))) {
    fprintf (stderr, PROG ": %s: %s\n", secret_file, msg);
    exit (2);
  }
  f->t.portal = f->portal.shown;
  f->t.chap_secret = f->secret;
  f->t.addresses = f->addresses;
  f->t.names = f->names;
  f->t.readonly = f->readonly;
}

/* A FUSE mount a killed nbdfuse left (reads fail with ENOTCONN), or
 * one still there from before: detached, so that the new one can
 * mount.  Only root may umount; fusermount3 does it for the user who
 * mounted.
 */
static void
clear_mount (const struct front *f)
{
  struct stat m, d;
  char *argv[] = { "fusermount3", "-u", "-z", "-q", f->mnt, NULL };

  if (stat (f->dir, &d) == -1)
    return;
  if (stat (f->mnt, &m) == 0 ? m.st_dev == d.st_dev : errno == ENOENT)
    return;
  fprintf (stderr, PROG ": %s is still mounted: detaching it\n", f->mnt);
  if (geteuid () == 0 ? umount2 (f->mnt, MNT_DETACH) == -1
                      : sub_run ("fusermount3", argv, STOP_MS, NULL, 0) != 0)
    fprintf (stderr, PROG ": cannot unmount %s: %s\n", f->mnt,
             geteuid () == 0 ? strerror (errno) : "see above");
}

/* The files of the helpers: tgtd leaves its socket and lock file
 * behind, and names them after its control port, 0.
 */
static void
remove_files (const struct front *f)
{
  char name[4096];

  snprintf (name, sizeof name, "%s.0", f->ipc);
  unlink (name);
  snprintf (name, sizeof name, "%s.0.lock", f->ipc);
  unlink (name);
  unlink (f->pidfile);
  unlink (f->ready);
}

/* DIR and the mount point, cleared of what a killed predecessor left. */
static int
prepare (struct front *f)
{
  if (mkdir (f->dir, 0700) == -1 && errno != EEXIST) {
    fprintf (stderr, PROG ": %s: %s\n", f->dir, strerror (errno));
    return -1;
  }
  clear_mount (f);
  if (mkdir (f->mnt, 0700) == -1 && errno != EEXIST) {
    fprintf (stderr, PROG ": %s: %s\n", f->mnt, strerror (errno));
    return -1;
  }
  remove_files (f);
  return 0;
}

/* Reads the signals that came; false when one says stop. */
static bool
keep_going (struct front *f)
{
  struct signalfd_siginfo si;

  while (read (f->sfd, &si, sizeof si) == sizeof si)
    if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
      if (!f->stopping)
        fprintf (stderr, PROG ": %s: stopping\n", strsignal (si.ssi_signo));
      f->stopping = true;
    }
  return !f->stopping;
}

/* Reaps nbdfuse or tgtd if it exited; true if one did. */
static bool
reap (struct front *f)
{
  pid_t *who[] = { &f->fuse, &f->tgtd };
  const char *name[] = { "nbdfuse", "tgtd" };
  bool died = false;

  for (int i = 0; i < 2; i++) {
    int status;
    char how[128];
    if (*who[i] <= 0 || waitpid (*who[i], &status, WNOHANG) != *who[i])
      continue;
    sub_describe (status, how, sizeof how);
    fprintf (stderr, PROG ": %s (pid %d) %s\n", name[i], (int) *who[i], how);
    *who[i] = 0;
    died = true;
  }
  return died;
}

/* Waits until ready (f) holds; false if a helper died, a stop came or
 * START_MS passed (said on stderr).
 */
static bool
wait_ready (struct front *f, bool (*ready) (const struct front *),
            const char *what)
{
  for (int ms = 0; ms < START_MS; ms += POLL_MS) {
    if (!keep_going (f) || reap (f))
      return false;
    if (ready (f))
      return true;
    poll (NULL, 0, POLL_MS);
  }
  fprintf (stderr, PROG ": %s not ready after %d s\n", what, START_MS / 1000);
  return false;
}

static bool
fuse_ready (const struct front *f)
{
  return access (f->pidfile, F_OK) == 0;
}

/* tgtd listens on its management socket (tgtadm would complain in
 * the log while it does not).
 */
static bool
tgtd_ready (const struct front *f)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  bool ok;

  snprintf (sa.sun_path, sizeof sa.sun_path, "%s.0", f->ipc);
  ok = fd >= 0 && connect (fd, (struct sockaddr *) &sa, sizeof sa) == 0;
  if (fd >= 0)
    close (fd);
  return ok;
}

/* nbdfuse makes the export the file DIR/lun/disk, through an nbdkit
 * of its own that reconnects to the export when it comes back.
 */
static bool
start_fuse (struct front *f)
{
  char *sock, *argv[24];
  int n = 0;

  if (asprintf (&sock, "socket=%s", f->nbd) == -1)
    return false;
  argv[n++] = "nbdfuse";
  if (f->readonly)
    argv[n++] = "--readonly";
  argv[n++] = "--pidfile";
  argv[n++] = f->pidfile;
  argv[n++] = f->lun;
  argv[n++] = "[";
  argv[n++] = (char *) f->nbdkit;
  argv[n++] = "--exit-with-parent";
  if (f->readonly)
    argv[n++] = "--readonly";
  /* Up to 1 + 2 + 4 + 8 + 16 s for the export to come back. */
  argv[n++] = "--filter=retry";
  argv[n++] = "nbd";
  argv[n++] = sock;
  argv[n++] = "retry-delay=1";
  argv[n++] = "]";
  argv[n] = NULL;
  /* SIGTERM: it unmounts on its way out. */
  f->fuse = sub_spawn (argv, -1, SIGTERM);
  free (sock);
  if (f->fuse == -1) {
    fprintf (stderr, PROG ": fork: %s\n", strerror (errno));
    return false;
  }
  return wait_ready (f, fuse_ready, "nbdfuse");
}

static bool
start_tgtd (struct front *f)
{
  char portal[sizeof f->portal.shown + 8];
  char *argv[] = { "tgtd", "-f", "--iscsi", portal, NULL };

  snprintf (portal, sizeof portal, "portal=%s", f->portal.shown);
  /* tgtd ignores SIGTERM: it stops when asked through tgtadm. */
  f->tgtd = sub_spawn (argv, -1, SIGKILL);
  if (f->tgtd == -1) {
    fprintf (stderr, PROG ": fork: %s\n", strerror (errno));
    return false;
  }
  return wait_ready (f, tgtd_ready, "tgtd");
}

static bool
write_ready (const struct front *f)
{
  int fd = open (f->ready, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

  if (fd == -1 || dprintf (fd, "%d\n", (int) getpid ()) < 0) {
    fprintf (stderr, PROG ": %s: %s\n", f->ready, strerror (errno));
    if (fd >= 0)
      close (fd);
    return false;
  }
  close (fd);
  return true;
}

/* Waits for pid to exit, SIGKILL after STOP_MS. */
static void
finish (pid_t *pid, const char *name)
{
  int status;

  if (*pid <= 0)
    return;
  if (sub_wait (*pid, STOP_MS, &status)) {
    fprintf (stderr, PROG ": %s (pid %d) did not stop within %d s: killing "
             "it\n", name, (int) *pid, STOP_MS / 1000);
    kill (*pid, SIGKILL);
    waitpid (*pid, &status, 0);
  }
  *pid = 0;
}

/* An NBD FLUSH through the file, so that what initiators wrote and
 * did not flush is durable when we are gone (nbdfuse does not flush
 * when the file is closed).
 */
static void
flush (const struct front *f)
{
  int fd = open (f->lun, O_RDWR | O_CLOEXEC);

  if (fd == -1 || fdatasync (fd) == -1)
    fprintf (stderr, PROG ": flushing %s: %s\n", f->lun, strerror (errno));
  if (fd >= 0)
    close (fd);
}

/* In order: the target (sessions closed, nothing writes any more),
 * tgtd, a flush, then the file.
 */
static void
teardown (struct front *f)
{
  unlink (f->ready);
  if (f->tgtd > 0 && tgt_shutdown (f->created) == -1)
    kill (f->tgtd, SIGKILL);
  finish (&f->tgtd, "tgtd");
  if (f->fuse > 0) {
    flush (f);
    kill (f->fuse, SIGTERM);
  }
  finish (&f->fuse, "nbdfuse");
  clear_mount (f);
  remove_files (f);
  rmdir (f->mnt);
  rmdir (f->dir);
}

int
cmd_iscsi_target (int argc, char **argv)
{
  struct front f = { .sfd = -1 };
  sigset_t sigs;
  int rc;

  parse (&f, argc, argv);
  f.mnt = path (f.dir, "lun");
  f.lun = path (f.mnt, "disk");
  f.pidfile = path (f.dir, "nbdfuse.pid");
  f.ipc = path (f.dir, "tgtd.sock");
  f.ready = path (f.dir, "ready");
  f.t.backing = f.lun;
  /* tgtd and tgtadm find each other there. */
  setenv ("TGT_IPC_SOCKET", f.ipc, 1);
  sigemptyset (&sigs);
  sigaddset (&sigs, SIGTERM);
  sigaddset (&sigs, SIGINT);
  sigaddset (&sigs, SIGHUP);
  sigaddset (&sigs, SIGCHLD);
  sigprocmask (SIG_BLOCK, &sigs, NULL);
  f.sfd = signalfd (-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
  if (f.sfd == -1)
    fprintf (stderr, PROG ": signalfd: %s\n", strerror (errno));
  else if (prepare (&f) == 0 && start_fuse (&f) && start_tgtd (&f) &&
           tgt_configure (&f.t, &f.created) == 0 && write_ready (&f)) {
    fprintf (stderr, PROG ": %s on %s: LUN 1 is %s (the NBD export %s)\n",
             f.t.iqn, f.portal.shown, f.lun, f.nbd);
    while (keep_going (&f) && !reap (&f))
      poll (&(struct pollfd) { .fd = f.sfd, .events = POLLIN }, 1, -1);
  }
  /* Stopped as asked, or something failed. */
  rc = f.stopping ? 0 : 1;
  teardown (&f);
  if (f.secret)
    explicit_bzero (f.secret, strlen (f.secret));
  free (f.secret);
  free (f.addresses);
  free (f.names);
  free (f.mnt);
  free (f.lun);
  free (f.pidfile);
  free (f.ipc);
  free (f.ready);
  if (f.sfd >= 0)
    close (f.sfd);
  return rc;
}
