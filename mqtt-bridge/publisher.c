/* The bridge (see mqtt-bridge.h): the sink that queues events, the
 * thread that hands them to Paho's MQTTAsync client, the callbacks that
 * count what the broker acknowledged, reconnection, status and stats.
 *
 * Locking: one mutex guards the bridge.  The engine's thread (emit),
 * Paho's threads (callbacks) and the bridge's thread each hold it only
 * briefly.  Paho is called by the bridge's thread alone, and never with
 * the mutex held: Paho runs callbacks under its own mutex, and the
 * callbacks take ours, so holding ours while calling Paho could
 * deadlock.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <jansson.h>
#include <MQTTAsync.h>

#include "common/clock.h"
#include "buffer.h"
#include "mqtt-bridge.h"

#define PAHO_EXTRA 16         /* Paho's queue: the window and a few more */
#define SEND_RETRY_MS 100     /* Paho refused a message: try again */
#define CLOSE_STEP_MS 2000    /* at close: the offline status, disconnect */
#define REPEAT_LOG_MS 60000   /* the same connect error, logged again */

/* RENEWING: connected, and going to reconnect for new certificate
 * files (see renew_connection).
 */
enum state { DOWN, CONNECTING, UP, RENEWING };

struct bw_mqtt_bridge {
  struct bw_sink sink;        /* first: the sink is the bridge */
  struct bw_mqtt_cfg cfg;
  struct bw_mqtt_client cl;
  MQTTAsync_willOptions will;
  char *disk_topic;            /* blockwatch/HOST/VM/DISK, or blockwatch/HOST */
  char *status_topic, *stats_topic;
  unsigned slot;              /* in the registry (see ticket) */
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t wake;        /* the thread has something to do */
  pthread_cond_t changed;     /* for flush and close: progress */

  enum state state;
  unsigned gen;               /* connections made; see ticket */
  unsigned window;            /* in flight at most, this connection */
  struct bw_buffer buf;
  bool closing, need_online, said_offline, disconnected;
  bool renew;                 /* bw_mqtt_renew: files to read again */
  uint64_t close_by;          /* ms, monotonic */
  uint64_t next_try, backoff; /* ms */
  uint64_t send_retry;        /* ms: Paho refused a message */
  bool failed;                /* a connect failed: to explain and log */
  int fail_code, fail_reason;
  char fail_msg[256];
  char last_err[512];
  uint64_t last_err_at;
  bool dropping;              /* the buffer is full: said once */

  uint64_t events, filtered, published, refused, connects;
  uint64_t next_stats, stats_events, stats_at;
  uint64_t id_base;           /* ids of the bridge's own events */
  uint32_t id_count;
  unsigned seed;              /* back-off jitter */
};

