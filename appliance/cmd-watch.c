/* blockwatch watch: the online introspector for one disk.
 *
 *   blockwatch watch [--json] [--data=POLICY] [--host H] [--vm V]
 *                    [--disk NAME] [--once] [--no-journal]
 *                    [--stats-file PATH] [--exact-metadata SIZE]
 *                    [--exact-data SIZE] [--model-max SIZE]
 *                    [--mqtt URI [MQTT OPTIONS]]
 *                    --storage URI unix:SOCKET
 *
 * Crawls the storage the proxy serves, named as the plugin's backend
 * is (a path or file:, nbd://..., iscsi://...; read only), then
 * listens for the plugin's tap (tap=unix:SOCKET) and turns its records
 * into events on stdout.  Reads go to the storage itself, so after
 * lost records the resync sees what the guest really wrote.
 * Records are acknowledged as soon as the engine has taken them: it
 * holds written data by reference (block ranges on the storage), never
 * the bytes.
 *
 * With --mqtt the events are published (mqtt-bridge) instead of
 * printed, or as well with --print or --json.  The options fill the
 * same struct bw_mqtt_cfg a configuration file will.
 *
 * --stats-file: counters for blockwatchd's metrics (watch-stats.h).
 *
 * --exact-metadata, --exact-data: how many bytes of the last handled
 * writes are kept, so that the disk reads as of the records handled
 * rather than as the storage now is; --model-max: a file system whose
 * model takes more is given up (memory-options.h).
 *
 * --run-mark FILE: a file that exists while a run holds events it may
 * not deliver; a run found it at its start, so the one before it died
 * (or stopped with events undelivered), and begins by saying so.
 *
 * --stdout-path PATH: stdout is the file at PATH; when that is rotated
 * (renamed, a new one made), the events follow to the new file.
 *
 * --record FILE: every record taken from the tap is appended to FILE,
 * a trace (docs/tap-format.md) from which `blockwatch replay` makes the
 * events again: the evidence, and what a report of a wrong event needs.
 *
 * SIGUSR1: the broker's certificate files were replaced at the same
 * paths (a rotation); the bridge reconnects to read them again, and
 * nothing else is disturbed (blockwatchd sends it at a reload).
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "engine/engine.h"
#include "event-sink.h"
#include "memory-options.h"
#include "options.h"
#include "tap/tap-client.h"
#include "trace-append.h"
#include "watch-stats.h"

static volatile sig_atomic_t stop;

static void
on_signal (int sig)
{
  stop = sig;
}

/* SIGUSR1, taken by a thread of its own with sigwait: the bridge's
 * functions are not for a signal handler, and a rotation must reach
 * the bridge during the crawl too.  Every thread blocks it (see
 * cmd_watch); so does blockwatchd for its children, so that one sent
 * before we are ready waits rather than kills.
 */
static void *
renew_on_signal (void *arg)
{
  struct bw_mqtt_bridge *bridge = arg;
  sigset_t set;
  int sig;

  sigemptyset (&set);
  sigaddset (&set, SIGUSR1);
  for (;;)
    if (sigwait (&set, &sig) == 0) {
      /* Ended by pthread_cancel: never while the bridge is locked. */
      pthread_setcancelstate (PTHREAD_CANCEL_DISABLE, NULL);
      fprintf (stderr, "blockwatch watch: SIGUSR1: reading the broker's "
               "certificate files again\n");
      bw_mqtt_renew (bridge);
      pthread_setcancelstate (PTHREAD_CANCEL_ENABLE, NULL);
    }
  return NULL;
}

/* How long the loops wait for input: the stats file's period. */
#define TICK_MS 1000

/* The items read from the ring and not yet handled.  They stay valid
 * until acknowledged.
 */
#define BATCH_MAX 16384
static struct tap_item batch[BATCH_MAX];
static size_t batch_n, batch_next;

/* --record: the records as they came, kept beside the events (the
 * evidence they were made from; `blockwatch replay` makes the events
 * again from the disk's image before the run).
 */
struct record_trace {
  FILE *f;
  const char *path;
};

/* One plugin connection; -1 when the stream breaks the tap's rules or
 * the record trace cannot be written.
 */
