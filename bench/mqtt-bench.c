/* mqtt-bench: how fast the MQTT bridge publishes, for
 * bench/bench-mqtt.sh.
 *
 *   mqtt-bench bare|bridge --events N [MQTT OPTIONS]
 *   mqtt-bench latency --rate R --seconds S --sub-cert FILE --sub-key FILE
 *              [MQTT OPTIONS]
 *
 * The events are made up but shaped like a busy disk's: writes to logs
 * and documents, their metadata, creates, renames, truncates (about 340
 * bytes of JSON each, no data).
 *
 * bare: the baseline, a plain Paho MQTTAsync publisher: the events'
 * JSON and topics made beforehand, sent with the same window, QoS and
 * MQTT 5 properties as the bridge, counted through Paho's callbacks.
 * bridge: the same events given to the bridge's sink, which makes the
 * JSON and topics itself, until all are delivered.  Both print
 *   MODE QOS EVENTS SECONDS EVENTS-PER-SECOND
 * latency: events given to the bridge at R a second for S seconds, each
 * stamped with the time it is given; a subscriber in the same process
 * (another connection, another certificate) takes the time of arrival.
 * Prints
 *   latency QOS RECEIVED P50-MS P99-MS MAX-MS
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "options.h"

#define HOST "bench-host"
#define VM "bench-vm"
#define DISK "bench-disk"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static long acked, failed, inflight, received;
static bool up;
static double *latency;       /* ms, by arrival */
static long nlatency, cap;

