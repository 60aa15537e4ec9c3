/* Sizes as people write them: "4M", "65536", "1G". */
#ifndef BLOCKWATCH_SIZE_H
#define BLOCKWATCH_SIZE_H

#include <stdint.h>

/* A number, with a suffix K, M, G or T (powers of 1024) or none, from
 * min to max bytes, into *out; -1 if it is not that.
 */
int bw_parse_size (const char *v, uint64_t min, uint64_t max, uint64_t *out);

#endif /* BLOCKWATCH_SIZE_H */
