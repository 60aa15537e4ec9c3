/* libFuzzer target: a small disk image, crawled, then changed by tap
 * records and reconciled, as offline replay does: the engine writes
 * each record into the image before it handles it.  The input's format
 * is in ext4-feed.h; the seeds (tests/fuzz/corpus/ext4/) are made by
 * tests/fuzz/make-ext4-seeds.sh.
 */

#include "ext4-feed.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const struct ext4_feed_mode offline = { .online = false };

  ext4_feed (data, size, &offline);
  return 0;
}