static uint64_t
clock_ns (clockid_t c)
{
  struct timespec ts;

  clock_gettime (c, &ts);
  return (uint64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
quiet (void *opaque, const char *fmt, ...)
{
  va_list ap;

  (void) opaque;
  fputs ("mqtt-bench: ", stderr);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
}

/* Event i of a busy disk's stream; paths live in buf. */
static struct bw_event
make_event (long i, char *buf, size_t len)
{
  struct bw_event ev = {
    .id = 0x5f3a9c0100000000ull + i, .seq = 1000 + i, .txn = 1000 + i / 16,
    .time_ns = 1795435200123456789ull + i * 100000ull, .host = HOST, .vm = VM,
    .disk = DISK, .part = 1, .inode = 131072 + i % 1000,
  };
  static const enum bw_event_type mix[20] = {
    BW_EV_WRITE, BW_EV_WRITE, BW_EV_WRITE, BW_EV_WRITE, BW_EV_WRITE,
    BW_EV_WRITE, BW_EV_WRITE, BW_EV_WRITE, BW_EV_WRITE, BW_EV_WRITE,
    BW_EV_WRITE, BW_EV_WRITE, BW_EV_METADATA, BW_EV_METADATA,
    BW_EV_METADATA, BW_EV_CREATE, BW_EV_CREATE, BW_EV_RENAME,
    BW_EV_RENAME, BW_EV_TRUNCATE,
  };
  int n;

  ev.type = mix[i % 20];
  n = i % 3 == 0 ? snprintf (buf, len, "/var/log/app/worker-%ld.log", i % 97)
    : i % 3 == 1 ? snprintf (buf, len, "/home/user%ld/docs/report-%ld.txt",
                             i % 13, i % 211)
    : snprintf (buf, len, "/srv/data/shard-%ld/segment-%06ld.dat", i % 7,
                i % 5003);
  ev.path = buf;
  ev.path_len = n;
  ev.old_path = buf;
  ev.old_path_len = n;
  ev.offset = (i % 4096) * 4096;
  ev.length = 4096;
  ev.file_type = BW_FT_REG;
  ev.mode = 0100644;
  ev.uid = ev.gid = 1000;
  ev.field = "mtime";
  ev.old_value = (struct bw_value) { .is_time = true, .sec = 1795435100 };
  ev.new_value = (struct bw_value) { .is_time = true, .sec = 1795435200,
                                     .nsec = 123456789 };
  return ev;
}

static void
count (bool ok)
{
  pthread_mutex_lock (&lock);
  if (ok)
    acked++;
  else
    failed++;
  inflight--;
  pthread_cond_broadcast (&cond);
  pthread_mutex_unlock (&lock);
}

static void
ok3 (void *c, MQTTAsync_successData *r)
{
  (void) c;
  (void) r;
  count (true);
}

static void
ok5 (void *c, MQTTAsync_successData5 *r)
{
  (void) c;
  (void) r;
  count (true);
}

static void
bad3 (void *c, MQTTAsync_failureData *r)
{
  (void) c;
  (void) r;
  count (false);
}

static void
bad5 (void *c, MQTTAsync_failureData5 *r)
{
  (void) c;
  (void) r;
  count (false);
}

static void
connected (void *owner, MQTTProperties *props)
{
  (void) owner;
  (void) props;
  pthread_mutex_lock (&lock);
  up = true;
  pthread_cond_broadcast (&cond);
  pthread_mutex_unlock (&lock);
}

static void
not_connected (void *owner, int code, int reason, const char *message)
{
  (void) owner;
  fprintf (stderr, "mqtt-bench: cannot connect: %d %d %s\n", code, reason,
           message ? message : "");
  exit (1);
}

static int
arrived (void *ctx, char *topic, int len, MQTTAsync_message *m)
{
  const char *t = memmem (m->payload, m->payloadlen, "\"time_ns\":", 10);
  uint64_t now = clock_ns (CLOCK_REALTIME);

  (void) ctx;
  (void) len;
  pthread_mutex_lock (&lock);
  /* Events only: $status comes too. */
  if (t && nlatency < cap)
    latency[nlatency++] = (now - strtoull (t + 10, NULL, 10)) / 1e6;
  received += t != NULL;
  pthread_cond_broadcast (&cond);
  pthread_mutex_unlock (&lock);
  MQTTAsync_freeMessage (&m);
  MQTTAsync_free (topic);
  return 1;
}

/* A Paho client of conn, connected. */
static void
open_client (const struct bw_mqtt_conn *conn, struct bw_mqtt_client *cl,
             int window)
{
  char err[512];

  if (bw_mqtt_client_open (conn, cl, window + 16, err, sizeof err) == -1) {
    fprintf (stderr, "mqtt-bench: %s\n", err);
    exit (1);
  }
  cl->connected = connected;
  cl->failed = not_connected;
  cl->opts.maxInflight = window;
  MQTTAsync_setCallbacks (cl->handle, NULL, NULL, arrived, NULL);
  up = false;
  if (MQTTAsync_connect (cl->handle, &cl->opts) != MQTTASYNC_SUCCESS)
    not_connected (NULL, 0, 0, "MQTTAsync_connect");
  pthread_mutex_lock (&lock);
  while (!up)
    pthread_cond_wait (&cond, &lock);
  pthread_mutex_unlock (&lock);
}

static double
bare (const struct bw_mqtt_cfg *cfg, long n)
{
  struct bw_mqtt_client cl;
  char **topics = calloc (n, sizeof *topics), **json = calloc (n, sizeof *json);
  char *disk = bw_topic_disk (HOST, VM, DISK), path[128];
  enum bw_event_type *types = calloc (n, sizeof *types);
  uint64_t start;
  double secs;

  for (long i = 0; i < n; i++) {
    struct bw_event ev = make_event (i, path, sizeof path);

    topics[i] = bw_topic_event (disk, &ev);
    json[i] = bw_event_to_json (&ev, &cfg->data);
    types[i] = ev.type;
  }
  open_client (&cfg->conn, &cl, cfg->window);
  start = clock_ns (CLOCK_MONOTONIC);
  for (long i = 0; i < n; i++) {
    MQTTAsync_message msg = MQTTAsync_message_initializer;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    MQTTProperties props = MQTTProperties_initializer;

    pthread_mutex_lock (&lock);
    while (inflight >= cfg->window)
      pthread_cond_wait (&cond, &lock);
    inflight++;
    pthread_mutex_unlock (&lock);
    msg.payload = json[i];
    msg.payloadlen = strlen (json[i]);
    msg.qos = cfg->qos;
    if (cfg->conn.version == 5) {
      bw_mqtt_properties (types[i], 1000 + i, cfg->expiry, &props);
      msg.properties = props;
      ro.onSuccess5 = ok5;
      ro.onFailure5 = bad5;
    }
    else {
      ro.onSuccess = ok3;
      ro.onFailure = bad3;
    }
    if (MQTTAsync_sendMessage (cl.handle, topics[i], &msg, &ro)
        != MQTTASYNC_SUCCESS)
      count (false);
    MQTTProperties_free (&props);
  }
  pthread_mutex_lock (&lock);
  while (acked + failed < n)
    pthread_cond_wait (&cond, &lock);
  pthread_mutex_unlock (&lock);
  secs = (clock_ns (CLOCK_MONOTONIC) - start) / 1e9;
  if (failed)
    fprintf (stderr, "mqtt-bench: %ld messages failed\n", failed);
  MQTTAsync_disconnect (cl.handle, NULL);
  bw_mqtt_client_close (&cl);
  for (long i = 0; i < n; i++) {
    free (topics[i]);
    free (json[i]);
  }
  free (topics);
  free (json);
  free (types);
  free (disk);
  return secs;
}

static struct bw_mqtt_bridge *
open_bridge (const struct bw_mqtt_cfg *cfg)
{
  struct bw_mqtt_stats st;
  struct bw_mqtt_bridge *b;
  char err[512];

  b = bw_mqtt_open (cfg, err, sizeof err);
  if (b == NULL) {
    fprintf (stderr, "mqtt-bench: %s\n", err);
    exit (1);
  }
  do {
    nanosleep (&(struct timespec) { 0, 10000000 }, NULL);
    bw_mqtt_get_stats (b, &st);
  } while (!st.connected);
  return b;
}

static double
bridge (const struct bw_mqtt_cfg *cfg, long n)
{
  struct bw_mqtt_bridge *b = open_bridge (cfg);
  struct bw_sink *s = bw_mqtt_sink (b);
  struct bw_event *evs = calloc (n, sizeof *evs);
  char (*paths)[128] = calloc (n, sizeof *paths);
  uint64_t start;
  double secs;

  for (long i = 0; i < n; i++)
    evs[i] = make_event (i, paths[i], sizeof paths[i]);
  start = clock_ns (CLOCK_MONOTONIC);
  for (long i = 0; i < n; i++)
    s->emit (s, &evs[i]);
  if (!bw_mqtt_flush (b, 600000))
    fprintf (stderr, "mqtt-bench: not everything was delivered\n");
  secs = (clock_ns (CLOCK_MONOTONIC) - start) / 1e9;
  bw_mqtt_close (b, NULL);
  free (evs);
  free (paths);
  return secs;
}

static int
cmp (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

static void
measure_latency (const struct bw_mqtt_cfg *cfg, long rate, long seconds,
                 const char *sub_cert, const char *sub_key)
{
  struct bw_mqtt_conn sc = cfg->conn;
  struct bw_mqtt_client sub;
  struct bw_mqtt_bridge *b;
  struct bw_sink *s;
  long n = rate * seconds;
  char path[128], filter[64];
  uint64_t t0;
  struct timespec ts;

  latency = calloc (n, sizeof *latency);
  cap = latency ? n : 0;
  sc.cert_file = sub_cert;
  sc.key_file = sub_key;
  sc.client_id = "bench-subscriber";
  open_client (&sc, &sub, 100);
  snprintf (filter, sizeof filter, "blockwatch/+/%s/#", VM);
  MQTTAsync_subscribe (sub.handle, filter, cfg->qos, NULL);
  nanosleep (&(struct timespec) { 0, 300000000 }, NULL);
  b = open_bridge (cfg);
  s = bw_mqtt_sink (b);
  t0 = clock_ns (CLOCK_MONOTONIC);
  for (long i = 0; i < n; i++) {
    struct bw_event ev = make_event (i, path, sizeof path);
    uint64_t at = t0 + (uint64_t) i * 1000000000 / rate;

    ts = (struct timespec) { at / 1000000000, at % 1000000000 };
    clock_nanosleep (CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    ev.time_ns = clock_ns (CLOCK_REALTIME);
    s->emit (s, &ev);
  }
  bw_mqtt_flush (b, 60000);
  pthread_mutex_lock (&lock);
  for (int i = 0; i < 50 && received < n; i++) {
    pthread_mutex_unlock (&lock);
    nanosleep (&(struct timespec) { 0, 100000000 }, NULL);
    pthread_mutex_lock (&lock);
  }
  qsort (latency, nlatency, sizeof *latency, cmp);
  printf ("latency %d %ld %.3f %.3f %.3f\n", cfg->qos, received,
          nlatency ? latency[nlatency / 2] : 0.0,
          nlatency ? latency[nlatency * 99 / 100] : 0.0,
          nlatency ? latency[nlatency - 1] : 0.0);
  pthread_mutex_unlock (&lock);
  bw_mqtt_close (b, NULL);
  MQTTAsync_disconnect (sub.handle, NULL);
  bw_mqtt_client_close (&sub);
  free (latency);
}

int
main (int argc, char **argv)
{
  enum { OPT_EVENTS = OPT_MQTT_LAST, OPT_RATE, OPT_SECONDS, OPT_SUB_CERT,
         OPT_SUB_KEY };
  static const struct option opts[] = {
    MQTT_CONN_OPTIONS,
    MQTT_PUBLISH_OPTIONS,
    { "events", required_argument, NULL, OPT_EVENTS },
    { "rate", required_argument, NULL, OPT_RATE },
    { "seconds", required_argument, NULL, OPT_SECONDS },
    { "sub-cert", required_argument, NULL, OPT_SUB_CERT },
    { "sub-key", required_argument, NULL, OPT_SUB_KEY },
    { 0 }
  };
  struct bw_mqtt_cfg cfg;
  const char *mode, *sub_cert = NULL, *sub_key = NULL;
  long n = 100000, rate = 10000, seconds = 10;
  double secs;
  int c;

  bw_mqtt_cfg_init (&cfg);
  cfg.host = HOST;
  cfg.vm = VM;
  cfg.disk = DISK;
  cfg.stats_interval = 0;
  cfg.log = quiet;
  while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case OPT_EVENTS: n = atol (optarg); break;
    case OPT_RATE: rate = atol (optarg); break;
    case OPT_SECONDS: seconds = atol (optarg); break;
    case OPT_SUB_CERT: sub_cert = optarg; break;
    case OPT_SUB_KEY: sub_key = optarg; break;
    default:
      if (mqtt_publish_option (c, optarg, &cfg, "mqtt-bench") != 1)
        return 2;
    }
  }
  if (optind != argc - 1 || n < 1 || rate < 1 || seconds < 1) {
    fprintf (stderr, "usage: mqtt-bench bare|bridge|latency [OPTIONS]\n");
    return 2;
  }
  mode = argv[optind];
  cfg.buffer_messages = n > rate * seconds ? n : rate * seconds;
  if (strcmp (mode, "latency") == 0) {
    measure_latency (&cfg, rate, seconds, sub_cert, sub_key);
    return 0;
  }
  secs = strcmp (mode, "bare") == 0 ? bare (&cfg, n) : bridge (&cfg, n);
  printf ("%s %d %ld %.3f %.0f\n", mode, cfg.qos, n, secs, n / secs);
  return 0;
}
