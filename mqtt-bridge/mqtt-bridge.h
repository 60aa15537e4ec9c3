/* mqtt-bridge: file events to subscribers over MQTT, securely, without
 * loss that nobody hears about.
 *
 * The bridge is an event sink (struct bw_sink): each event it is given
 * becomes one MQTT message, its JSON form (docs/events.md) on the
 * event's topic (topic.h; the "Topics" section of docs/events.md).
 * One bridge serves one disk with one connection to the broker.
 *
 * - Emitting never waits for the network: the event is filtered
 *   (filter.h), made into JSON and a topic, and queued in the bridge's
 *   own bounded buffer (buffer.h).  The bridge's thread hands queued
 *   messages to Paho's MQTTAsync client while connected, at most
 *   `window` of them unacknowledged at a time (QoS 1: until the
 *   broker's PUBACK; QoS 0: until written to the socket).  No message
 *   is ever waited for one by one.
 * - While the broker cannot be reached the buffer fills, in order; the
 *   thread reconnects with exponential back-off.  A full buffer drops
 *   its oldest messages, and once connected the bridge publishes an
 *   overflow event saying how many events were lost, where they were.
 *   Messages that were in flight when a connection broke are sent
 *   again: QoS 1 is at least once, and the event id tells duplicates.
 * - $status (retained) says "online" once connected and "offline" when
 *   the bridge closes, or, as the connection's Last Will, when it dies.
 *   $stats, every stats_interval, says how the bridge fares.
 * - MQTT 5 messages carry content type application/json, payload
 *   format UTF-8, user properties "type" and "seq", and the configured
 *   message expiry.
 * - Without vm and disk the bridge is the appliance's own connection
 *   (blockwatchd): its $status is blockwatch/HOST/$status, and it is
 *   given no events.
 */
#ifndef BLOCKWATCH_MQTT_BRIDGE_H
#define BLOCKWATCH_MQTT_BRIDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "events/event.h"
#include "filter.h"
#include "mqtt-conn.h"
#include "topic.h"

/* Everything the bridge is told, in one place for the command line and
 * the configuration file alike.  Strings are borrowed: they must live
 * as long as the bridge.
 */
struct bw_mqtt_cfg {
  struct bw_mqtt_conn conn;   /* broker, TLS, protocol version */
  const char *host, *vm, *disk;   /* topic labels: all three, or the
                                   * host alone (the appliance's) */
  int qos;                    /* 0 or 1 */
  unsigned window;            /* messages in flight at most */
  size_t buffer_messages;     /* the offline buffer's limits */
  size_t buffer_bytes;
  unsigned expiry;            /* MQTT 5 message expiry, s; 0: none */
  unsigned stats_interval;    /* s; 0: no $stats */
  unsigned reconnect_min_ms, reconnect_max_ms;
  unsigned drain_ms;          /* at close: time to deliver the buffer */
  struct bw_data_policy_cfg data;   /* write data, unless a rule says */
  struct bw_filter filter;    /* what to publish */
  void (*log) (void *opaque, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
  void *opaque;
};

/* The defaults: MQTT 5, QoS 1, window 64, a buffer of 600000 messages
 * and 256 MiB (a minute of a disk busy with 10000 events a second, at
 * about 400 bytes an event), no expiry, stats every 60 s, reconnect
 * after 0.5 s doubling up to 30 s, 10 s to drain at close, no write
 * data.
 */
void bw_mqtt_cfg_init (struct bw_mqtt_cfg *cfg);

struct bw_mqtt_stats {
  uint64_t events;            /* given to the sink */
  uint64_t filtered;          /* ... and not published by choice */
  uint64_t published;         /* delivered (QoS 1: acknowledged) */
  uint64_t dropped;           /* lost to a full buffer */
  uint64_t dropped_unconfirmed; /* ... once sent, unacknowledged: the
                                 * broker may have had them */
  uint64_t refused;           /* refused by the broker (MQTT 5 PUBACK) */
  uint64_t queued, in_flight, bytes;  /* in the buffer now */
  uint64_t connects;
  bool connected;
};

/* The counts of a bridge in one line of text, without a newline. */
void bw_mqtt_stats_text (const struct bw_mqtt_stats *s, char *buf,
                         size_t len);

struct bw_mqtt_bridge;

/* Checks the configuration (a bad URI, unreadable certificates, a key
 * that is not the certificate's are errors here) and starts the
 * bridge's thread, which connects in the background.  NULL with a
 * message in err.
 */
struct bw_mqtt_bridge *bw_mqtt_open (const struct bw_mqtt_cfg *cfg,
                                     char *err, size_t errlen);
struct bw_sink *bw_mqtt_sink (struct bw_mqtt_bridge *b);
void bw_mqtt_get_stats (struct bw_mqtt_bridge *b, struct bw_mqtt_stats *s);
/* The certificate, key and CA files were replaced: the bridge
 * reconnects to read them again (Paho reads them only when it makes a
 * connection), after the messages in flight were acknowledged, or
 * sends those again on the new connection.  Returns at once; for any
 * thread.
 */
void bw_mqtt_renew (struct bw_mqtt_bridge *b);
/* Waits up to ms for every message to be delivered; whether it was. */
bool bw_mqtt_flush (struct bw_mqtt_bridge *b, unsigned ms);
/* Delivers what it can within drain_ms, says "offline", disconnects,
 * frees; what could not be delivered is logged.  The last figures go
 * to *last unless it is NULL.
 */
void bw_mqtt_close (struct bw_mqtt_bridge *b, struct bw_mqtt_stats *last);

/* The MQTT 5 properties of an event's message (added to props): what
 * it is, for brokers and subscribers that look at properties rather
 * than payloads.  Type 0 for messages that are not events.
 */
void bw_mqtt_properties (enum bw_event_type type, uint64_t seq,
                         unsigned expiry, MQTTProperties *props);

#endif /* BLOCKWATCH_MQTT_BRIDGE_H */
