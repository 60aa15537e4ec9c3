/* The forms of blockwatchd's configuration values: each parser checks
 * one value and stores it into its field, or says what is wrong in msg
 * (the caller adds file, line and key).
 */
#ifndef BLOCKWATCHD_CONFIG_VALUE_H
#define BLOCKWATCHD_CONFIG_VALUE_H

#include <stdbool.h>
#include <stddef.h>

typedef int (*value_parser) (const char *value, void *field, char *msg,
                             size_t len);

struct key {
  const char *name;
  value_parser parse;
  size_t off;                 /* of the field in the section's struct */
  bool repeat;                /* may be given again: a list */
};

/* char *: text without control characters. */
int value_name (const char *v, void *field, char *msg, size_t len);
/* char *: an absolute path. */
int value_path (const char *v, void *field, char *msg, size_t len);
/* char *: an absolute path, or a name found in $PATH. */
int value_program (const char *v, void *field, char *msg, size_t len);
/* bool: yes/no, true/false, on/off, 1/0. */
int value_bool (const char *v, void *field, char *msg, size_t len);
/* unsigned: 0 to 3600. */
int value_seconds (const char *v, void *field, char *msg, size_t len);
/* unsigned: 0 to 3600000. */
int value_milliseconds (const char *v, void *field, char *msg, size_t len);
int value_nice (const char *v, void *field, char *msg, size_t len);
int value_oom_score_adj (const char *v, void *field, char *msg,
                         size_t len);
/* enum bwd_log_level: error, warning, info, debug. */
int value_log_level (const char *v, void *field, char *msg, size_t len);
/* char *: IPV4:PORT or [IPV6]:PORT, an address literal; "off": NULL. */
int value_metrics (const char *v, void *field, char *msg, size_t len);
/* struct bwd_account: a user that exists (uid, and its group). */
int value_user (const char *v, void *field, char *msg, size_t len);
/* struct bwd_account: a group that exists (gid). */
int value_group (const char *v, void *field, char *msg, size_t len);
/* char *: mqtts://... or mqtt://... */
int value_broker_uri (const char *v, void *field, char *msg, size_t len);
/* int: 0 or 1. */
int value_qos (const char *v, void *field, char *msg, size_t len);
/* char *: 5 or 3.1.1. */
int value_mqtt_version (const char *v, void *field, char *msg, size_t len);
/* int64_t: messages in flight, 1 to 65535. */
int value_window (const char *v, void *field, char *msg, size_t len);
/* int64_t: a count, 1 to 2^31 - 1. */
int value_count (const char *v, void *field, char *msg, size_t len);
/* int64_t: a size (K, M, G: powers of 1024), 1K to 2^31 - 1 bytes. */
int value_bytes (const char *v, void *field, char *msg, size_t len);
/* int64_t: seconds, 0 to 2^31 - 1. */
int value_long_seconds (const char *v, void *field, char *msg, size_t len);
/* struct bwd_list: a path glob (starting with "/") appended. */
int value_path_glob (const char *v, void *field, char *msg, size_t len);
/* struct bwd_list: an event type glob that matches a type, appended. */
int value_type_glob (const char *v, void *field, char *msg, size_t len);
/* struct bwd_list: "PATH-GLOB = POLICY" appended as "PATH-GLOB=POLICY". */
int value_data_rule (const char *v, void *field, char *msg, size_t len);
/* uint64_t: a size (K, M, G, T: powers of 1024) the tap can have. */
int value_tap_buffer (const char *v, void *field, char *msg, size_t len);
/* uint64_t: a bound of the introspector's kept writes, as
 * engine_exact_size takes it.
 */
int value_exact_size (const char *v, void *field, char *msg, size_t len);
/* uint64_t: a bound of a file system's model, as engine_model_size
 * takes it.
 */
int value_model_size (const char *v, void *field, char *msg, size_t len);
/* char *: drop, block or block:MS, as the plugin's tap-overflow=. */
int value_tap_overflow (const char *v, void *field, char *msg, size_t len);
/* char *: none, hash, bytes or bytes:N. */
int value_data_policy (const char *v, void *field, char *msg, size_t len);
/* char *: a storage URI the plugin takes; a file by absolute path. */
int value_backend (const char *v, void *field, char *msg, size_t len);
/* struct bwd_export: unix:PATH or tcp:[ADDRESS:]PORT. */
int value_listen (const char *v, void *field, char *msg, size_t len);
/* char *: off, on or require. */
int value_tls (const char *v, void *field, char *msg, size_t len);
/* char *: an iSCSI name (iqn.YYYY-MM.DOMAIN[:NAME], eui., naa.). */
int value_iscsi_name (const char *v, void *field, char *msg, size_t len);
/* struct iscsi_portal: ADDRESS:PORT or [IPV6]:PORT. */
int value_iscsi_portal (const char *v, void *field, char *msg, size_t len);
/* char *: a CHAP user name. */
int value_chap_user (const char *v, void *field, char *msg, size_t len);
/* char *: initiator addresses (ADDRESS[/PREFIX]) or names, separated by
 * commas; stored without the spaces around them.
 */
int value_initiator_addresses (const char *v, void *field, char *msg,
                               size_t len);
int value_initiator_names (const char *v, void *field, char *msg,
                           size_t len);

/* A disk's name: it names files and metrics, so letters, digits, '.',
 * '_' and '-', not first a '.', at most 64.  -1 with msg if not.
 */
int value_disk_name (const char *name, char *msg, size_t len);

#endif /* BLOCKWATCHD_CONFIG_VALUE_H */
