/* libFuzzer target: the online introspector, as blockwatch watch runs
 * it: a small disk image, crawled, then changed by tap records that
 * reach the storage before the engine, which reads the disk as of the
 * records it handled (the exact view, with its eviction), follows the
 * journal from the writes into it, and holds data written before the
 * metadata that maps it.
 *
 * Input: as fuzz-ext4 (ext4-feed.h), then one byte saying how the
 * storage runs ahead:
 *   bits 0-3  records the storage is ahead of the engine (0-15)
 *   bit 4     the records are stamped before the crawl ended
 *   bits 5-6  the exact view's metadata bound: 1, 2, 4 or 16 blocks
 *   bit 7     its data bound: 1 or 4 blocks
 * Bounds this small (the appliance's least is 64 KiB) have blocks give
 * way on a few records.  The seeds (tests/fuzz/corpus/ext4-live/) are
 * made by tests/fuzz/make-ext4-seeds.sh.
 */

#include "ext4-feed.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const unsigned meta[] = { 1, 2, 4, 16 };
  struct ext4_feed_mode m = { .online = true };
  uint8_t how;

  if (size == 0)
    return 0;
  how = data[--size];
  m.ahead = how & 15;
  m.stale = how & 16;
  m.exact_meta_blocks = meta[how >> 5 & 3];
  m.exact_data_blocks = how & 128 ? 4 : 1;
  ext4_feed (data, size, &m);
  return 0;
}
