/* The consumer's end of a tap connection (tap=unix:PATH).
 *
 * The plugin connects, sends a hello (stream header, ring descriptor
 * and a read-only descriptor of its ring), then doorbells.  Records are
 * read in place from the mapped ring and stay valid until they are
 * acknowledged.  Everything from the plugin is checked before use: a
 * consumer must survive a broken or hostile peer.
 */
#ifndef BLOCKWATCH_TAP_CLIENT_H
#define BLOCKWATCH_TAP_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "tap-reader.h"

struct tap_client;

/* A socket listening at path for the plugin (tap=unix:PATH); a socket
 * left there by a consumer before is replaced, anything else is not.
 * -1 with err.
 */
int tap_client_listen (const char *path, char *err, size_t errlen);

/* Accepts one connection on a listening socket and reads its hello,
 * waiting at most timeout_ms for it.  NULL with err on failure.
 */
struct tap_client *tap_client_accept (int listen_fd, int timeout_ms,
                                      char *err, size_t errlen);
void tap_client_close (struct tap_client *c);

/* The connection, to poll for POLLIN (doorbells, or the plugin going). */
int tap_client_fd (const struct tap_client *c);

/* Reads the doorbells that have arrived, without blocking.  0 fine,
 * -1 with err when the plugin went away (*closed set if it closed
 * cleanly) or broke the protocol.
 */
int tap_client_receive (struct tap_client *c, bool *closed,
                        char *err, size_t errlen);

/* The next item: first the stream header, then each record the
 * doorbells announced.  1 item, 0 nothing now, -1 malformed (err).
 * A record's pointers stay valid until it is acknowledged.
 */
int tap_client_next (struct tap_client *c, struct tap_item *item,
                     char *err, size_t errlen);

/* A plugin over a file or block device may defer large writes' bytes:
 * they are then read from the storage by tap_client_next (see
 * nbdkit-plugin/tap-defer.h), into memory that stays valid until the
 * record is acknowledged.  A consumer that never looks at payloads
 * calls this to skip those reads: such records then come with payload
 * NULL.
 */
void tap_client_skip_deferred (struct tap_client *c);

/* A deferred write whose bytes could not be read (the plugin could not
 * keep them before an overwrite, or the storage would not give them to
 * us) comes as a write with TAP_F_PAYLOAD_LOST, payload_len 0 and
 * payload NULL: the write happened, what it wrote is unknown.  This
 * says why, for the last such record.
 */
const char *tap_client_loss_reason (const struct tap_client *c);

/* Memory holding deferred payloads read so far (bytes of the shadow
 * ever touched): about the most the consumer had read and not yet
 * acknowledged at once, at most the ring's size.
 */
size_t tap_client_shadow_resident (const struct tap_client *c);

/* Tells the plugin every record up to seq is handled. */
int tap_client_ack (struct tap_client *c, uint64_t seq);

#endif /* BLOCKWATCH_TAP_CLIENT_H */
