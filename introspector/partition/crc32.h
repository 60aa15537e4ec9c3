/* CRC-32 as GPT uses it for its header and entry array. */
#ifndef BLOCKWATCH_PARTITION_CRC32_H
#define BLOCKWATCH_PARTITION_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* The IEEE 802.3 CRC-32 (reflected, polynomial 0xEDB88320), the same
 * function as zlib's crc32(): start with crc = 0 and pass the result
 * back in to continue over more bytes.
 */
uint32_t bw_crc32 (uint32_t crc, const void *buf, size_t len);

#endif /* BLOCKWATCH_PARTITION_CRC32_H */
