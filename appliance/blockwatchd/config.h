/* blockwatchd's configuration file: one INI file (parsed by inih)
 * describing the appliance, the broker, the policies and one section
 * per disk.  The format is documented in docs/appliance.md, with an
 * example in appliance/blockwatch.conf.example.
 *
 * Everything is checked here, so that a mistake is reported with the
 * file and line it is on, before anything starts: unknown sections and
 * keys, keys given twice, values of the wrong form, missing keys, two
 * disks on one socket, port or iSCSI name.  A loaded configuration is
 * complete: every default is filled in, and each disk carries the
 * policies that apply to it.
 */
#ifndef BLOCKWATCHD_CONFIG_H
#define BLOCKWATCHD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "iscsi-values.h"

#define BWD_DEFAULT_CONFIG "/etc/blockwatch/blockwatch.conf"
#define BWD_DEFAULT_METRICS "127.0.0.1:9810"
#define BWD_DEFAULT_WEB_DIR "/usr/share/blockwatch/web"
#define BWD_DEFAULT_RUN_DIR "/run/blockwatch"
/* Not /var/lib/blockwatch itself, which holds file backends too:
 * state-dir is blockwatchd's alone (it removes the directories of
 * disks no longer configured).
 */
#define BWD_DEFAULT_STATE_DIR "/var/lib/blockwatch/state"

enum bwd_log_level { BWD_LOG_ERROR, BWD_LOG_WARNING, BWD_LOG_INFO,
                     BWD_LOG_DEBUG };

/* The MQTT bridge's time to deliver what is left when it stops. */
#define BWD_BRIDGE_DRAIN_S 10

/* [broker]: handed to each introspector's MQTT bridge as they are, and
 * used by blockwatchd itself for the appliance's $status.
 */
struct bwd_broker {
  char *uri;                  /* NULL: no [broker] section */
  char *ca_file, *ca_path, *cert, *key, *ciphers, *mqtt_version;
  int qos;                    /* -1: the bridge's default */
  bool plaintext;             /* allow mqtt:// (loopback tests) */
  /* -1: the bridge's default */
  int64_t window, buffer_messages, buffer_bytes;
  int64_t expiry, stats_interval, drain;   /* seconds */
  uint64_t seen;              /* keys given (duplicates) */
};

/* A key that may be given several times: its values in order. */
struct bwd_list {
  char **v;
  size_t n;
};

/* [policy], and its keys in a [disk] section, which override it. */
struct bwd_policy {
  uint64_t tap_buffer;        /* bytes; 0: not given */
  char *tap_overflow;         /* drop, block or block:MS; NULL: not given */
  unsigned tap_drain_ms;
  bool has_tap_drain;         /* tap_drain_ms was given (a disk's: here or
                               * in [policy]) */
  char *data;                 /* none, hash, bytes or bytes:N */
  /* What the bridge publishes (mqtt-bridge/filter.h): path and type
   * globs, and data rules "GLOB=POLICY".  A disk that gives one of
   * these lists replaces [policy]'s.
   */
  struct bwd_list include, exclude, type, not_type, data_for;
  uint64_t seen;
};

/* listen = unix:PATH or tcp:[ADDRESS:]PORT */
struct bwd_export {
  char *socket;               /* unix: the export's socket; else NULL */
  char *address, *port;       /* tcp: nbdkit -i ADDRESS (NULL: all) -p PORT */
};

/* iscsi = IQN and the iscsi-* keys: the disk is exported as an iSCSI
 * target (blockwatch iscsi-target) rather than on listen.
 */
struct bwd_iscsi {
  char *target;               /* the IQN; NULL: no iSCSI */
  struct iscsi_portal portal; /* port 0: not given */
  char *chap_user, *chap_password_file;
  char *addresses, *names;    /* initiators allowed, comma-separated;
                               * NULL: none given */
};

struct bwd_account {
  char *name;                 /* NULL: not given */
  uid_t uid;
  gid_t gid;                  /* the user's group, or the group's */
};

struct bwd_disk {
  char *name;                 /* [disk NAME] */
  int line;                   /* of its section header, for messages */
  char *vm;
  char *backend;              /* storage URI, as the plugin takes it */
  /* NBD storage: seconds the plugin retries a lost server (its
   * reconnect-timeout=); not given: the plugin's default.
   */
  unsigned reconnect_timeout_s;
  bool has_reconnect_timeout;
  struct bwd_export listen;
  struct bwd_iscsi iscsi;
  char *tls;                  /* off, on or require */
  char *tls_certificates, *tls_psk;
  bool tls_verify_peer;
  bool readonly;
  char *events_file;          /* JSON lines appended; NULL: none */
  char *record_trace;         /* the tap's records appended; NULL: none */
  /* The introspector's kept writes, bytes (watch --exact-metadata,
   * --exact-data); 0: its default.
   */
  uint64_t exact_meta, exact_data;
  uint64_t model_max;         /* watch --model-max; 0: no bound */
  struct bwd_policy policy;   /* resolved: the disk's, else [policy] */
  uint64_t seen;
};

struct bwd_config {
  char *path;                 /* the file it came from */
  /* [appliance] */
  char *host;
  char *run_dir;              /* what lives while the processes do */
  char *state_dir;            /* what outlives them, and a reboot */
  enum bwd_log_level log_level;
  char *metrics;              /* HOST:PORT, [V6]:PORT; NULL: off */
  /* The web view's page over HTTPS (web.h): where, with what
   * certificate, from which directory.  web NULL: off.
   */
  char *web, *web_cert, *web_key, *web_dir;
  /* Who the children run as, when we are root: user and its group, or
   * group if given.  No user: as we do.
   */
  struct bwd_account user, group;
  char *nbdkit, *plugin, *blockwatch;   /* programs */
  unsigned stop_timeout_s, start_wait_s;
  /* The introspectors yield to the data path: CPU (a nice increment)
   * and memory (the OOM killer takes them first).  command.h.
   */
  unsigned introspector_nice, introspector_oom;
  uint64_t seen;
  struct bwd_broker broker;
  struct bwd_policy policy;
  struct bwd_disk *disks;
  size_t ndisks;
};

/* Loads and checks path.  NULL with a message ("FILE:LINE: ...") in
 * err.  self_dir: where blockwatchd itself is; the programs default to
 * the ones beside it when they are there.
 */
struct bwd_config *bwd_config_load (const char *path, const char *self_dir,
                                    char *err, size_t errlen);
void bwd_config_free (struct bwd_config *c);
/* A copy of [broker] that owns its strings (-1: no memory), and its
 * release.
 */
int bwd_broker_copy (struct bwd_broker *dst, const struct bwd_broker *src);
void bwd_broker_clear (struct bwd_broker *b);

/* The disk named name, or NULL. */
const struct bwd_disk *bwd_config_disk (const struct bwd_config *c,
                                        const char *name);

const char *bwd_log_level_name (enum bwd_log_level l);

#endif /* BLOCKWATCHD_CONFIG_H */
