/* blockwatch sub: follow file events over MQTT.
 *
 *   blockwatch sub --mqtt URI [TLS OPTIONS] [--json] [--disk GLOB]
 *                  [--part N] [--type GLOB]... [--count N] [--timeout S]
 *                  [--session SECONDS --client-id ID] CHANNEL...
 *
 * A channel is HOST:VM or HOST:VM:/PATH, with globs anywhere ('*' in a
 * name, "**" for any depth of directories), say every log of the web
 * VMs of a host: kvm-07:web-?:/var/log/[*].log (without the brackets).
 * Each channel is subscribed with the narrowest MQTT filters it allows
 * (topic.h); what the filters let through beyond the channel is dropped
 * here, as are duplicates (QoS 1 redelivery, overlapping channels).
 * Each event is one line: what happened to which file, the byte range
 * and the data as text for writes, old -> new for metadata, like a
 * tail -f of the files; or its JSON with --json.
 *
 * --session asks the broker to keep the subscription and queue the
 * events (QoS 1) while the subscriber is away, a broker restart included
 * when the broker persists its state: without it, what is published
 * before a reconnection has subscribed again is not received.  A
 * reconnection that finds no session (a broker restarted without its
 * state, a session expired) lost what was published meanwhile: that is
 * said on stderr, and the exit status is 4.
 *
 * Events that cannot be written (stdout a file on a full disk) are said
 * on stderr and counted, an overflow event stands where they are
 * missing once stdout takes lines again (event-sink.h), and the exit
 * status is 5.
 *
 * SIGUSR1: the TLS files were renewed (as for blockwatch watch): the
 * subscriber reconnects at once, presenting them, rather than at the
 * next connection loss, which may come after the old certificate
 * expired or was revoked.  With --session the broker queues what comes
 * meanwhile; without, the events published during the reconnection are
 * not received, and that is said.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "event-print.h"
#include "event-sink.h"
#include "options.h"

#define CMD "blockwatch sub"
#define RECENT 256            /* ids remembered to drop duplicates */

static volatile sig_atomic_t stop, renew;

static void
on_signal (int sig)
{
  if (sig == SIGUSR1)
    renew = 1;
  else
    stop = sig;
}

struct sub {
  const struct bw_mqtt_conn *conn;
  struct bw_mqtt_client cl;
  struct bw_channel *ch;
  size_t nch;
  char **types;               /* event type globs; none: every type */
  size_t ntypes;
  char *filters[64];
  int qos[64];
  int nfilters;
  bool json;
  struct printer out;         /* stdout, under the lock */
  bool session;               /* --session: the broker keeps one for us */
  long count;                 /* stop after so many events; 0: never */

  pthread_mutex_t lock;
  pthread_cond_t cond;
  /* CONNECTING: the first connect; DOWN: lost, the next try at
   * next_try; RETRYING: a connect after a loss.
   */
  enum { CONNECTING, UP, DOWN, RETRYING, FAILED } state;
  long connects;              /* connections made */
  time_t down_since, next_try;
  int backoff;                /* seconds to the next try after a failed one */
  bool session_lost;          /* a reconnection found no session */
  int fail_code, fail_reason;
  char fail_msg[256];
  long printed;
  uint64_t recent[RECENT];
  unsigned nrecent;
};

/* Lock held: whether the event was seen already. */
static bool
seen (struct sub *s, uint64_t id)
{
  for (unsigned i = 0; i < RECENT && i < s->nrecent; i++)
    if (s->recent[i] == id)
      return true;
  s->recent[s->nrecent++ % RECENT] = id;
  return false;
}

static bool
wanted (const struct sub *s, const struct bw_event *ev)
{
  bool type = s->ntypes == 0;

  for (size_t i = 0; i < s->ntypes && !type; i++)
    type = bw_glob_name (s->types[i], bw_event_type_name (ev->type));
  for (size_t i = 0; type && i < s->nch; i++)
    if (bw_channel_match (&s->ch[i], ev))
      return true;
  return false;
}

