/* blockwatchd's web view server (see web.h): libmicrohttpd over GnuTLS,
 * in its own thread.
 */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#include "log.h"
#include "mhd-util.h"
#include "web.h"

/* Certificates and keys are a few KiB; anything past this is not one. */
#define PEM_MAX (1 << 20)

struct web {
  struct MHD_Daemon *mhd;
  int dir_fd;
  char *cert, *key;           /* PEM text, kept while the server runs */
};

/* What the page is allowed: its own scripts and style, and WebSockets
 * over TLS to the broker (whose address the user may change); nothing
 * inline, no framing, no form sent anywhere (the password field is
 * read by the script only).
 */
static const char policy[] =
  "default-src 'none'; script-src 'self'; style-src 'self'; "
  "img-src 'self'; connect-src wss:; base-uri 'none'; form-action 'none'; "
  "frame-ancestors 'none'";

static const struct { const char *ext, *type; } types[] = {
  { ".html", "text/html; charset=utf-8" },
  { ".js", "text/javascript; charset=utf-8" },
  { ".css", "text/css; charset=utf-8" },
  { ".png", "image/png" },
  { ".svg", "image/svg+xml" },
};

/* The type of a file the server may give: a plain name (no '/', not
 * hidden) with a known extension; NULL for anything else.
 */
static const char *
type_of (const char *name)
{
  size_t n = strlen (name), e;

  if (n == 0 || !isalnum ((unsigned char) name[0]))
    return NULL;
  for (size_t i = 0; i < n; i++)
    if (!isalnum ((unsigned char) name[i]) && !strchr ("._-", name[i]))
      return NULL;
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    e = strlen (types[i].ext);
    if (n > e && strcmp (name + n - e, types[i].ext) == 0)
      return types[i].type;
  }
  return NULL;
}

static enum MHD_Result
respond (struct MHD_Connection *conn, unsigned status, const char *type,
      struct MHD_Response *r)
{
  enum MHD_Result ret;

  if (r == NULL)
    return MHD_NO;
  MHD_add_response_header (r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  MHD_add_response_header (r, "Content-Security-Policy", policy);
  MHD_add_response_header (r, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header (r, "Referrer-Policy", "no-referrer");
  /* The page changes with the appliance's version. */
  MHD_add_response_header (r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
  ret = MHD_queue_response (conn, status, r);
  MHD_destroy_response (r);
  return ret;
}

static enum MHD_Result
handle (void *cls, struct MHD_Connection *conn, const char *url,
        const char *method, const char *version, const char *upload_data,
        size_t *upload_size, void **req)
{
  static const char missing[] = "not found\n";
  struct web *w = cls;
  const char *name, *type;
  struct stat st;
  enum MHD_Result ret;
  int fd = -1;

  (void) version; (void) upload_data; (void) upload_size;
  if (!mhd_ready (method, req, &ret))
    return ret;
  name = strcmp (url, "/") == 0 ? "index.html" : url + 1;
  type = url[0] == '/' ? type_of (name) : NULL;
  if (type)
    fd = openat (w->dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0 && (fstat (fd, &st) == -1 || !S_ISREG (st.st_mode))) {
    close (fd);
    fd = -1;
  }
  if (fd == -1)
    return respond (conn, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8",
                 MHD_create_response_from_buffer (sizeof missing - 1,
                                                  (void *) missing,
                                                  MHD_RESPMEM_PERSISTENT));
  /* The response owns fd from here, even when it cannot be made. */
  return respond (conn, MHD_HTTP_OK, type,
               MHD_create_response_from_fd (st.st_size, fd));
}

/* A PEM file's text, NUL-terminated; NULL with err. */
static char *
read_pem (const char *path, char *err, size_t errlen)
{
  FILE *f = fopen (path, "re");
  char *text = f ? malloc (PEM_MAX + 1) : NULL;
  size_t n = text ? fread (text, 1, PEM_MAX + 1, f) : 0;

  if (text == NULL || ferror (f) || n > PEM_MAX) {
    snprintf (err, errlen, "web: %s: %s", path,
              f == NULL ? strerror (errno) : text == NULL ? "no memory"
              : n > PEM_MAX ? "too large for a PEM file" : "cannot read it");
    free (text);
    if (f)
      fclose (f);
    return NULL;
  }
  fclose (f);
  text[n] = '\0';
  return text;
}

struct web *
web_start (const char *addr, const char *cert, const char *key,
           const char *dir, char *err, size_t errlen)
{
  struct web *w = calloc (1, sizeof *w);
  struct sockaddr_storage ss;
  int af = mhd_sockaddr (addr, &ss);

  if (w == NULL || af == -1) {
    snprintf (err, errlen, "web: %s", w ? "bad address" : "no memory");
    free (w);
    return NULL;
  }
  if (MHD_is_feature_supported (MHD_FEATURE_TLS) != MHD_YES) {
    snprintf (err, errlen, "web: this libmicrohttpd has no TLS");
    free (w);
    return NULL;
  }
  w->dir_fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (w->dir_fd == -1) {
    snprintf (err, errlen, "web: %s: %s", dir, strerror (errno));
    free (w);
    return NULL;
  }
  if ((w->cert = read_pem (cert, err, errlen)) == NULL ||
      (w->key = read_pem (key, err, errlen)) == NULL) {
    web_stop (w);
    return NULL;
  }
  /* The address may be reused: after a reload the new server listens
   * before the old one closes.  TLS 1.2 at least, as on the broker.
   */
  w->mhd = MHD_start_daemon (MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_TLS |
                             MHD_USE_ERROR_LOG |
                             (af == AF_INET6 ? MHD_USE_IPv6 : 0),
                             0, NULL, NULL, handle, w,
                             MHD_OPTION_EXTERNAL_LOGGER, mhd_log, "web",
                             MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &ss,
                             MHD_OPTION_HTTPS_MEM_CERT, w->cert,
                             MHD_OPTION_HTTPS_MEM_KEY, w->key,
                             MHD_OPTION_HTTPS_PRIORITIES,
                             "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
                             MHD_OPTION_LISTENING_ADDRESS_REUSE, 1,
                             MHD_OPTION_CONNECTION_LIMIT, 64,
                             MHD_OPTION_CONNECTION_TIMEOUT, 30,
                             MHD_OPTION_END);
  if (w->mhd == NULL) {
    snprintf (err, errlen, "web: cannot serve https://%s/ (address in use, "
              "or %s and %s are not a certificate and its key?)", addr, cert,
              key);
    web_stop (w);
    return NULL;
  }
  return w;
}

void
web_stop (struct web *w)
{
  if (w == NULL)
    return;
  if (w->mhd)
    MHD_stop_daemon (w->mhd);
  close (w->dir_fd);
  free (w->cert);
  free (w->key);
  free (w);
}
