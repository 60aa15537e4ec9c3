/* iSCSI backend: the URI, the CHAP credentials and the initiator name.
 *
 *   iscsi://[USER[%PASSWORD]@]HOST[:PORT]/TARGET-IQN/LUN
 *
 * CHAP credentials come from the URI or from user= and password=,
 * which override it.  The initiator name is initiator=IQN, by default
 * DEFAULT_INITIATOR below: one fixed name, so a target's ACL can admit
 * "the blockwatch proxy" without knowing which host it runs on.
 */

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iscsi/iscsi.h>

#include "iscsi-lun.h"

#define DEFAULT_INITIATOR   "iqn.2024-01.io.blockwatch:proxy"
#define ISCSI_PREFIX        "iscsi://"
#define URI_SYNTAX ISCSI_PREFIX "[USER[%PASSWORD]@]HOST[:PORT]/TARGET-IQN/LUN"

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
report_bad_uri (const char *uri)
{
  char *pub = public_uri (uri);
  struct iscsi_context *iscsi = iscsi_create_context (DEFAULT_INITIATOR);
  struct iscsi_url *url = NULL;
  const char *why = "", *nl;
  int len = 0;

  if (pub && iscsi && (url = iscsi_parse_full_url (iscsi, pub)) == NULL) {
    why = iscsi_get_error (iscsi);
    if ((nl = strchr (why, '\n')) != NULL)
      why = nl + 1;
    len = strcspn (why, "\n");
  }
  nbdkit_error ("iscsi backend: bad URI '%s': %.*s%sexpected %s",
                pub ? pub : "(not shown)", len, why, len ? "; " : "",
                URI_SYNTAX);
  if (url)
    iscsi_destroy_url (url);
  iscsi_destroy_context (iscsi);
  free (pub);
}

static int
copy_secret (char *dst, const char *src, const char *what)
{
  if (strlen (src) > MAX_STRING_SIZE) {
    nbdkit_error ("iscsi backend: the CHAP %s is longer than %d bytes",
                  what, MAX_STRING_SIZE);
    return -1;
  }
  strcpy (dst, src);
  return 0;
}

/* user= and password= override the URI's USER%PASSWORD@.  libiscsi
 * keeps a URI user only together with a password, so a URI user alone
 * (to be completed by password=) is taken from the URI here.
 */
static int
choose_credentials (const struct backend_config *cfg,
                    const struct iscsi_url *url)
{
  const char *rest = cfg->uri + strlen (ISCSI_PREFIX);
  size_t n = userinfo_len (cfg->uri);
  char uri_user[MAX_STRING_SIZE + 1];

  if (url->user[0])
    strcpy (uri_user, url->user);
  else if (n > 0 && n <= MAX_STRING_SIZE && !memchr (rest, '%', n) &&
           !memchr (rest, ':', n))
    snprintf (uri_user, sizeof uri_user, "%.*s", (int) n, rest);
  else
    uri_user[0] = '\0';

  if (copy_secret (lun.user, cfg->user ? cfg->user : uri_user, "user") == -1 ||
      copy_secret (lun.password, cfg->password ? cfg->password : url->passwd,
                   "password") == -1)
    return -1;
  if (!lun.user[0] != !lun.password[0]) {
    nbdkit_error ("iscsi backend: CHAP needs both a user and a password; "
                  "%s is missing (give user= and password=, or "
                  "USER%%PASSWORD@ in the URI)",
                  lun.user[0] ? "the password" : "the user");
    return -1;
  }
  strcpy (lun.target_user, url->target_user);
  strcpy (lun.target_password, url->target_passwd);
  return 0;
}

/* HOST:PORT, [IPV6]:PORT, or a bare host that means port 3260. */
static bool
portal_has_port (const char *portal)
{
  const char *bracket = strrchr (portal, ']');

  return strchr (bracket ? bracket : portal, ':') != NULL;
}

static int
parse_uri (const struct backend_config *cfg)
{
  struct iscsi_context *iscsi;
  struct iscsi_url *url;
  int r = -1;

  if (strncmp (cfg->uri, ISCSI_PREFIX, strlen (ISCSI_PREFIX)) != 0) {
    nbdkit_error ("iscsi backend: the URI must look like %s", URI_SYNTAX);
    return -1;
  }
  iscsi = iscsi_create_context (DEFAULT_INITIATOR);
  if (iscsi == NULL) {
    nbdkit_error ("iscsi backend: cannot create a libiscsi context");
    return -1;
  }
  url = iscsi_parse_full_url (iscsi, cfg->uri);
  if (url == NULL)
    report_bad_uri (cfg->uri);
  else if (url->lun < 0 || url->lun > 16383)
    nbdkit_error ("iscsi backend: LUN %d out of range 0-16383", url->lun);
  else if (choose_credentials (cfg, url) == 0) {
    strcpy (lun.portal, url->portal);
    strcpy (lun.target, url->target);
    lun.lun = url->lun;
    free (lun.name);
    if (asprintf (&lun.name, ISCSI_PREFIX "%s%s/%s/%d", lun.portal,
                  portal_has_port (lun.portal) ? "" : ":3260",
                  lun.target, lun.lun) == -1)
      nbdkit_error ("iscsi backend: out of memory");
    else
      r = 0;
  }
  if (url)
    iscsi_destroy_url (url);
  iscsi_destroy_context (iscsi);
  return r;
}

int
lun_configure (const struct backend_config *cfg)
{
  if (cfg->initiator && !*cfg->initiator) {
    nbdkit_error ("iscsi backend: initiator= must not be empty");
    return -1;
  }
  lun.initiator = cfg->initiator ? cfg->initiator : DEFAULT_INITIATOR;
  return parse_uri (cfg);
}