/* A disk's $status or $stats (HOST:VM channels get them with the
 * events): whether the message was one.  A disk of a channel that goes
 * online or offline is said on stderr (its events stop while it is
 * offline); its numbers are not events, and go unsaid.
 */
static bool
disk_topic (const struct sub *s, const char *topic, MQTTAsync_message *m)
{
  struct bw_topic t;
  const char *last = strrchr (topic, '/');
  bool status, mine = false;

  /* Events are most of what comes: only a last level of $status or
   * $stats (no name can make one: a '$' beginning a level is escaped)
   * is worth parsing.
   */
  if (last == NULL || (strcmp (last, "/$status") != 0 &&
                       strcmp (last, "/$stats") != 0) ||
      bw_topic_parse (topic, &t) == -1)
    return false;
  if (t.kind != BW_TOPIC_STATUS && t.kind != BW_TOPIC_STATS) {
    bw_topic_free (&t);
    return false;
  }
  status = t.kind == BW_TOPIC_STATUS;
  for (size_t i = 0; status && !mine && i < s->nch; i++)
    mine = bw_glob_name (s->ch[i].host, t.host) &&
           bw_glob_name (s->ch[i].vm, t.vm) &&
           bw_glob_name (s->ch[i].disk, t.disk);
  if (mine) {
    size_t n = m->payloadlen;
    const char *p = m->payload;
    bool known = (n == 6 && memcmp (p, "online", 6) == 0) ||
                 (n == 7 && memcmp (p, "offline", 7) == 0);
    char *h = bw_escape_bytes (t.host, strlen (t.host));
    char *v = bw_escape_bytes (t.vm, strlen (t.vm));
    char *d = bw_escape_bytes (t.disk, strlen (t.disk));
    fprintf (stderr, CMD ": %s:%s disk %s is %.*s\n", h ? h : "?",
             v ? v : "?", d ? d : "?", known ? (int) n : 7,
             known ? p : "unknown");
    free (h);
    free (v);
    free (d);
  }
  bw_topic_free (&t);
  return true;
}

/* Lock held: HOST:VM and the event as event_print says it. */
static void
print_line (struct sub *s, const struct bw_event *ev)
{
  char *line = NULL;
  size_t n = 0;
  FILE *f = open_memstream (&line, &n);

  if (f == NULL) {
    fprintf (stderr, CMD ": %s\n", strerror (errno));
    exit (1);
  }
  fprintf (f, "%s:%s ", ev->host ?: "?", ev->vm ?: "?");
  event_print (f, ev);
  if (fclose (f) == EOF) {
    fprintf (stderr, CMD ": %s\n", strerror (errno));
    exit (1);
  }
  printer_line (&s->out, ev, line, n && line[n - 1] == '\n' ? n - 1 : n);
  free (line);
}

static int
arrived (void *ctx, char *topic, int topiclen, MQTTAsync_message *m)
{
  struct sub *s = ctx;
  struct bw_parsed_event pe;
  char err[128];

  (void) topiclen;
  if (disk_topic (s, topic, m))
    ;
  else if (bw_event_from_json (m->payload, m->payloadlen, &pe, err,
                               sizeof err) == -1)
    fprintf (stderr, CMD ": ignoring a message on %s: %s\n", topic, err);
  else {
    pthread_mutex_lock (&s->lock);
    if (wanted (s, &pe.ev) && !seen (s, pe.ev.id) &&
        (s->count == 0 || s->printed < s->count)) {
      if (s->json)
        printer_line (&s->out, &pe.ev, m->payload, m->payloadlen);
      else
        print_line (s, &pe.ev);
      printer_flush (&s->out);
      s->printed++;
      pthread_cond_broadcast (&s->cond);
    }
    pthread_mutex_unlock (&s->lock);
    bw_parsed_event_free (&pe);
  }
  MQTTAsync_freeMessage (&m);
  MQTTAsync_free (topic);
  return 1;
}

/* A refused subscription is the broker's ACL speaking: say so. */
static void
granted (struct sub *s, int i, int code)
{
  if (code >= 0x80)
    fprintf (stderr, CMD ": the broker refused the subscription to %s%s%s\n",
             s->filters[i], s->conn->version == 5 ? ": " : "",
             s->conn->version == 5 ? MQTTReasonCode_toString (code) : "");
}

