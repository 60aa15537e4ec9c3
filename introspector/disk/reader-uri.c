/* The reader a storage URI names (see reader.h): the same URIs the
 * plugin's backends take, so the introspector reads what the proxy
 * serves, whatever it is.
 */

#include <stdio.h>

#include "reader.h"
#include "storage/storage-uri.h"

struct bw_reader *
bw_reader_open_uri (const char *uri, bool writable, unsigned reconnect_s,
                    char *err, size_t errlen)
{
  const char *path;
  enum storage_kind kind = storage_kind (uri);

  switch (kind) {
  case STORAGE_EMPTY:
    snprintf (err, errlen, "empty storage path or URI");
    return NULL;
  case STORAGE_FILE:
    path = storage_file_path (uri);
    if (*path == '\0') {
      snprintf (err, errlen, "empty path in '%s'", uri);
      return NULL;
    }
    return bw_reader_open_file (path, writable, err, errlen);
  case STORAGE_NBD:
  case STORAGE_ISCSI:
    /* Writing is for offline scratch copies; storage a proxy serves is
     * the guest's, and only ever read.
     */
    if (writable) {
      snprintf (err, errlen, "%s: network storage is opened read-only; "
                "writing needs an image file",
                kind == STORAGE_NBD ? "nbd" : "iscsi");
      return NULL;
    }
    return kind == STORAGE_NBD
      ? bw_reader_open_nbd (uri, reconnect_s, err, errlen)
      : bw_reader_open_iscsi (uri, err, errlen);
  case STORAGE_UNKNOWN:
    break;
  }
  /* Not the whole URI: it may hold a password. */
  snprintf (err, errlen, "unknown storage URI scheme '%.*s' (use "
            STORAGE_URI_FORMS ")", storage_scheme_len (uri), uri);
  return NULL;
}
