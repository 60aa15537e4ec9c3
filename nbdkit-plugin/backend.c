/* Chooses the backend from the URI's scheme. */

#include <stdbool.h>
#include <string.h>

#include "backend.h"

static bool
has_scheme (const char *uri, const char *scheme)
{
  size_t n = strlen (scheme);

  return strncmp (uri, scheme, n) == 0 && uri[n] == ':';
}

const struct backend *
backend_for_uri (const char *uri)
{
  const char *colon = strchr (uri, ':');
  const char *slash = strchr (uri, '/');

  if (*uri == '\0') {
    nbdkit_error ("empty backend URI");
    return NULL;
  }
  /* No scheme (or a colon only after the first slash, as in
   * ./a:b.img): a plain path.
   */
  if (colon == NULL || (slash && slash < colon) || has_scheme (uri, "file"))
    return &backend_file;
  if (has_scheme (uri, "nbd") || has_scheme (uri, "nbds") ||
      has_scheme (uri, "nbd+unix") || has_scheme (uri, "nbds+unix") ||
      has_scheme (uri, "nbd+vsock") || has_scheme (uri, "nbds+vsock"))
    return &backend_nbd;
  if (has_scheme (uri, "iscsi"))
    return &backend_iscsi;
  nbdkit_error ("backend URI '%s': unknown scheme '%.*s' (use a path, file:, "
                "nbd://, nbds://, nbd+unix://, nbds+unix:// or iscsi://)",
                uri, (int) (colon - uri), uri);
  return NULL;
}
