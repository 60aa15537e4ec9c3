/* crc32c as ext4 and jbd2 use it (seeded, no final inversion: what
 * libext2fs's ext2fs_crc32c_le computes), with the CPU's crc32
 * instruction where there is one: checksums of every inode a crawl
 * reads would otherwise take more time than the rest of the crawl.
 */
#ifndef BLOCKWATCH_CRC32C_H
#define BLOCKWATCH_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t bw_crc32c (uint32_t crc, const void *p, size_t len);

#endif /* BLOCKWATCH_CRC32C_H */