static int
serve (struct engine *e, struct printer *out, struct watch_stats *st, int lfd,
       const struct record_trace *rec)
{
  char err[256];
  struct tap_client *c = tap_client_accept (lfd, 5000, err, sizeof err);
  int ret = 0;

  if (c == NULL) {
    fprintf (stderr, "blockwatch watch: %s\n", err);
    return 0;
  }
  st->connects++;
  while (!stop) {
    struct pollfd pfd = { .fd = tap_client_fd (c), .events = POLLIN };
    bool closed, any = false, ended = false;
    uint64_t last = 0;
    int r;

    batch_n = batch_next = 0;
    while (batch_n < BATCH_MAX &&
           (r = tap_client_next (c, &batch[batch_n], err, sizeof err)) == 1)
      batch_n++;
    for (; batch_next < batch_n; ) {
      const struct tap_item *it = &batch[batch_next++];
      if (rec->f && trace_append_item (rec->f, it) == -1) {
        fprintf (stderr, "blockwatch watch: writing %s: %s\n", rec->path,
                 strerror (errno));
        ret = -1;
        goto out;
      }
      if (it->kind == TAP_ITEM_RECORD &&
          (it->rec.flags & TAP_F_PAYLOAD_LOST))
        fprintf (stderr, "blockwatch watch: record seq %llu: the bytes of "
                 "this write are lost (reported as an overflow): %s\n",
                 (unsigned long long) it->rec.seq, tap_client_loss_reason (c));
      if (engine_item (e, it, err, sizeof err) == -1) {
        fprintf (stderr, "blockwatch watch: %s\n", err);
        ret = -1;
        goto out;
      }
      if (it->kind == TAP_ITEM_RECORD) {
        any = true;
        last = it->rec.seq;
        ended |= it->rec.type == TAP_END;
        st->records++;
        st->seq = last;
      }
    }
    if (batch_n == BATCH_MAX)
      r = 1;                  /* more may be waiting: no poll first */
    if (r == -1) {
      fprintf (stderr, "blockwatch watch: bad record from the plugin: %s\n",
               err);
      ret = -1;
      break;
    }
    printer_flush (out);
    /* Acknowledged records are in the trace: the plugin will not send
     * them again.
     */
    if (rec->f && fflush (rec->f) == EOF) {
      fprintf (stderr, "blockwatch watch: writing %s: %s\n", rec->path,
               strerror (errno));
      ret = -1;
      break;
    }
    if (any && tap_client_ack (c, last) == -1)
      break;
    if (ended)
      break;
    st->shadow_bytes = tap_client_shadow_resident (c);
    watch_stats_tick (st);
    if (r == 1 || poll (&pfd, 1, TICK_MS) != 1)
      continue;
    if (tap_client_receive (c, &closed, err, sizeof err) == -1) {
      if (!closed)
        fprintf (stderr, "blockwatch watch: %s\n", err);
      break;
    }
  }
 out:
  tap_client_close (c);
  return ret;
}

/* --run-mark, at the start of a run (its crawl done): an earlier run
 * left the file, so events it made may never have been delivered, and
 * the events from here on are not known to follow on from those that
 * were: an overflow (lost 0) first, a resync at the next barrier.
 * Then the file is this run's, until it has delivered everything.
 */
static int
run_mark_begin (const char *path, struct engine *e)
{
  int fd;

  if (access (path, F_OK) == 0) {
    fprintf (stderr, "blockwatch watch: %s: an earlier run did not "
             "deliver every event it made: reporting an overflow\n", path);
    engine_lost_before (e);
  }
  fd = open (path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd == -1) {
    fprintf (stderr, "blockwatch watch: --run-mark=%s: %s\n", path,
             strerror (errno));
    return -1;
  }
  close (fd);
  return 0;
}

/* Whether every event made reached where it goes: the broker took (or
 * refused, or was not to get) each one, and the printed ones were
 * written.
 */
static bool
delivered_all (bool published, const struct bw_mqtt_stats *m, bool printed)
{
  return printed &&
         (!published ||
          (m->dropped == 0 &&
           m->published + m->filtered + m->refused == m->events));
}

