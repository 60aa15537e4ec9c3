/* Chooses the backend from the URI's scheme. */

#include <stddef.h>

#include "backend.h"
#include "storage/storage-uri.h"

const struct backend *
backend_for_uri (const char *uri)
{
  switch (storage_kind (uri)) {
  case STORAGE_EMPTY:
    nbdkit_error ("empty backend URI");
    return NULL;
  case STORAGE_FILE:
    return &backend_file;
  case STORAGE_NBD:
    return &backend_nbd;
  case STORAGE_ISCSI:
    return &backend_iscsi;
  case STORAGE_UNKNOWN:
    break;
  }
  nbdkit_error ("backend URI '%s': unknown scheme '%.*s' (use "
                STORAGE_URI_FORMS ")", uri, storage_scheme_len (uri), uri);
  return NULL;
}
