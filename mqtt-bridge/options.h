/* The command-line form of the bridge's settings, shared by blockwatch
 * watch (publishing), blockwatch sub (the connection part) and the
 * test and benchmark tools.  A configuration file fills the same
 * structs.
 */
#ifndef BLOCKWATCH_MQTT_OPTIONS_H
#define BLOCKWATCH_MQTT_OPTIONS_H

#include <getopt.h>

#include "mqtt-bridge.h"

enum {
  OPT_MQTT = 0x1000, OPT_PLAINTEXT, OPT_CAFILE, OPT_CAPATH, OPT_CERT,
  OPT_KEY, OPT_CIPHERS, OPT_MQTT_VERSION, OPT_CLIENT_ID, OPT_QOS,
  OPT_WINDOW, OPT_BUF_MSGS, OPT_BUF_BYTES, OPT_EXPIRY, OPT_STATS,
  OPT_DRAIN, OPT_INCLUDE, OPT_EXCLUDE, OPT_TYPE, OPT_NOT_TYPE,
  OPT_MQTT_LAST,              /* commands number their own from here */
};

#define MQTT_CONN_OPTIONS \
  { "mqtt", required_argument, NULL, OPT_MQTT }, \
  { "mqtt-plaintext", no_argument, NULL, OPT_PLAINTEXT }, \
  { "cafile", required_argument, NULL, OPT_CAFILE }, \
  { "capath", required_argument, NULL, OPT_CAPATH }, \
  { "cert", required_argument, NULL, OPT_CERT }, \
  { "key", required_argument, NULL, OPT_KEY }, \
  { "ciphers", required_argument, NULL, OPT_CIPHERS }, \
  { "mqtt-version", required_argument, NULL, OPT_MQTT_VERSION }, \
  { "client-id", required_argument, NULL, OPT_CLIENT_ID }, \
  { "qos", required_argument, NULL, OPT_QOS }

#define MQTT_PUBLISH_OPTIONS \
  { "window", required_argument, NULL, OPT_WINDOW }, \
  { "buffer-messages", required_argument, NULL, OPT_BUF_MSGS }, \
  { "buffer-bytes", required_argument, NULL, OPT_BUF_BYTES }, \
  { "expiry", required_argument, NULL, OPT_EXPIRY }, \
  { "stats", required_argument, NULL, OPT_STATS }, \
  { "drain", required_argument, NULL, OPT_DRAIN }, \
  { "include", required_argument, NULL, OPT_INCLUDE }, \
  { "exclude", required_argument, NULL, OPT_EXCLUDE }, \
  { "type", required_argument, NULL, OPT_TYPE }, \
  { "not-type", required_argument, NULL, OPT_NOT_TYPE }

#define MQTT_CONN_USAGE \
  "  --mqtt mqtts://HOST[:PORT]   the broker (TLS; port 8883 by default)\n" \
  "  --cafile FILE, --capath DIR  CAs that sign the broker's certificate\n" \
  "  --cert FILE --key FILE       client certificate and key (mutual TLS)\n" \
  "  --ciphers LIST               OpenSSL cipher list (TLS 1.2)\n" \
  "  --mqtt-version 5|3.1.1       (5)    --qos 0|1 (1)    --client-id ID\n" \
  "  --mqtt-plaintext             allow mqtt:// (no TLS: loopback tests)\n"

#define MQTT_PUBLISH_USAGE \
  "  --window N (64)              messages in flight at most\n" \
  "  --buffer-messages N (600000), --buffer-bytes N (268435456)\n" \
  "                               the offline buffer\n" \
  "  --expiry SECONDS             MQTT 5 message expiry\n" \
  "  --stats SECONDS (60)         $stats period, 0 for none\n" \
  "  --drain SECONDS (10)         at exit, time to deliver the rest\n" \
  "  --include GLOB, --exclude GLOB     paths to publish (escaped, ** for\n" \
  "                               any depth)\n" \
  "  --type GLOB, --not-type GLOB       event types to publish\n"

/* 1 if option c (its argument arg) is one of MQTT_CONN_OPTIONS, put into
 * conn and *qos; 0 if it is not; -1 for a bad value (said on stderr,
 * the message starting with cmd).
 */
int mqtt_conn_option (int c, const char *arg, struct bw_mqtt_conn *conn,
                      int *qos, const char *cmd);
/* The same for MQTT_CONN_OPTIONS and MQTT_PUBLISH_OPTIONS into cfg. */
int mqtt_publish_option (int c, const char *arg, struct bw_mqtt_cfg *cfg,
                         const char *cmd);
/* A count or a number of seconds; -1 (said) if not one. */
long mqtt_number (const char *arg, const char *what, const char *cmd);

#endif /* BLOCKWATCH_MQTT_OPTIONS_H */