static int
usage (void)
{
  fprintf (stderr, "usage: blockwatch watch [--json] [--data=none|hash|bytes[:N]]"
           " [--host H] [--vm V] [--disk NAME] [--once] [--no-journal]\n"
           "       [--stats-file PATH] [--run-mark FILE] [--record FILE]\n"
           "       [--stdout-path PATH]\n"
           "       [--exact-metadata SIZE] [--exact-data SIZE] [--model-max SIZE]"
           " [--reconnect-timeout S]\n"
           "       [--mqtt URI [MQTT OPTIONS]]\n"
           "       --storage URI unix:SOCKET\n"
           "  URI: the storage behind the proxy, as its backend names it: a "
           "path or file:PATH,\n"
           "  nbd://, nbds://, nbd+unix://, nbds+unix://, or "
           "iscsi://[USER[%%PASSWORD]@]HOST[:PORT]/IQN/LUN\n"
           "  --reconnect-timeout S  NBD storage: how long a lost server is "
           "tried again\n"
           "                         (0 to %u s, default %u)\n"
           MEMORY_USAGE
           "MQTT options (publish the events; topics blockwatch/HOST/VM/DISK/"
           "..., --vm and --disk needed):\n"
           MQTT_CONN_USAGE MQTT_PUBLISH_USAGE
           "  --data-for GLOB=POLICY       write data of those paths "
           "(else --data)\n"
           "  --print                      print the events too (so does "
           "--json)\n", BW_RECONNECT_MAX_S, BW_RECONNECT_DEFAULT_S);
  return 2;
}

enum { OPT_PRINT = OPT_MQTT_LAST, OPT_DATA_FOR, OPT_RUN_MARK, OPT_RECORD,
       OPT_RECONNECT, OPT_STDOUT_PATH };

/* --reconnect-timeout S, as the plugin's: -1 (said) if it is not one. */
static int
reconnect_timeout (const char *arg, unsigned *secs)
{
  char *end;
  unsigned long v;

  errno = 0;
  v = strtoul (arg, &end, 10);
  if (*arg < '0' || *arg > '9' || *end || errno || v > BW_RECONNECT_MAX_S) {
    fprintf (stderr, "blockwatch watch: --reconnect-timeout %s: expected "
             "seconds from 0 to %u\n", arg, BW_RECONNECT_MAX_S);
    return -1;
  }
  *secs = v;
  return 0;
}

/* --data-for GLOB=POLICY; -1 (said) if it is not that. */
static int
data_for (const char *arg, struct bw_mqtt_cfg *m)
{
  struct bw_data_policy_cfg pol = { 0 };
  const char *eq = strrchr (arg, '=');
  char *glob;
  int r;

  if (eq == NULL || parse_data_policy (eq + 1, &pol) == -1 ||
      (glob = strndup (arg, eq - arg)) == NULL) {
    fprintf (stderr, "blockwatch watch: --data-for %s: expected GLOB=none|"
             "hash|bytes[:N]\n", arg);
    return -1;
  }
  r = bw_filter_add_data (&m->filter, glob, &pol);
  free (glob);
  if (r == -1)
    fprintf (stderr, "blockwatch watch: --data-for %s: the glob starts with "
             "'/'\n", arg);
  return r;
}

/* The most write data any policy wants (engine_cfg.data_max). */
static uint64_t
data_max (const struct printer *p, bool printing,
          const struct bw_mqtt_cfg *m, bool publishing)
{
  uint64_t max = printing ? data_needed (&p->policy) : 0, n;

  if (publishing) {
    n = data_needed (&m->data);
    max = n > max ? n : max;
    for (size_t i = 0; i < m->filter.n_data; i++) {
      n = data_needed (&m->filter.data[i].policy);
      max = n > max ? n : max;
    }
  }
  return max;
}

/* Publishing wants names for the topics: the host's own by default. */
static int
labels (struct engine_cfg *cfg, char *hostname, size_t len)
{
  if (cfg->host == NULL) {
    if (gethostname (hostname, len) == -1)
      return -1;
    hostname[len - 1] = '\0';
    cfg->host = hostname;
  }
  if (cfg->vm == NULL || cfg->disk == NULL) {
    fprintf (stderr, "blockwatch watch: --mqtt needs --vm and --disk (the "
             "topics' names)\n");
    return -1;
  }
  return 0;
}