static uint64_t
wall_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_REALTIME, &ts);
  return (uint64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
say (struct bw_mqtt_bridge *b, const char *fmt, ...)
{
  char msg[1024];
  va_list ap;

  if (b->cfg.log == NULL)
    return;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  b->cfg.log (b->cfg.opaque, "mqtt: %s", msg);
}

/* Lock held: the broker has everything, no loss is left to tell. */
static bool
drained (const struct bw_mqtt_bridge *b)
{
  return b->buf.nqueued == 0 && b->buf.ninflight == 0 &&
         b->buf.unreported == 0;
}

/* ---- tickets --------------------------------------------------------
 *
 * Paho hands a callback one pointer.  It has to say which message an
 * acknowledgement is for, and of which connection: a late callback of
 * a connection that broke (its messages are queued again, maybe sent
 * again) must not count.  A heap object per message would be lost
 * whenever Paho drops a message without calling back.  So the pointer
 * is a number: the bridge's slot in a registry (10 bits), the
 * connection's generation (6 bits) and the message's serial (48 bits).
 */

#define SLOTS 1024
#define GEN_MASK 0x3fu
#define SERIAL_MASK ((UINT64_C (1) << 48) - 1)

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct bw_mqtt_bridge *registry[SLOTS];

static int
enroll (struct bw_mqtt_bridge *b)
{
  int r = -1;

  pthread_mutex_lock (&registry_lock);
  for (unsigned i = 0; i < SLOTS && r == -1; i++)
    if (registry[i] == NULL) {
      registry[i] = b;
      b->slot = i;
      r = 0;
    }
  pthread_mutex_unlock (&registry_lock);
  return r;
}

static void
unenroll (struct bw_mqtt_bridge *b)
{
  pthread_mutex_lock (&registry_lock);
  registry[b->slot] = NULL;
  pthread_mutex_unlock (&registry_lock);
}

static void *
ticket (const struct bw_mqtt_bridge *b, uint64_t serial)
{
  return (void *) (uintptr_t) ((uint64_t) b->slot << 54 |
                               (uint64_t) (b->gen & GEN_MASK) << 48 |
                               (serial & SERIAL_MASK));
}

/* The bridge of a ticket, locked; its generation and serial.  Paho
 * calls back only while the client exists, and the bridge outlives it.
 */
static struct bw_mqtt_bridge *
redeem (void *t, unsigned *gen, uint64_t *serial)
{
  uint64_t v = (uintptr_t) t, low = v & SERIAL_MASK;
  struct bw_mqtt_bridge *b;

  pthread_mutex_lock (&registry_lock);
  b = registry[v >> 54];
  pthread_mutex_unlock (&registry_lock);
  pthread_mutex_lock (&b->lock);
  *gen = v >> 48 & GEN_MASK;
  /* Serials only grow: the full one is the latest with these bits. */
  *serial = b->buf.next_serial - ((b->buf.next_serial - low) & SERIAL_MASK);
  return b;
}

/* ---- callbacks (Paho's threads) ------------------------------------ */

/* A message was delivered (ok), refused by the broker (an MQTT 5
 * reason code), or lost with its connection.
 */
static void
delivered (void *t, bool ok, int reason)
{
  unsigned gen;
  uint64_t serial;
  struct bw_mqtt_bridge *b = redeem (t, &gen, &serial);
  struct bw_msg *m;

  if (gen != (b->gen & GEN_MASK))
    ;                         /* a connection that is gone */
  else if (ok || reason >= 0x80) {
    m = bw_buffer_done (&b->buf, serial);
    if (m && ok)
      b->published += m->reports == 0;
    else if (m) {
      /* Sending it again would be refused again. */
      if (b->refused++ % 1000 == 0)
        say (b, "the broker refused a message on %s: %s (%" PRIu64
             " refused so far)", m->topic, MQTTReasonCode_toString (reason),
             b->refused);
    }
    bw_msg_free (m);
  }
  else {
    /* The connection is going: everything in flight goes again, in
     * order, and what this connection still reports is stale.
     */
    bw_buffer_requeue_all (&b->buf);
    b->gen++;
    pthread_cond_signal (&b->wake);
  }
  /* Room in the window for what waits.  (Waking the thread only when
   * half the window is free made Paho send in bursts, and QoS 1 eight
   * times slower.)
   */
  if (b->buf.nqueued)
    pthread_cond_signal (&b->wake);
  /* Flush and close wait for drained, a renewal for nothing in flight. */
  if (b->buf.ninflight == 0)
    pthread_cond_broadcast (&b->changed);
  pthread_mutex_unlock (&b->lock);
}

static void
sent (void *t, MQTTAsync_successData *r)
{
  (void) r;
  delivered (t, true, 0);
}

static void
sent5 (void *t, MQTTAsync_successData5 *r)
{
  (void) r;
  delivered (t, true, 0);
}

static void
not_sent (void *t, MQTTAsync_failureData *r)
{
  (void) r;
  delivered (t, false, 0);
}

static void
not_sent5 (void *t, MQTTAsync_failureData5 *r)
{
  delivered (t, false, r->reasonCode);
}

static void
connected (void *owner, MQTTProperties *props)
{
  struct bw_mqtt_bridge *b = owner;
  int max;

  pthread_mutex_lock (&b->lock);
  b->state = UP;
  b->gen++;
  b->connects++;
  b->backoff = b->cfg.reconnect_min_ms;
  b->need_online = true;
  /* An MQTT 5 broker says how many QoS 1 messages it takes at once;
   * more would be a protocol error.
   */
  b->window = b->cfg.window;
  if (props && MQTTProperties_hasProperty (props,
                                           MQTTPROPERTY_CODE_RECEIVE_MAXIMUM)) {
    max = MQTTProperties_getNumericValue (props,
                                          MQTTPROPERTY_CODE_RECEIVE_MAXIMUM);
    if (max > 0 && (unsigned) max < b->window)
      b->window = max;
  }
  say (b, "connected to %s (MQTT %s, QoS %d, window %u), %zu messages "
       "waiting", b->cfg.conn.uri, b->cfg.conn.version == 5 ? "5" : "3.1.1",
       b->cfg.qos, b->window, b->buf.nqueued);
  b->last_err[0] = '\0';
  pthread_cond_signal (&b->wake);
  pthread_mutex_unlock (&b->lock);
}

static void
connect_failed (void *owner, int code, int reason, const char *message)
{
  struct bw_mqtt_bridge *b = owner;

  pthread_mutex_lock (&b->lock);
  b->state = DOWN;
  b->failed = true;
  b->fail_code = code;
  b->fail_reason = reason;
  snprintf (b->fail_msg, sizeof b->fail_msg, "%s", message ? message : "");
  /* Up to a fifth less, at random: appliances that lost one broker
   * do not all come back at the same instant.
   */
  b->next_try = now_ms () + b->backoff
                - rand_r (&b->seed) % (b->backoff / 5 + 1);
  b->backoff = b->backoff * 2 < b->cfg.reconnect_max_ms
               ? b->backoff * 2 : b->cfg.reconnect_max_ms;
  pthread_cond_signal (&b->wake);
  pthread_mutex_unlock (&b->lock);
}

static void
connection_lost (void *ctx, char *cause)
{
  struct bw_mqtt_bridge *b = ctx;

  pthread_mutex_lock (&b->lock);
  b->state = DOWN;
  bw_buffer_requeue_all (&b->buf);
  b->gen++;
  b->next_try = now_ms () + b->cfg.reconnect_min_ms;
  if (!b->closing)
    say (b, "connection to %s lost%s%s; %zu messages waiting, reconnecting",
         b->cfg.conn.uri, cause ? ": " : "", cause ? cause : "",
         b->buf.nqueued);
  pthread_cond_signal (&b->wake);
  pthread_cond_broadcast (&b->changed);
  pthread_mutex_unlock (&b->lock);
}

/* MQTT 5: the broker says why it closes the connection. */
static void
disconnected_by_broker (void *ctx, MQTTProperties *props,
                        enum MQTTReasonCodes reason)
{
  struct bw_mqtt_bridge *b = ctx;

  (void) props;
  pthread_mutex_lock (&b->lock);
  say (b, "the broker at %s disconnects: %s", b->cfg.conn.uri,
       MQTTReasonCode_toString (reason));
  pthread_mutex_unlock (&b->lock);
}

/* The bridge subscribes to nothing; Paho insists on the callback. */
static int
arrived (void *ctx, char *topic, int len, MQTTAsync_message *m)
{
  (void) ctx;
  (void) len;
  MQTTAsync_freeMessage (&m);
  MQTTAsync_free (topic);
  return 1;
}

static void
offline_said (void *ctx, MQTTAsync_successData *r)
{
  struct bw_mqtt_bridge *b = ctx;

  (void) r;
  pthread_mutex_lock (&b->lock);
  b->said_offline = true;
  pthread_cond_broadcast (&b->changed);
  pthread_mutex_unlock (&b->lock);
}

static void
offline_said5 (void *ctx, MQTTAsync_successData5 *r)
{
  (void) r;
  offline_said (ctx, NULL);
}

static void
disconnect_done (void *ctx, MQTTAsync_successData *r)
{
  struct bw_mqtt_bridge *b = ctx;

  (void) r;
  pthread_mutex_lock (&b->lock);
  b->disconnected = true;
  pthread_cond_broadcast (&b->changed);
  pthread_mutex_unlock (&b->lock);
}

static void
disconnect_done5 (void *ctx, MQTTAsync_successData5 *r)
{
  (void) r;
  disconnect_done (ctx, NULL);
}

/* ---- the sink (the engine's thread) -------------------------------- */

static void
emit (struct bw_sink *s, const struct bw_event *ev)
{
  struct bw_mqtt_bridge *b = (struct bw_mqtt_bridge *) s;
  char *esc = NULL, *json = NULL, *topic = NULL;
  struct bw_msg *m = NULL;
  bool pass = true, idle;

  if (ev->path && bw_filter_wants_path (&b->cfg.filter))
    esc = bw_escape_bytes (ev->path, ev->path_len);
  if (!(ev->path && esc == NULL))
    pass = bw_filter_pass (&b->cfg.filter, ev->type, esc);
  if (pass) {
    json = bw_event_to_json (ev, bw_filter_data (&b->cfg.filter, esc,
                                                 &b->cfg.data));
    topic = bw_topic_event (b->disk_topic, ev);
    if (json && topic)
      m = bw_msg_new (topic, json, strlen (json));
    if (m) {
      m->type = ev->type;
      m->seq = ev->seq;
      m->txn = ev->txn;
    }
    else {
      free (json);
      free (topic);
    }
  }
  free (esc);

  pthread_mutex_lock (&b->lock);
  /* A queue that was not empty is being worked on already. */
  idle = b->buf.nqueued == 0;
  b->events++;
  if (!pass)
    b->filtered++;
  else if (m == NULL) {
    /* Out of memory: lost, but not silently. */
    b->buf.dropped++;
    b->buf.unreported++;
    b->buf.last_seq = ev->seq;
    b->buf.last_txn = ev->txn;
  }
  else if (bw_buffer_push (&b->buf, m) && !b->dropping) {
    b->dropping = true;
    say (b, "the buffer is full (%zu messages, %zu bytes): dropping the "
         "oldest events", b->buf.nqueued, b->buf.qbytes);
  }
  if (idle || b->buf.unreported)
    pthread_cond_signal (&b->wake);
  pthread_mutex_unlock (&b->lock);
}

/* ---- the bridge's thread ------------------------------------------- */

void
bw_mqtt_properties (enum bw_event_type type, uint64_t seq, unsigned expiry,
                    MQTTProperties *props)
{
  static char json[] = "application/json", tname[] = "type", sname[] = "seq";
  char num[24];
  MQTTProperty p = { .identifier = MQTTPROPERTY_CODE_CONTENT_TYPE };

  p.value.data = (MQTTLenString) { sizeof json - 1, json };
  MQTTProperties_add (props, &p);
  p = (MQTTProperty) { .identifier = MQTTPROPERTY_CODE_PAYLOAD_FORMAT_INDICATOR,
                       .value.byte = 1 };
  MQTTProperties_add (props, &p);
  if (expiry) {
    p = (MQTTProperty) {
      .identifier = MQTTPROPERTY_CODE_MESSAGE_EXPIRY_INTERVAL,
      .value.integer4 = expiry };
    MQTTProperties_add (props, &p);
  }
  if (type) {
    p = (MQTTProperty) { .identifier = MQTTPROPERTY_CODE_USER_PROPERTY };
    p.value.data = (MQTTLenString) { sizeof tname - 1, tname };
    p.value.value = (MQTTLenString) {
      strlen (bw_event_type_name (type)), (char *) bw_event_type_name (type) };
    MQTTProperties_add (props, &p);
    snprintf (num, sizeof num, "%" PRIu64, seq);
    p.value.data = (MQTTLenString) { sizeof sname - 1, sname };
    p.value.value = (MQTTLenString) { strlen (num), num };
    MQTTProperties_add (props, &p);
  }
}

/* Hands queued messages to Paho while the window has room. */
static void
pump (struct bw_mqtt_bridge *b)
{
  struct bw_msg *m;
  const char *topic;
  int rc;

  if (now_ms () < b->send_retry)
    return;
  while (b->state == UP && b->buf.ninflight < b->window &&
         (m = bw_buffer_next (&b->buf))) {
    MQTTAsync_message msg = MQTTAsync_message_initializer;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    MQTTProperties props = MQTTProperties_initializer;

    msg.payload = m->payload;
    msg.payloadlen = m->len;
    msg.qos = b->cfg.qos;
    ro.context = ticket (b, m->serial);
    if (b->cfg.conn.version == 5) {
      bw_mqtt_properties (m->type, m->seq, b->cfg.expiry, &props);
      msg.properties = props;
      ro.onSuccess5 = sent5;
      ro.onFailure5 = not_sent5;
    }
    else {
      ro.onSuccess = sent;
      ro.onFailure = not_sent;
    }
    topic = m->topic;
    /* Not to be dropped while Paho copies it; once Paho has it, an
     * acknowledgement may free it any time: no m after this.
     */
    b->buf.pinned = m;
    pthread_mutex_unlock (&b->lock);
    rc = MQTTAsync_sendMessage (b->cl.handle, topic, &msg, &ro);
    MQTTProperties_free (&props);
    pthread_mutex_lock (&b->lock);
    b->buf.pinned = NULL;
    if (rc != MQTTASYNC_SUCCESS) {
      bw_buffer_unsend_last (&b->buf);
      b->send_retry = now_ms () + SEND_RETRY_MS;
      break;
    }
  }
}

/* Publishes outside the buffer (status, stats): not events. */
static int
publish_raw (struct bw_mqtt_bridge *b, const char *topic, const char *payload,
             int qos, bool retained, bool offline)
{
  MQTTAsync_message msg = MQTTAsync_message_initializer;
  MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
  MQTTProperties props = MQTTProperties_initializer;
  MQTTProperty p = { .identifier = MQTTPROPERTY_CODE_CONTENT_TYPE };
  static char json[] = "application/json", text[] = "text/plain";
  int rc;

  msg.payload = (void *) payload;
  msg.payloadlen = strlen (payload);
  msg.qos = qos;
  msg.retained = retained;
  ro.context = b;
  if (b->cfg.conn.version == 5) {
    p.value.data = payload[0] == '{'
                   ? (MQTTLenString) { sizeof json - 1, json }
                   : (MQTTLenString) { sizeof text - 1, text };
    MQTTProperties_add (&props, &p);
    msg.properties = props;
    if (offline)
      ro.onSuccess5 = offline_said5;
  }
  else if (offline)
    ro.onSuccess = offline_said;
  rc = MQTTAsync_sendMessage (b->cl.handle, topic, &msg, &ro);
  MQTTProperties_free (&props);
  return rc;
}

/* The losses of a full buffer, told where they happened: ahead of
 * everything still queued.
 */
static void
report_losses (struct bw_mqtt_bridge *b)
{
  struct bw_event ev = {
    .type = BW_EV_OVERFLOW, .id = b->id_base | ++b->id_count,
    .seq = b->buf.last_seq, .txn = b->buf.last_txn, .time_ns = wall_ns (),
    .host = b->cfg.host, .vm = b->cfg.vm, .disk = b->cfg.disk,
    .lost_events = b->buf.unreported,
    .unconfirmed_events = b->buf.unreported_unconfirmed,
    .detail = "mqtt-bridge: the offline buffer was full",
  };
  char *json = bw_event_to_json (&ev, NULL);
  char *topic = bw_topic_event (b->disk_topic, &ev);
  struct bw_msg *m = json && topic ? bw_msg_new (topic, json, strlen (json))
                                   : NULL;

  if (m == NULL) {
    free (json);
    free (topic);
    return;                   /* out of memory: the next round tries */
  }
  m->type = BW_EV_OVERFLOW;
  m->seq = ev.seq;
  m->txn = ev.txn;
  m->reports = b->buf.unreported;
  m->reports_unconfirmed = b->buf.unreported_unconfirmed;
  say (b, "%" PRIu64 " events were dropped from the full buffer (%" PRIu64
       " of them sent before a connection broke, unacknowledged); an "
       "overflow event says so", m->reports, m->reports_unconfirmed);
  b->buf.unreported = b->buf.unreported_unconfirmed = 0;
  b->dropping = false;
  bw_buffer_push_head (&b->buf, m);
}

static char *
stats_json (struct bw_mqtt_bridge *b, uint64_t now)
{
  double secs = (now - b->stats_at) / 1000.0;
  json_t *o = json_pack (
    "{s:I, s:s, s:s, s:s, s:f, s:I, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
    " s:I, s:I}",
    "time_ns", (json_int_t) wall_ns (), "host", b->cfg.host, "vm", b->cfg.vm,
    "disk", b->cfg.disk, "interval_s", secs,
    "events", (json_int_t) b->events,
    "events_per_s", secs > 0 ? (b->events - b->stats_events) / secs : 0.0,
    "published", (json_int_t) b->published,
    "filtered", (json_int_t) b->filtered,
    "dropped", (json_int_t) b->buf.dropped,
    "dropped_unconfirmed", (json_int_t) b->buf.dropped_sent,
    "refused", (json_int_t) b->refused,
    "queued", (json_int_t) b->buf.nqueued,
    "in_flight", (json_int_t) b->buf.ninflight,
    "buffered_bytes", (json_int_t) (b->buf.qbytes + b->buf.fbytes),
    "connects", (json_int_t) b->connects);
  char *s = o ? json_dumps (o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

  json_decref (o);
  b->stats_events = b->events;
  b->stats_at = now;
  return s;
}

/* Lock held; released while Paho connects. */
static void
connect_now (struct bw_mqtt_bridge *b)
{
  MQTTAsync_connectOptions opts = b->cl.opts;
  int rc;

  b->state = CONNECTING;
  opts.will = &b->will;
  opts.maxInflight = b->cfg.window;
  pthread_mutex_unlock (&b->lock);
  rc = MQTTAsync_connect (b->cl.handle, &opts);
  if (rc != MQTTASYNC_SUCCESS)
    connect_failed (b, rc, 0, MQTTAsync_strerror (rc));
  pthread_mutex_lock (&b->lock);
}

/* Lock held; released while the reason is found out (a TLS handshake
 * of its own, a few seconds at worst).  Logs a failure once, then again
 * only when it changes or after REPEAT_LOG_MS.
 */
static void
explain_failure (struct bw_mqtt_bridge *b)
{
  int code = b->fail_code, reason = b->fail_reason;
  char msg[sizeof b->fail_msg], why[512];
  uint64_t now;

  b->failed = false;
  memcpy (msg, b->fail_msg, sizeof msg);
  pthread_mutex_unlock (&b->lock);
  bw_mqtt_explain (&b->cfg.conn, &b->cl, code, reason, msg[0] ? msg : NULL,
                   why, sizeof why);
  pthread_mutex_lock (&b->lock);
  now = now_ms ();
  if (strcmp (why, b->last_err) != 0 || now - b->last_err_at >= REPEAT_LOG_MS) {
    say (b, "%s; retrying in %.1f s (%zu messages waiting)", why,
         b->next_try > now ? (b->next_try - now) / 1000.0 : 0.0,
         b->buf.nqueued);
    snprintf (b->last_err, sizeof b->last_err, "%s", why);
    b->last_err_at = now;
  }
}

static void
wait_until (struct bw_mqtt_bridge *b, pthread_cond_t *c, uint64_t ms)
{
  struct timespec ts = { ms / 1000, ms % 1000 * 1000000 };

  pthread_cond_timedwait (c, &b->lock, &ts);
}

/* Lock held: a clean disconnect (the Last Will does not fire), Paho
 * given timeout ms for what is in flight; waited for CLOSE_STEP_MS at
 * most.
 */
static void
disconnect_cleanly (struct bw_mqtt_bridge *b, int timeout)
{
  MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
  MQTTAsync_disconnectOptions d5 = MQTTAsync_disconnectOptions_initializer5;
  uint64_t until;
  int rc;

  if (b->cfg.conn.version == 5) {
    d = d5;
    d.onSuccess5 = disconnect_done5;
  }
  else
    d.onSuccess = disconnect_done;
  d.context = b;
  d.timeout = timeout;
  b->disconnected = false;
  pthread_mutex_unlock (&b->lock);
  rc = MQTTAsync_disconnect (b->cl.handle, &d);
  pthread_mutex_lock (&b->lock);
  until = now_ms () + CLOSE_STEP_MS;
  while (rc == MQTTASYNC_SUCCESS && !b->disconnected && now_ms () < until)
    wait_until (b, &b->changed, until);
}

/* Lock held, connected: the certificate files are to be read again.
 * Paho reads them when it makes a connection's TLS context, and frees
 * the context with the connection, so a new connection is what takes
 * them.  Orderly, so that nothing is sent twice when the broker is
 * well: nothing more is handed to Paho, what is in flight is waited
 * for (CLOSE_STEP_MS at most), then a clean disconnect (no Last Will:
 * $status stays online, and says so again once connected) and a
 * connect at once.  What is still unacknowledged then goes again on
 * the new connection, in order, as after any loss (QoS 1).
 */
static void
renew_connection (struct bw_mqtt_bridge *b)
{
  uint64_t until = now_ms () + CLOSE_STEP_MS;

  b->state = RENEWING;
  while (b->buf.ninflight && b->state == RENEWING && now_ms () < until)
    wait_until (b, &b->changed, until);
  if (b->state != RENEWING)
    return;                   /* lost meanwhile: reconnecting anyway */
  say (b, "certificate files renewed: reconnecting to %s (%zu messages "
       "in flight, %zu waiting)", b->cfg.conn.uri, b->buf.ninflight,
       b->buf.nqueued);
  disconnect_cleanly (b, 0);   /* in flight: sent again below */
  /* Acknowledgements of the old connection no longer count. */
  bw_buffer_requeue_all (&b->buf);
  b->gen++;
  b->state = DOWN;
  b->backoff = b->cfg.reconnect_min_ms;
  b->next_try = now_ms ();
}

/* Lock held: "offline" (the will fires only if the connection dies),
 * then a clean disconnect, each waited for a little.
 */
static void
say_goodbye (struct bw_mqtt_bridge *b)
{
  uint64_t until;
  int rc;

  pthread_mutex_unlock (&b->lock);
  rc = publish_raw (b, b->status_topic, "offline", 1, true, true);
  pthread_mutex_lock (&b->lock);
  until = now_ms () + CLOSE_STEP_MS;
  while (rc == MQTTASYNC_SUCCESS && !b->said_offline && b->state == UP &&
         now_ms () < until)
    wait_until (b, &b->changed, until);
  disconnect_cleanly (b, CLOSE_STEP_MS);
}

static void *
run (void *arg)
{
  struct bw_mqtt_bridge *b = arg;
  uint64_t now, wake;
  char *stats;

  pthread_mutex_lock (&b->lock);
  for (;;) {
    now = now_ms ();
    if (b->closing && (drained (b) || now >= b->close_by))
      break;
    if (b->failed)
      explain_failure (b);
    /* While connecting, the outcome is waited for: a connection made
     * may have read the old files.
     */
    if (b->renew && b->state != CONNECTING && !b->closing) {
      b->renew = false;
      if (b->state == UP)
        renew_connection (b);
      else
        b->next_try = now;    /* down: the new files may be what works */
    }
    if (b->state == DOWN && now >= b->next_try)
      connect_now (b);
    if (b->state == UP && b->need_online) {
      b->need_online = false;
      pthread_mutex_unlock (&b->lock);
      publish_raw (b, b->status_topic, "online", 1, true, false);
      pthread_mutex_lock (&b->lock);
    }
    if (b->state == UP && b->buf.unreported)
      report_losses (b);
    pump (b);
    now = now_ms ();
    if (b->state == UP && b->cfg.stats_interval && now >= b->next_stats) {
      b->next_stats = now + b->cfg.stats_interval * 1000ull;
      stats = stats_json (b, now);
      pthread_mutex_unlock (&b->lock);
      if (stats)
        publish_raw (b, b->stats_topic, stats, 0, false, false);
      free (stats);
      pthread_mutex_lock (&b->lock);
    }

    wake = now + 1000;
    if (b->state == DOWN && b->next_try < wake)
      wake = b->next_try;
    if (b->send_retry > now && b->send_retry < wake)
      wake = b->send_retry;
    /* Stats go out only while up: a time passed while down or
     * connecting must not keep the thread from waiting (it would spin
     * with the lock held, and Paho's callbacks could never say how
     * the connection attempt ended).
     */
    if (b->state == UP && b->cfg.stats_interval && b->next_stats < wake)
      wake = b->next_stats;
    if (b->closing && b->close_by < wake)
      wake = b->close_by;
    if (!b->failed && wake > now)
      wait_until (b, &b->wake, wake);
  }
  if (b->state == UP)
    say_goodbye (b);
  pthread_mutex_unlock (&b->lock);
  return NULL;
}

/* ---- life ------------------------------------------------------------ */

void
bw_mqtt_cfg_init (struct bw_mqtt_cfg *cfg)
{
  *cfg = (struct bw_mqtt_cfg) {
    .qos = 1, .window = 64,
    .buffer_messages = 600000, .buffer_bytes = 256 << 20,
    .stats_interval = 60, .reconnect_min_ms = 500, .reconnect_max_ms = 30000,
    .drain_ms = 10000, .data = { .policy = BW_DATA_NONE },
  };
  bw_mqtt_conn_init (&cfg->conn);
}

static int
check_cfg (const struct bw_mqtt_cfg *cfg, char *err, size_t errlen)
{
  if (cfg->qos != 0 && cfg->qos != 1)
    snprintf (err, errlen, "QoS %d: 0 or 1", cfg->qos);
  else if (cfg->window < 1 || cfg->window > 65535)
    snprintf (err, errlen, "window %u: 1 to 65535 messages", cfg->window);
  else if (cfg->buffer_messages < 1 || cfg->buffer_bytes < 1)
    snprintf (err, errlen, "the buffer needs room for a message");
  else if (cfg->expiry && cfg->conn.version != 5)
    snprintf (err, errlen, "message expiry needs MQTT 5");
  else if (cfg->reconnect_min_ms < 1 ||
           cfg->reconnect_max_ms < cfg->reconnect_min_ms)
    snprintf (err, errlen, "reconnect delays: 0 < min <= max");
  else
    return 0;
  return -1;
}

struct bw_mqtt_bridge *
bw_mqtt_open (const struct bw_mqtt_cfg *cfg, char *err, size_t errlen)
{
  struct bw_mqtt_bridge *b;
  pthread_condattr_t ca;
  uint32_t rnd = 0;
  int rc;

  if (check_cfg (cfg, err, errlen) == -1)
    return NULL;
  b = calloc (1, sizeof *b);
  if (b == NULL) {
    snprintf (err, errlen, "%s", strerror (errno));
    return NULL;
  }
  b->sink.emit = emit;
  b->cfg = *cfg;
  b->disk_topic = cfg->vm == NULL && cfg->disk == NULL
                  ? bw_topic_host (cfg->host)
                  : bw_topic_disk (cfg->host, cfg->vm, cfg->disk);
  if (b->disk_topic == NULL) {
    snprintf (err, errlen, "host, vm and disk names are needed for the "
              "topics (at most %d bytes each)", BW_LABEL_MAX);
    free (b);
    return NULL;
  }
  if (asprintf (&b->status_topic, "%s/$status", b->disk_topic) == -1)
    b->status_topic = NULL;
  if (asprintf (&b->stats_topic, "%s/$stats", b->disk_topic) == -1)
    b->stats_topic = NULL;
  if (b->status_topic == NULL || b->stats_topic == NULL ||
      enroll (b) == -1) {
    snprintf (err, errlen, "%s", b->status_topic && b->stats_topic
              ? "too many MQTT bridges" : strerror (ENOMEM));
    goto fail;
  }
  if (bw_mqtt_client_open (&cfg->conn, &b->cl, cfg->window + PAHO_EXTRA,
                           err, errlen) == -1)
    goto fail_unenroll;
  b->cl.owner = b;
  b->cl.connected = connected;
  b->cl.failed = connect_failed;
  rc = MQTTAsync_setCallbacks (b->cl.handle, b, connection_lost, arrived,
                               NULL);
  if (rc == MQTTASYNC_SUCCESS && cfg->conn.version == 5)
    rc = MQTTAsync_setDisconnected (b->cl.handle, b, disconnected_by_broker);
  if (rc != MQTTASYNC_SUCCESS) {
    snprintf (err, errlen, "MQTT client: %s", MQTTAsync_strerror (rc));
    goto fail_client;
  }
  b->will = (MQTTAsync_willOptions) MQTTAsync_willOptions_initializer;
  b->will.topicName = b->status_topic;
  b->will.message = "offline";
  b->will.retained = 1;
  b->will.qos = 1;

  bw_buffer_init (&b->buf, cfg->buffer_messages, cfg->buffer_bytes);
  getrandom (&rnd, sizeof rnd, 0);
  b->id_base = (uint64_t) rnd << 32;
  b->seed = rnd;
  b->state = DOWN;
  b->backoff = cfg->reconnect_min_ms;
  b->next_try = b->stats_at = now_ms ();
  b->next_stats = b->stats_at + cfg->stats_interval * 1000ull;
  pthread_mutex_init (&b->lock, NULL);
  pthread_condattr_init (&ca);
  pthread_condattr_setclock (&ca, CLOCK_MONOTONIC);
  pthread_cond_init (&b->wake, &ca);
  pthread_cond_init (&b->changed, &ca);
  pthread_condattr_destroy (&ca);
  rc = pthread_create (&b->thread, NULL, run, b);
  if (rc == 0)
    return b;
  snprintf (err, errlen, "cannot start the MQTT thread: %s", strerror (rc));
  pthread_cond_destroy (&b->wake);
  pthread_cond_destroy (&b->changed);
  pthread_mutex_destroy (&b->lock);
 fail_client:
  bw_mqtt_client_close (&b->cl);
 fail_unenroll:
  unenroll (b);
 fail:
  free (b->disk_topic);
  free (b->status_topic);
  free (b->stats_topic);
  free (b);
  return NULL;
}

struct bw_sink *
bw_mqtt_sink (struct bw_mqtt_bridge *b)
{
  return &b->sink;
}

void
bw_mqtt_get_stats (struct bw_mqtt_bridge *b, struct bw_mqtt_stats *s)
{
  pthread_mutex_lock (&b->lock);
  *s = (struct bw_mqtt_stats) {
    .events = b->events, .filtered = b->filtered, .published = b->published,
    .dropped = b->buf.dropped, .dropped_unconfirmed = b->buf.dropped_sent,
    .refused = b->refused,
    .queued = b->buf.nqueued, .in_flight = b->buf.ninflight,
    .bytes = b->buf.qbytes + b->buf.fbytes, .connects = b->connects,
    .connected = b->state == UP,
  };
  pthread_mutex_unlock (&b->lock);
}

void
bw_mqtt_renew (struct bw_mqtt_bridge *b)
{
  pthread_mutex_lock (&b->lock);
  b->renew = true;
  pthread_cond_signal (&b->wake);
  pthread_mutex_unlock (&b->lock);
}

bool
bw_mqtt_flush (struct bw_mqtt_bridge *b, unsigned ms)
{
  uint64_t until = now_ms () + ms;
  bool done;

  pthread_mutex_lock (&b->lock);
  while (!(done = drained (b)) && now_ms () < until)
    wait_until (b, &b->changed, until);
  pthread_mutex_unlock (&b->lock);
  return done;
}

void
bw_mqtt_close (struct bw_mqtt_bridge *b, struct bw_mqtt_stats *last)
{
  uint64_t lost;

  pthread_mutex_lock (&b->lock);
  b->closing = true;
  b->close_by = now_ms () + b->cfg.drain_ms;
  pthread_cond_signal (&b->wake);
  pthread_mutex_unlock (&b->lock);
  pthread_join (b->thread, NULL);

  /* No callback after this: the bridge may go. */
  MQTTAsync_destroy (&b->cl.handle);
  if (last)
    bw_mqtt_get_stats (b, last);
  lost = b->buf.nqueued + b->buf.ninflight;
  if (lost || b->buf.unreported)
    say (b, "closed with %" PRIu64 " messages not delivered%s", lost,
         b->buf.unreported ? " and a loss not reported" : "");
  bw_buffer_clear (&b->buf);
  bw_mqtt_client_close (&b->cl);
  unenroll (b);
  pthread_cond_destroy (&b->wake);
  pthread_cond_destroy (&b->changed);
  pthread_mutex_destroy (&b->lock);
  free (b->disk_topic);
  free (b->status_topic);
  free (b->stats_topic);
  free (b);
}
