/* Storage URIs (see storage-uri.h). */

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage-uri.h"

static bool
has_scheme (const char *uri, const char *scheme)
{
  size_t n = strlen (scheme);

  return strncmp (uri, scheme, n) == 0 && uri[n] == ':';
}

enum storage_kind
storage_kind (const char *uri)
{
  const char *colon = strchr (uri, ':');
  const char *slash = strchr (uri, '/');

  if (*uri == '\0')
    return STORAGE_EMPTY;
  /* No scheme (or a colon only after the first slash, as in
   * ./a:b.img): a plain path.
   */
  if (colon == NULL || (slash && slash < colon) || has_scheme (uri, "file"))
    return STORAGE_FILE;
  if (has_scheme (uri, "nbd") || has_scheme (uri, "nbds") ||
      has_scheme (uri, "nbd+unix") || has_scheme (uri, "nbds+unix") ||
      has_scheme (uri, "nbd+vsock") || has_scheme (uri, "nbds+vsock"))
    return STORAGE_NBD;
  if (has_scheme (uri, "iscsi"))
    return STORAGE_ISCSI;
  return STORAGE_UNKNOWN;
}

int
storage_scheme_len (const char *uri)
{
  return strcspn (uri, ":");
}

const char *
storage_file_path (const char *uri)
{
  if (strncmp (uri, "file://", 7) == 0) {
    uri += 7;
    /* file://localhost/x and file:///x both name /x */
    if (strncmp (uri, "localhost/", 10) == 0)
      uri += 9;
    return uri;
  }
  if (strncmp (uri, "file:", 5) == 0)
    return uri + 5;
  return uri;
}

char *
storage_uri_password (const char *uri)
{
  const char *auth = strstr (uri, "://"), *end, *at, *colon;

  if (auth == NULL)
    return NULL;
  auth += 3;
  end = auth + strcspn (auth, "/?#");
  at = memrchr (auth, '@', end - auth);
  if (at == NULL)
    return NULL;
  colon = memchr (auth, ':', at - auth);
  if (colon == NULL || colon + 1 == at)
    return NULL;
  return strndup (colon + 1, at - colon - 1);
}

char *
storage_scrub (char *msg, const char *secret)
{
  size_t len, n = secret ? strlen (secret) : 0;
  char *out, *p, *s = msg;
  FILE *f;

  if (n == 0 || strstr (msg, secret) == NULL)
    return msg;
  f = open_memstream (&out, &len);
  if (f == NULL)
    return msg;
  while ((p = strstr (s, secret)) != NULL) {
    fwrite (s, 1, p - s, f);
    fputs ("***", f);
    s = p + n;
  }
  fputs (s, f);
  if (fclose (f) != 0)
    return msg;
  free (msg);
  return out;
}