static void
subscribed (void *ctx, MQTTAsync_successData *r)
{
  struct sub *s = ctx;

  for (int i = 0; i < s->nfilters; i++)
    granted (s, i, s->nfilters == 1 ? r->alt.qos : r->alt.qosList[i]);
}

static void
subscribed5 (void *ctx, MQTTAsync_successData5 *r)
{
  struct sub *s = ctx;

  /* Paho fills the list only for more than one filter. */
  if (s->nfilters == 1)
    granted (s, 0, r->reasonCode);
  for (int i = 0; s->nfilters > 1 && i < r->alt.sub.reasonCodeCount &&
                  i < s->nfilters; i++)
    granted (s, i, r->alt.sub.reasonCodes[i]);
}

static void
not_subscribed (void *ctx, MQTTAsync_failureData *r)
{
  (void) ctx;
  fprintf (stderr, CMD ": subscribing failed: %s\n",
           r && r->message ? r->message : "no reason given");
}

static void
not_subscribed5 (void *ctx, MQTTAsync_failureData5 *r)
{
  (void) ctx;
  fprintf (stderr, CMD ": subscribing failed: %s\n",
           r ? MQTTReasonCode_toString (r->reasonCode) : "no reason given");
}

/* Lock held: a connection without the session asked for.  The first
 * one of a client id has none, rightly, but the broker cannot tell a
 * new id from one whose session it lost: said, not counted a loss.
 */
static void
no_session (struct sub *s)
{
  char since[64];
  struct tm tm;

  if (s->connects == 0) {
    fprintf (stderr, CMD ": the broker had no session for %s (a new client "
             "ID, or one it lost): events before now are not received\n",
             s->cl.client_id);
    return;
  }
  strftime (since, sizeof since, "%Y-%m-%d %H:%M:%S %z",
            localtime_r (&s->down_since, &tm));
  fprintf (stderr, CMD ": the broker kept no session for %s: events "
           "published while disconnected (since %s) were not received\n",
           s->cl.client_id, since);
  s->session_lost = true;
}

/* Every connection, the first and each reconnection: with a clean
 * session the subscriptions are made again.
 */
static void
connected (void *owner, MQTTProperties *props)
{
  struct sub *s = owner;
  MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
  int rc;

  (void) props;
  pthread_mutex_lock (&s->lock);
  if (s->session && !s->cl.session_present)
    no_session (s);
  pthread_mutex_unlock (&s->lock);
  ro.context = s;
  if (s->conn->version == 5) {
    ro.onSuccess5 = subscribed5;
    ro.onFailure5 = not_subscribed5;
  }
  else {
    ro.onSuccess = subscribed;
    ro.onFailure = not_subscribed;
  }
  rc = MQTTAsync_subscribeMany (s->cl.handle, s->nfilters, s->filters, s->qos,
                                &ro);
  if (rc != MQTTASYNC_SUCCESS)
    fprintf (stderr, CMD ": cannot subscribe: %s\n", MQTTAsync_strerror (rc));
  pthread_mutex_lock (&s->lock);
  s->state = UP;
  s->connects++;
  pthread_cond_broadcast (&s->cond);
  pthread_mutex_unlock (&s->lock);
}

/* Lock held: the next try, from 1 s after a loss up to 30 s apart. */
static void
retry_later (struct sub *s)
{
  s->state = DOWN;
  s->next_try = time (NULL) + s->backoff;
  s->backoff = s->backoff * 2 < 30 ? s->backoff * 2 : 30;
}

/* The first connect failing ends the command; a reconnection is tried
 * again.
 */
static void
connect_failed (void *owner, int code, int reason, const char *message)
{
  struct sub *s = owner;

  pthread_mutex_lock (&s->lock);
  if (s->state == CONNECTING) {
    s->state = FAILED;
    s->fail_code = code;
    s->fail_reason = reason;
    snprintf (s->fail_msg, sizeof s->fail_msg, "%s", message ?: "");
  }
  else if (s->state == RETRYING)
    retry_later (s);
  pthread_cond_broadcast (&s->cond);
  pthread_mutex_unlock (&s->lock);
}

