/* mqtt-topics: checks the topics events arrived on.
 *
 *   mosquitto_sub ... -F '%t\t%p' | mqtt-topics
 *
 * For each TOPIC<tab>PAYLOAD line whose payload is an event: the topic
 * must be the one its host, vm, disk, partition and path make
 * (docs/events.md, "Topics"), and must parse back to them, the path
 * byte for byte (or its leading part for a topic cut with $long).
 * Other messages ($status, $stats) are counted.  Prints
 *   N events, F folded, C cut, O other
 * (folded: deeper than topics go, the rest in the last level).
 * and exits 1 at the first topic that is wrong.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "topic.h"

int
main (void)
{
  unsigned long events = 0, folded = 0, cut = 0, other = 0;
  struct bw_parsed_event pe;
  struct bw_topic tp;
  char *line = NULL, *tab, *disk, *want, err[128];
  size_t cap = 0;
  ssize_t n;

  while ((n = getline (&line, &cap, stdin)) > 0) {
    if (line[n - 1] == '\n')
      line[--n] = '\0';
    tab = strchr (line, '\t');
    if (tab == NULL ||
        bw_event_from_json (tab + 1, strlen (tab + 1), &pe, err, sizeof err)
        == -1) {
      other++;
      continue;
    }
    *tab = '\0';
    disk = bw_topic_disk (pe.ev.host, pe.ev.vm, pe.ev.disk);
    want = disk ? bw_topic_event (disk, &pe.ev) : NULL;
    if (want == NULL || strcmp (want, line) != 0) {
      fprintf (stderr, "mqtt-topics: event %s on %s, expected %s\n", tab + 1,
               line, want ? want : "(none)");
      return 1;
    }
    if (bw_topic_parse (line, &tp) == -1 || tp.part != pe.ev.part ||
        (pe.ev.path && (tp.path_len > pe.ev.path_len ||
                        memcmp (tp.path, pe.ev.path, tp.path_len) != 0 ||
                        (!tp.path_cut && tp.path_len != pe.ev.path_len)))) {
      fprintf (stderr, "mqtt-topics: %s does not parse back to its event\n",
               line);
      return 1;
    }
    events++;
    if (pe.ev.path) {
      size_t names = 0;

      for (size_t i = 0; i < pe.ev.path_len; i++)
        names += pe.ev.path[i] == '/';
      folded += names > BW_TOPIC_PATH_LEVELS;
    }
    cut += tp.path_cut;
    bw_topic_free (&tp);
    free (want);
    free (disk);
    bw_parsed_event_free (&pe);
  }
  free (line);
  printf ("%lu events, %lu folded, %lu cut, %lu other\n", events, folded, cut,
          other);
  return 0;
}
