/* Appending tap items to a trace file (docs/tap-format.md), as the
 * consumers that keep one write them: blockwatch tap-recv --record and
 * blockwatch watch --record.
 */
#ifndef BLOCKWATCH_TRACE_APPEND_H
#define BLOCKWATCH_TRACE_APPEND_H

#include <stdio.h>

#include "tap/tap-reader.h"

/* Appends IT to F; -1 with errno set when the write fails. */
int trace_append_item (FILE *f, const struct tap_item *it);

#endif
