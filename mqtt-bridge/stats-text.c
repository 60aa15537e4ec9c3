/* What a bridge did, in one line for people: `blockwatch watch' prints
 * it when it ends, and so does the test tool that drives the bridge
 * alone, so what the tests read is what an operator sees.
 */

#include <inttypes.h>
#include <stdio.h>

#include "mqtt-bridge.h"

void
bw_mqtt_stats_text (const struct bw_mqtt_stats *s, char *buf, size_t len)
{
  char unconfirmed[64] = "";

  /* Dropped events that had been sent once may have reached the
   * broker: the subscribers miss at least dropped - unconfirmed.
   */
  if (s->dropped_unconfirmed)
    snprintf (unconfirmed, sizeof unconfirmed,
              " (%" PRIu64 " of them sent before, perhaps received)",
              s->dropped_unconfirmed);
  snprintf (buf, len, "%" PRIu64 " published, %" PRIu64 " filtered out, %"
            PRIu64 " dropped%s, %" PRIu64 " refused by the broker",
            s->published, s->filtered, s->dropped, unconfirmed, s->refused);
}