int
cmd_watch (int argc, char **argv)
{
  static const struct option opts[] = {
    { "json", no_argument, NULL, 'j' },
    { "data", required_argument, NULL, 'd' },
    { "host", required_argument, NULL, 'H' },
    { "vm", required_argument, NULL, 'V' },
    { "disk", required_argument, NULL, 'D' },
    { "storage", required_argument, NULL, 's' },
    { "once", no_argument, NULL, '1' },
    { "no-journal", no_argument, NULL, 'J' },
    { "stats-file", required_argument, NULL, 'S' },
    { "help", no_argument, NULL, 'h' },
    MQTT_CONN_OPTIONS,
    MQTT_PUBLISH_OPTIONS,
    { "print", no_argument, NULL, OPT_PRINT },
    { "data-for", required_argument, NULL, OPT_DATA_FOR },
    { "run-mark", required_argument, NULL, OPT_RUN_MARK },
    { "record", required_argument, NULL, OPT_RECORD },
    { "stdout-path", required_argument, NULL, OPT_STDOUT_PATH },
    { "reconnect-timeout", required_argument, NULL, OPT_RECONNECT },
    MEMORY_OPTIONS,
    { 0 }
  };
  struct printer p;
  struct tee tee;
  struct bw_mqtt_cfg mcfg;
  struct bw_mqtt_bridge *bridge = NULL;
  struct bw_mqtt_stats mst = { 0 };
  struct watch_stats st;
  struct engine_cfg cfg = {
    .log = log_stderr, .opaque = (void *) "blockwatch watch",
    .crawl_progress = watch_stats_crawl, .crawl_opaque = &st,
    .ahead = true,
  };
  struct sigaction sa = { .sa_handler = on_signal };
  const char *storage = NULL, *stats_file = NULL, *run_mark = NULL;
  struct record_trace rec = { 0 };
  struct bw_reader *disk;
  struct engine *e;
  char err[512], hostname[256];
  bool once = false, print = false, data_given = false, marked = false;
  bool printed = true;
  unsigned reconnect_s = BW_RECONNECT_DEFAULT_S;
  pthread_t renewer;
  bool renewing = false;
  sigset_t usr1;
  int c, r, lfd, ret = 0;

  /* Before any thread starts: they all inherit the mask. */
  sigemptyset (&usr1);
  sigaddset (&usr1, SIGUSR1);
  pthread_sigmask (SIG_BLOCK, &usr1, NULL);

  printer_init (&p, stdout);
  bw_mqtt_cfg_init (&mcfg);
  mcfg.log = log_stderr;
  mcfg.opaque = (void *) "blockwatch watch";
  while ((c = getopt_long (argc, argv, "jd:H:V:D:s:1JS:h", opts, NULL)) != -1) {
    switch (c) {
    case 'j': p.json = print = true; break;
    case 'd':
      if (parse_data_policy (optarg, &p.policy) == -1) {
        fprintf (stderr, "blockwatch watch: --data=%s: expected none, hash, "
                 "bytes or bytes:N\n", optarg);
        goto usage;
      }
      data_given = true;
      break;
    case 'H': cfg.host = optarg; break;
    case 'V': cfg.vm = optarg; break;
    case 'D': cfg.disk = optarg; break;
    case 's': storage = optarg; break;
    case '1': once = true; break;
    case 'J': cfg.no_journal = true; break;
    case 'S': stats_file = optarg; break;
    case 'h': usage (); bw_filter_free (&mcfg.filter); return 0;
    case OPT_PRINT: print = true; break;
    case OPT_RUN_MARK: run_mark = optarg; break;
    case OPT_RECORD: rec.path = optarg; break;
    case OPT_STDOUT_PATH: printer_follow (&p, optarg); break;
    case OPT_RECONNECT:
      if (reconnect_timeout (optarg, &reconnect_s) == -1)
        goto usage;
      break;
    case OPT_DATA_FOR:
      if (data_for (optarg, &mcfg) == -1)
        goto usage;
      break;
    default:
      r = memory_option (c, optarg, &cfg, "blockwatch watch");
      if (r == -1 ||
          (r == 0 &&
           mqtt_publish_option (c, optarg, &mcfg, "blockwatch watch") != 1))
        goto usage;
    }
  }
  if (storage == NULL || optind != argc - 1 ||
      strncmp (argv[optind], "unix:", 5) != 0)
    goto usage;
  if (mcfg.conn.uri == NULL)
    print = true;
  else {
    if (labels (&cfg, hostname, sizeof hostname) == -1)
      goto usage;
    mcfg.host = cfg.host;
    mcfg.vm = cfg.vm;
    mcfg.disk = cfg.disk;
    /* Published writes carry data only when asked (--data, --data-for). */
    if (data_given)
      mcfg.data = p.policy;
  }

  disk = bw_reader_open_uri (storage, false, reconnect_s, err, sizeof err);
  if (disk == NULL) {
    fprintf (stderr, "blockwatch watch: %s\n", err);
    bw_filter_free (&mcfg.filter);
    return 1;
  }
  if (mcfg.conn.uri) {
    bridge = bw_mqtt_open (&mcfg, err, sizeof err);
    if (bridge == NULL) {
      fprintf (stderr, "blockwatch watch: %s\n", err);
      bw_reader_close (disk);
      bw_filter_free (&mcfg.filter);
      return 1;
    }
    renewing = pthread_create (&renewer, NULL, renew_on_signal, bridge) == 0;
    if (!renewing)
      fprintf (stderr, "blockwatch watch: no thread for SIGUSR1: the "
               "certificate files are read again only at a reconnection\n");
  }
  if (bridge && print)
    tee_init (&tee, &p.sink, bw_mqtt_sink (bridge));
  /* Events are counted for the stats file on their way out. */
  if (watch_stats_open (&st, stats_file,
                        bridge && print ? &tee.sink
                        : bridge ? bw_mqtt_sink (bridge) : &p.sink,
                        bridge, err, sizeof err) == -1) {
    fprintf (stderr, "blockwatch watch: %s\n", err);
    ret = 1;
    goto close_bridge;
  }
  if (print)
    st.unwritten = &p.unwritten;
  cfg.sink = &st.sink;
  cfg.data_max = data_max (&p, print, &mcfg, bridge != NULL);
  e = engine_open (disk, &cfg, err, sizeof err);
  if (e == NULL) {
    fprintf (stderr, "blockwatch watch: %s\n", err);
    ret = 1;
    goto close_stats;
  }
  st.crawling = false;
  st.engine = e;
  if (run_mark) {
    if (run_mark_begin (run_mark, e) == -1) {
      engine_close (e);
      ret = 1;
      goto close_stats;
    }
    marked = true;
  }
  if (rec.path) {
    rec.f = fopen (rec.path, "ab");
    if (rec.f == NULL) {
      fprintf (stderr, "blockwatch watch: --record=%s: %s\n", rec.path,
               strerror (errno));
      engine_close (e);
      ret = 1;
      goto close_stats;
    }
    setvbuf (rec.f, NULL, _IOFBF, 1 << 20);
  }
  lfd = tap_client_listen (argv[optind] + 5, err, sizeof err);
  if (lfd == -1) {
    fprintf (stderr, "blockwatch watch: %s\n", err);
    engine_close (e);
    ret = 1;
    goto close_record;
  }
  /* No SA_RESTART: a signal must interrupt poll. */
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);
  signal (SIGPIPE, SIG_IGN);
  fprintf (stderr, "blockwatch watch: ready on %s\n", argv[optind] + 5);

  while (!stop) {
    struct pollfd pfd = { .fd = lfd, .events = POLLIN };
    watch_stats_tick (&st);
    if (poll (&pfd, 1, TICK_MS) != 1)
      continue;
    if (serve (e, &p, &st, lfd, &rec) == -1) {
      ret = 3;
      break;
    }
    if (once)
      break;
  }
  engine_finish (e);
  printed = printer_flush (&p);
  close (lfd);
  unlink (argv[optind] + 5);
  engine_close (e);
 close_record:
  if (rec.f && fclose (rec.f) == EOF) {
    fprintf (stderr, "blockwatch watch: writing %s: %s\n", rec.path,
             strerror (errno));
    ret = ret ? ret : 1;
  }
 close_stats:
  watch_stats_close (&st);
 close_bridge:
  if (renewing) {
    pthread_cancel (renewer);
    pthread_join (renewer, NULL);
  }
  if (bridge) {
    char line[256];
    bw_mqtt_close (bridge, &mst);
    bw_mqtt_stats_text (&mst, line, sizeof line);
    fprintf (stderr, "blockwatch watch: mqtt: %s\n", line);
  }
  fprintf (stderr, "blockwatch watch: %llu events\n",
           print ? p.events : (unsigned long long) mst.events);
  if (p.unwritten)
    fprintf (stderr, "blockwatch watch: %llu events could not be written\n",
             p.unwritten);
  if (marked && delivered_all (bridge != NULL, &mst, printed))
    unlink (run_mark);
  printer_free (&p);
  bw_reader_close (disk);
  bw_filter_free (&mcfg.filter);
  return ret;

 usage:
  printer_free (&p);
  bw_filter_free (&mcfg.filter);
  return usage ();
}