static void
lost (void *ctx, char *cause)
{
  struct sub *s = ctx;

  fprintf (stderr, CMD ": connection lost%s%s; reconnecting\n",
           cause ? ": " : "", cause ? cause : "");
  pthread_mutex_lock (&s->lock);
  s->down_since = time (NULL);
  s->backoff = 1;
  retry_later (s);
  pthread_cond_broadcast (&s->cond);
  pthread_mutex_unlock (&s->lock);
}

/* Lock held: a reconnection when its time has come.  Ours, not Paho's
 * automaticReconnect: Paho calls the connect's onSuccess, which has the
 * CONNACK's session present flag, for the first connection only.
 */
static void
reconnect (struct sub *s)
{
  int rc;

  if (s->state != DOWN || time (NULL) < s->next_try)
    return;
  s->state = RETRYING;
  pthread_mutex_unlock (&s->lock);
  rc = MQTTAsync_connect (s->cl.handle, &s->cl.opts);
  pthread_mutex_lock (&s->lock);
  if (rc != MQTTASYNC_SUCCESS && s->state == RETRYING)
    retry_later (s);
}

/* Lock held: SIGUSR1.  A connection being made reads the files anyway;
 * one that is up is closed and made again (reconnect), as after a loss
 * but without waiting.
 */
static void
renew_connection (struct sub *s)
{
  MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
  MQTTAsync_disconnectOptions d5 = MQTTAsync_disconnectOptions_initializer5;
  int rc;

  if (s->state != UP) {
    fprintf (stderr, CMD ": SIGUSR1: the next connection reads the TLS "
             "files\n");
    return;
  }
  fprintf (stderr, CMD ": SIGUSR1: reconnecting with the TLS files as they "
           "are now%s\n", s->session ? "" : " (without --session, events "
           "published meanwhile are not received)");
  if (s->conn->version == 5)
    d = d5;
  d.timeout = 1000;
  pthread_mutex_unlock (&s->lock);
  rc = MQTTAsync_disconnect (s->cl.handle, &d);
  for (int i = 0; rc == MQTTASYNC_SUCCESS && i < 40 &&
                  MQTTAsync_isConnected (s->cl.handle); i++)
    nanosleep (&(struct timespec) { 0, 50000000 }, NULL);
  pthread_mutex_lock (&s->lock);
  if (rc != MQTTASYNC_SUCCESS)
    fprintf (stderr, CMD ": disconnecting: %s\n", MQTTAsync_strerror (rc));
  /* (A loss reported meanwhile has done the same.) */
  if (s->state == UP) {
    s->down_since = time (NULL);
    s->state = DOWN;
    s->next_try = 0;
    s->backoff = 1;
  }
}

/* The filters of every channel, each once. */
static int
add_filters (struct sub *s, int qos)
{
  char *f[2];
  int n, i, j;

  for (size_t c = 0; c < s->nch; c++) {
    n = bw_channel_filters (&s->ch[c], f);
    if (n == -1)
      return -1;
    for (i = 0; i < n; i++) {
      for (j = 0; j < s->nfilters && strcmp (s->filters[j], f[i]); j++)
        ;
      if (j < s->nfilters || s->nfilters == 64) {
        free (f[i]);
        continue;
      }
      s->qos[s->nfilters] = qos;
      s->filters[s->nfilters++] = f[i];
    }
  }
  return 0;
}

