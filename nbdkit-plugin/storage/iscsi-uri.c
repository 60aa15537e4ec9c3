/* iSCSI: the URI and the CHAP credentials (see iscsi-client.h).
 *
 *   iscsi://[USER[%PASSWORD]@]HOST[:PORT]/TARGET-IQN/LUN
 *
 * libiscsi parses it.  Messages never quote what was given, which can
 * hold secrets, only the LUN's name built from the parts.
 */

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iscsi/iscsi.h>

#include "iscsi-client.h"

#define ISCSI_PREFIX        "iscsi://"

/* Length of "USER[%PASSWORD]" in iscsi://USER[%PASSWORD]@HOST..., or 0.
 * Like libiscsi, the first '@' before any '?' ends it.
 */
static size_t
userinfo_len (const char *uri)
{
  const char *rest = uri + strlen (ISCSI_PREFIX);
  const char *at = memchr (rest, '@', strcspn (rest, "?"));

  return at ? (size_t) (at - rest) : 0;
}

/* The URI without credentials and without the query (which can hold
 * target_password): safe to print.
 */
static char *
public_uri (const char *uri)
{
  const char *rest = uri + strlen (ISCSI_PREFIX);
  size_t skip = userinfo_len (uri);
  char *s;

  if (skip)
    rest += skip + 1;
  if (asprintf (&s, ISCSI_PREFIX "%.*s",
                (int) strcspn (rest, "?"), rest) == -1)
    return NULL;
  return s;
}

/* libiscsi's parse errors quote the URI they were given, secrets and
 * all, so a failure is explained by parsing it again without them.
 * Such an error reads "Invalid URL ...\nREASON\niSCSI URL must be
 * ...": only REASON is news.
 */
static void
describe_bad_uri (const char *uri, const char *initiator, char *err,
                  size_t errlen)
{
  char *pub = public_uri (uri);
  struct iscsi_context *iscsi = iscsi_create_context (initiator);
  struct iscsi_url *url = NULL;
  const char *why = "", *nl;
  int len = 0;

  if (pub && iscsi && (url = iscsi_parse_full_url (iscsi, pub)) == NULL) {
    why = iscsi_get_error (iscsi);
    if ((nl = strchr (why, '\n')) != NULL)
      why = nl + 1;
    len = strcspn (why, "\n");
  }
  snprintf (err, errlen, "bad URI '%s': %.*s%sexpected %s",
            pub ? pub : "(not shown)", len, why, len ? "; " : "",
            ISCSI_URI_SYNTAX);
  if (url)
    iscsi_destroy_url (url);
  iscsi_destroy_context (iscsi);
  free (pub);
}

static int
copy_secret (char *dst, const char *src, const char *what, char *err,
             size_t errlen)
{
  if (strlen (src) > MAX_STRING_SIZE) {
    snprintf (err, errlen, "the CHAP %s is longer than %d bytes",
              what, MAX_STRING_SIZE);
    return -1;
  }
  strcpy (dst, src);
  return 0;
}

/* user and password override the URI's USER%PASSWORD@.  libiscsi
 * keeps a URI user only together with a password, so a URI user alone
 * (to be completed by password) is taken from the URI here.
 */
static int
choose_credentials (struct iscsi_where *w, const char *uri,
                    const struct iscsi_url *url, const char *user,
                    const char *password, char *err, size_t errlen)
{
  const char *rest = uri + strlen (ISCSI_PREFIX);
  size_t n = userinfo_len (uri);
  char uri_user[MAX_STRING_SIZE + 1];

  if (url->user[0])
    strcpy (uri_user, url->user);
  else if (n > 0 && n <= MAX_STRING_SIZE && !memchr (rest, '%', n) &&
           !memchr (rest, ':', n))
    snprintf (uri_user, sizeof uri_user, "%.*s", (int) n, rest);
  else
    uri_user[0] = '\0';

  if (copy_secret (w->user, user ? user : uri_user, "user",
                   err, errlen) == -1 ||
      copy_secret (w->password, password ? password : url->passwd,
                   "password", err, errlen) == -1)
    return -1;
  if (!w->user[0] != !w->password[0]) {
    snprintf (err, errlen, "CHAP needs both a user and a password; %s is "
              "missing", w->user[0] ? "the password" : "the user");
    return -1;
  }
  strcpy (w->target_user, url->target_user);
  strcpy (w->target_password, url->target_passwd);
  return 0;
}

/* HOST:PORT, [IPV6]:PORT, or a bare host that means port 3260. */
static bool
portal_has_port (const char *portal)
{
  const char *bracket = strrchr (portal, ']');

  return strchr (bracket ? bracket : portal, ':') != NULL;
}

int
iscsi_where_parse (struct iscsi_where *w, const char *uri, const char *user,
                   const char *password, const char *initiator, char *err,
                   size_t errlen)
{
  struct iscsi_context *iscsi;
  struct iscsi_url *url;
  int r = -1;

  memset (w, 0, sizeof *w);
  w->initiator = initiator;
  if (strncmp (uri, ISCSI_PREFIX, strlen (ISCSI_PREFIX)) != 0) {
    snprintf (err, errlen, "the URI must look like %s", ISCSI_URI_SYNTAX);
    return -1;
  }
  iscsi = iscsi_create_context (initiator);
  if (iscsi == NULL) {
    snprintf (err, errlen, "cannot create a libiscsi context for initiator "
              "%s", initiator);
    return -1;
  }
  url = iscsi_parse_full_url (iscsi, uri);
  if (url == NULL)
    describe_bad_uri (uri, initiator, err, errlen);
  else if (url->lun < 0 || url->lun > 16383)
    snprintf (err, errlen, "LUN %d out of range 0-16383", url->lun);
  else if (choose_credentials (w, uri, url, user, password,
                               err, errlen) == 0) {
    strcpy (w->portal, url->portal);
    strcpy (w->target, url->target);
    w->lun = url->lun;
    if (asprintf (&w->name, ISCSI_PREFIX "%s%s/%s/%d", w->portal,
                  portal_has_port (w->portal) ? "" : ":3260",
                  w->target, w->lun) == -1) {
      w->name = NULL;
      snprintf (err, errlen, "out of memory");
    }
    else
      r = 0;
  }
  if (url)
    iscsi_destroy_url (url);
  iscsi_destroy_context (iscsi);
  if (r == -1)
    iscsi_where_clear (w);
  return r;
}

void
iscsi_where_clear (struct iscsi_where *w)
{
  explicit_bzero (w->password, sizeof w->password);
  explicit_bzero (w->target_password, sizeof w->target_password);
  free (w->name);
  w->name = NULL;
}
