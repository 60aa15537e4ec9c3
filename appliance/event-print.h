/* One human-readable line per event, like a tail -f of the files. */
#ifndef BLOCKWATCH_EVENT_PRINT_H
#define BLOCKWATCH_EVENT_PRINT_H

#include <stdio.h>

#include "events/event.h"

void event_print (FILE *f, const struct bw_event *ev);

#endif /* BLOCKWATCH_EVENT_PRINT_H */