static int
usage (void)
{
  fprintf (stderr, "usage: " CMD " --mqtt URI [OPTIONS] CHANNEL...\n"
           "  CHANNEL: HOST:VM or HOST:VM:/PATH, globs allowed: '*' in a "
           "name, '**' for\n"
           "  any depth (kvm-07:web-*:/var/log/*)\n"
           MQTT_CONN_USAGE
           "  --json                       the events' JSON, one per line\n"
           "  --disk GLOB, --part N        of these disks and partitions only\n"
           "  --type GLOB                  of these event types only\n"
           "  --count N                    exit after N events\n"
           "  --timeout SECONDS            exit after that long (status 3 if "
           "--count\n"
           "                               events did not come)\n"
           "  --session SECONDS            a session the broker keeps while we "
           "are away\n"
           "                               (MQTT 5: for SECONDS; 3.1.1: as the "
           "broker\n"
           "                               keeps them); needs --client-id; "
           "exit status 4\n"
           "                               if a reconnection found it lost "
           "(events missed)\n"
           "  Exit status 5: events could not be written to stdout (said "
           "there too).\n");
  return 2;
}

enum { OPT_JSON = OPT_MQTT_LAST, OPT_DISK, OPT_PART, OPT_COUNT,
       OPT_TIMEOUT, OPT_SESSION };

static void
cleanup (struct sub *s)
{
  for (size_t i = 0; i < s->nch; i++)
    bw_channel_free (&s->ch[i]);
  free (s->ch);
  free (s->types);
  for (int i = 0; i < s->nfilters; i++)
    free (s->filters[i]);
  printer_free (&s->out);
}

