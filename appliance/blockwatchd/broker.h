/* blockwatchd's own connection to the broker: the appliance's presence.
 *
 * blockwatch/HOST/$status (retained) says "online" while blockwatchd
 * is connected and "offline" once it has stopped every disk; if it
 * dies (SIGKILL, a crash, the host gone), the broker publishes the
 * "offline" of the connection's Last Will.  Each disk's introspector
 * has its own connection and $status (the MQTT bridge's); this one
 * says whether the appliance itself is there, so that a quiet disk is
 * not taken for a watched one when nothing watches.
 *
 * It is an MQTT bridge without vm and disk (mqtt-bridge.h): the same
 * TLS settings, checks, reconnection and explanations as the
 * introspectors' bridges, on the bridge's own thread.  That thread only
 * writes to our log (log.c writes whole lines from any thread); the
 * daemon's state stays the main loop's.
 */
#ifndef BLOCKWATCHD_BROKER_H
#define BLOCKWATCHD_BROKER_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct broker;

/* What can be checked without connecting: the URI, the certificate and
 * key files (under root, if not NULL: a configuration for a system
 * installed there), the cipher list.  -1 with err.  c has a [broker].
 */
int broker_check (const struct bwd_config *c, const char *root, char *err,
                  size_t errlen);
/* Connects in the background as c's [broker] says (c has one).  NULL
 * with err.
 */
struct broker *broker_open (const struct bwd_config *c, char *err,
                            size_t errlen);
/* Says "offline", disconnects and frees (a few seconds at most);
 * NULL: nothing.
 */
void broker_close (struct broker *b);
bool broker_connected (struct broker *b);
/* Whether configurations a and b connect the same way: a reload keeps
 * the connection.
 */
bool broker_same (const struct bwd_config *a, const struct bwd_config *b);
/* The certificate files replaced at the same paths: reconnects to read
 * them again (mqtt-bridge.h, bw_mqtt_renew).
 */
void broker_renew (struct broker *b);
/* What [broker]'s CA, certificate and key files are now: for each (and
 * each file of the CA directory) its path, inode, size, modification
 * and change times.  A rotation replaces a file (a new inode) or
 * rewrites it (new times: the change time cannot be set back), so two
 * stamps that differ tell a reload the files changed; a change that
 * is not one (chmod) costs a reconnection, nothing more.  NULL: no
 * memory.
 */
char *broker_files_stamp (const struct bwd_broker *b);

#endif /* BLOCKWATCHD_BROKER_H */
