/* libFuzzer target: an event's JSON as a subscriber receives it over
 * MQTT (introspector/events/event-parse.c), and what `blockwatch sub`
 * does with it: filter it by type and channel, print it as a line,
 * name its topic.
 *
 * The input is the message's payload.  Text that parses must print
 * without trouble, and its JSON form (bw_event_to_json) must parse
 * back to the same JSON form: reading an event and writing it again
 * is a fixpoint.  abort() on any difference, so libFuzzer keeps the
 * input; any crash, sanitizer report or leak is a bug.
 */

#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "event-print.h"
#include "topic.h"

static char *
to_json (const struct bw_event *ev)
{
  /* All the data: the fixpoint needs every byte back. */
  struct bw_data_policy_cfg all = { BW_DATA_BYTES, SIZE_MAX };

  return bw_event_to_json (ev, &all);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static FILE *sink;
  static struct bw_channel ch;
  struct bw_parsed_event pe, again;
  char err[256], *json, *json2, *topic;

  if (sink == NULL) {
    sink = fopen ("/dev/null", "w");
    if (sink == NULL ||
        bw_channel_parse ("*:*:/**", &ch, err, sizeof err) == -1)
      abort ();
  }
  if (bw_event_from_json ((const char *) data, size, &pe, err, sizeof err)
      == -1) {
    if (err[0] == '\0')
      abort ();               /* a refusal must say why */
    return 0;
  }
  bw_glob_name ("meta*", bw_event_type_name (pe.ev.type));
  bw_channel_match (&ch, &pe.ev);
  event_print (sink, &pe.ev);
  topic = bw_topic_event ("blockwatch/h/v/d", &pe.ev);
  free (topic);

  json = to_json (&pe.ev);
  if (json == NULL)
    abort ();
  if (bw_event_from_json (json, strlen (json), &again, err, sizeof err)
      == -1) {
    fprintf (stderr, "its own JSON does not parse: %s\n%s\n", err, json);
    abort ();
  }
  json2 = to_json (&again.ev);
  if (json2 == NULL || strcmp (json, json2) != 0) {
    fprintf (stderr, "not a fixpoint:\n%s\n%s\n", json, json2);
    abort ();
  }
  free (json2);
  free (json);
  bw_parsed_event_free (&again);
  bw_parsed_event_free (&pe);
  return 0;
}
