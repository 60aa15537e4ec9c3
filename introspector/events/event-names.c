/* Names of event and file types: the JSON "type" and "file_type"
 * values, also used in logs.  Part of the schema (docs/events.md):
 * never rename one.
 */

#include <stddef.h>

#include "event.h"

const char *
bw_event_type_name (enum bw_event_type t)
{
  static const char *const names[] = {
    [BW_EV_CREATE] = "create",     [BW_EV_DELETE] = "delete",
    [BW_EV_RENAME] = "rename",     [BW_EV_EXCHANGE] = "exchange",
    [BW_EV_LINK] = "link",         [BW_EV_UNLINK] = "unlink",
    [BW_EV_METADATA] = "metadata",
    [BW_EV_WRITE] = "write",       [BW_EV_TRUNCATE] = "truncate",
    [BW_EV_MOUNT] = "mount",       [BW_EV_UNMOUNT] = "unmount",
    [BW_EV_PARTITION] = "partition", [BW_EV_OVERFLOW] = "overflow",
    [BW_EV_RESYNC] = "resync",
  };

  /* Unsigned: an out-of-range value, negative included, is "unknown"
   * rather than a read outside the table.
   */
  if ((unsigned) t < sizeof names / sizeof names[0] && names[t] != NULL)
    return names[t];
  return "unknown";
}

const char *
bw_file_type_name (enum bw_file_type t)
{
  static const char *const names[] = {
    [BW_FT_UNKNOWN] = "unknown", [BW_FT_REG] = "file",
    [BW_FT_DIR] = "dir",         [BW_FT_SYMLINK] = "symlink",
    [BW_FT_CHR] = "chardev",     [BW_FT_BLK] = "blockdev",
    [BW_FT_FIFO] = "fifo",       [BW_FT_SOCK] = "socket",
  };

  if ((unsigned) t < sizeof names / sizeof names[0])
    return names[t];
  return "unknown";
}