int
cmd_sub (int argc, char **argv)
{
  static const struct option opts[] = {
    MQTT_CONN_OPTIONS,
    { "json", no_argument, NULL, OPT_JSON },
    { "disk", required_argument, NULL, OPT_DISK },
    { "part", required_argument, NULL, OPT_PART },
    { "type", required_argument, NULL, OPT_TYPE },
    { "count", required_argument, NULL, OPT_COUNT },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { "session", required_argument, NULL, OPT_SESSION },
    { "help", no_argument, NULL, 'h' },
    { 0 }
  };
  struct bw_mqtt_conn conn;
  struct sub s = { .conn = &conn, .lock = PTHREAD_MUTEX_INITIALIZER,
                   .cond = PTHREAD_COND_INITIALIZER };
  struct sigaction sa = { .sa_handler = on_signal };
  const char *disk = NULL, **types;
  long part = -1, timeout = 0, session = -1;
  MQTTProperties props = MQTTProperties_initializer;
  int qos = 1, c, r, ret = 0;
  char err[512];
  time_t end;

  bw_mqtt_conn_init (&conn);
  printer_init (&s.out, stdout);
  types = calloc (argc, sizeof *types);
  if (types == NULL)
    return 1;
  s.types = (char **) types;
  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case OPT_JSON: s.json = s.out.json = true; break;
    case OPT_DISK: disk = optarg; break;
    case OPT_TYPE: types[s.ntypes++] = optarg; break;
    case OPT_PART:
      if ((part = mqtt_number (optarg, "--part", CMD)) == -1)
        goto usage;
      break;
    case OPT_COUNT:
      if ((s.count = mqtt_number (optarg, "--count", CMD)) == -1)
        goto usage;
      break;
    case OPT_TIMEOUT:
      if ((timeout = mqtt_number (optarg, "--timeout", CMD)) == -1)
        goto usage;
      break;
    case OPT_SESSION:
      if ((session = mqtt_number (optarg, "--session", CMD)) == -1)
        goto usage;
      break;
    case 'h': usage (); free (types); return 0;
    default:
      r = mqtt_conn_option (c, optarg, &conn, &qos, CMD);
      if (r != 1)
        goto usage;
    }
  }
  if (conn.uri == NULL || optind == argc)
    goto usage;
  /* The broker finds a session by the client's id: a random one would
   * never be asked for again.
   */
  if (session >= 0 && conn.client_id == NULL) {
    fprintf (stderr, CMD ": --session needs --client-id\n");
    free (types);
    return 2;
  }
  s.ch = calloc (argc - optind, sizeof *s.ch);
  if (s.ch == NULL)
    goto fail;
  for (; optind < argc; optind++) {
    struct bw_channel *ch = &s.ch[s.nch];

    if (bw_channel_parse (argv[optind], ch, err, sizeof err) == -1) {
      fprintf (stderr, CMD ": %s\n", err);
      cleanup (&s);
      return 2;
    }
    s.nch++;
    ch->part = part;
    if (disk) {
      free (ch->disk);
      if ((ch->disk = strdup (disk)) == NULL)
        goto fail;
    }
  }
  if (add_filters (&s, qos) == -1)
    goto fail;

  /* Before Paho's threads exist; SIGUSR1 from the start (its default
   * would end the command).
   */
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);
  sigaction (SIGUSR1, &sa, NULL);
  if (bw_mqtt_client_open (&conn, &s.cl, 100, err, sizeof err) == -1) {
    fprintf (stderr, CMD ": %s\n", err);
    cleanup (&s);
    return 1;
  }
  r = MQTTAsync_setCallbacks (s.cl.handle, &s, lost, arrived, NULL);
  s.cl.owner = &s;
  s.cl.connected = connected;
  s.cl.failed = connect_failed;
  s.session = session >= 0;
  if (session >= 0 && conn.version == 5) {
    MQTTProperty p = { .identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL,
                       .value.integer4 = session };
    s.cl.opts.cleanstart = 0;
    if (r == MQTTASYNC_SUCCESS)
      r = MQTTProperties_add (&props, &p) == 0 ? MQTTASYNC_SUCCESS
                                                : MQTTASYNC_FAILURE;
    s.cl.opts.connectProperties = &props;
  }
  else if (session >= 0)
    s.cl.opts.cleansession = 0;
  if (r == MQTTASYNC_SUCCESS)
    r = MQTTAsync_connect (s.cl.handle, &s.cl.opts);
  if (r != MQTTASYNC_SUCCESS) {
    fprintf (stderr, CMD ": %s: %s\n", conn.uri, MQTTAsync_strerror (r));
    ret = 1;
    goto out;
  }

  end = timeout ? time (NULL) + timeout : 0;
  pthread_mutex_lock (&s.lock);
  while (!stop && s.state != FAILED && (s.count == 0 || s.printed < s.count)
         && (end == 0 || time (NULL) < end)) {
    struct timespec ts;

    clock_gettime (CLOCK_REALTIME, &ts);
    ts.tv_nsec += 200000000;
    if (ts.tv_nsec >= 1000000000) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait (&s.cond, &s.lock, &ts);
    if (renew) {
      renew = 0;
      renew_connection (&s);
    }
    reconnect (&s);
  }
  pthread_mutex_unlock (&s.lock);
  if (s.state == FAILED) {
    bw_mqtt_explain (&conn, &s.cl, s.fail_code, s.fail_reason,
                     s.fail_msg[0] ? s.fail_msg : NULL, err, sizeof err);
    fprintf (stderr, CMD ": %s\n", err);
    ret = 1;
  }
  else if (s.count && s.printed < s.count && !stop) {
    fprintf (stderr, CMD ": timed out after %ld s with %ld of %ld events\n",
             timeout, s.printed, s.count);
    ret = 3;
  }
  /* The loss was said when it was found; the status says it again for
   * programs, over a timeout (which it may explain).
   */
  if (s.session_lost && ret != 1)
    ret = 4;
  if (s.out.unwritten) {
    fprintf (stderr, CMD ": %llu events could not be written\n",
             s.out.unwritten);
    if (ret != 1)
      ret = 5;
  }
  if (s.state == UP) {
    MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
    MQTTAsync_disconnectOptions d5 = MQTTAsync_disconnectOptions_initializer5;

    if (conn.version == 5)
      d = d5;
    d.timeout = 1000;
    /* Paho disconnects in the background; give it the time it asks. */
    if (MQTTAsync_disconnect (s.cl.handle, &d) == MQTTASYNC_SUCCESS)
      for (int i = 0; i < 20 && MQTTAsync_isConnected (s.cl.handle); i++)
        nanosleep (&(struct timespec) { 0, 50000000 }, NULL);
  }
 out:
  bw_mqtt_client_close (&s.cl);
  MQTTProperties_free (&props);
  cleanup (&s);
  return ret;

 usage:
  free (types);
  return usage ();
 fail:
  fprintf (stderr, CMD ": %s\n", strerror (ENOMEM));
  cleanup (&s);
  return 1;
}
