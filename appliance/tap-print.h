/* One human-readable line per tap item, shared by tap-recv and trace dump. */
#ifndef BLOCKWATCH_TAP_PRINT_H
#define BLOCKWATCH_TAP_PRINT_H

#include <stdio.h>

#include "tap/tap-reader.h"

void tap_print_item (FILE *f, const struct tap_item *item);

#endif /* BLOCKWATCH_TAP_PRINT_H */
