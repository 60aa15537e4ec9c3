/* One iSCSI target in a tgtd of its own (see tgt-target.h). */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <xxhash.h>

#include "subprocess.h"
#include "tgt-target.h"

#define TGTADM_MS 10000
#define MAX_ARGS 32

/* tgtadm with the NULL-terminated arguments, its output in out (if
 * out).  what names the step in messages: an argument may be a secret.
 */
static int __attribute__ ((sentinel))
tgtadm (const char *what, char *out, size_t outlen, ...)
{
  char *argv[MAX_ARGS + 1], label[128], sink[4096];
  int n = 0, r;
  va_list ap;

  argv[n++] = "tgtadm";
  va_start (ap, outlen);
  while (n < MAX_ARGS && (argv[n] = va_arg (ap, char *)) != NULL)
    n++;
  va_end (ap);
  argv[n] = NULL;
  snprintf (label, sizeof label, "blockwatch iscsi-target: tgtadm (%s)",
            what);
  /* Output not asked for is kept from the log: "show" is chatty. */
  r = sub_run (label, argv, TGTADM_MS, out ? out : sink,
               out ? outlen : sizeof sink);
  if (r > 0)
    fprintf (stderr, "%s: failed with status %d\n", label, r);
  return r == 0 ? 0 : -1;
}

/* tgtd lists its portals as "Portal: ADDRESS:PORT,TPGT" lines. */
static int
check_portal (const struct tgt_target *t)
{
  char out[4096], want[128];

  if (tgtadm ("list the portals", out, sizeof out, "--lld", "iscsi",
              "--op", "show", "--mode", "portal", NULL) == -1)
    return -1;
  snprintf (want, sizeof want, "Portal: %s,1\n", t->portal);
  if (strcmp (out, want) == 0)
    return 0;
  for (char *p = out; (p = strchr (p, '\n')) != NULL; )
    *p = p[1] ? ';' : '\0';
  fprintf (stderr, "blockwatch iscsi-target: tgtd does not listen on %s "
           "alone (it lists: %s); its messages above say why\n", t->portal,
           *out ? out : "nothing");
  return -1;
}

/* The LUN's identity.  tgtd would give every LUN 1 of every target id
 * 1 the same serial number and device identifier, and an initiator's
 * multipath layer takes two devices with one identifier for two paths
 * to one disk: each target gets its own, from its name (which is
 * unique, and stays the same across restarts).
 */
static int
set_identity (const struct tgt_target *t)
{
  unsigned long long h = XXH3_64bits (t->iqn, strlen (t->iqn));
  char params[256];

  snprintf (params, sizeof params, "vendor_id=BLKWATCH,product_id=blockwatch,"
            "product_rev=1,scsi_id=blockwatch-%016llx,scsi_sn=%016llx%s", h,
            h, t->readonly ? ",readonly=1" : "");
  return tgtadm ("set the LUN's identity", NULL, 0, "--lld", "iscsi",
                 "--op", "update", "--mode", "logicalunit", "--tid", "1",
                 "--lun", "1", "--params", params, NULL);
}

/* Who may log in: tgtd lets in an initiator whose address is in the
 * address list or whose name is in the name list.
 */
static int
bind_initiators (const struct tgt_target *t)
{
  for (size_t i = 0; i < t->naddresses; i++)
    if (tgtadm ("allow an initiator address", NULL, 0, "--lld", "iscsi",
                "--op", "bind", "--mode", "target", "--tid", "1",
                "--initiator-address", t->addresses[i], NULL) == -1)
      return -1;
  for (size_t i = 0; i < t->nnames; i++)
    if (tgtadm ("allow an initiator name", NULL, 0, "--lld", "iscsi",
                "--op", "bind", "--mode", "target", "--tid", "1",
                "--initiator-name", t->names[i], NULL) == -1)
      return -1;
  if (t->naddresses + t->nnames == 0)
    return tgtadm ("allow every initiator", NULL, 0, "--lld", "iscsi",
                   "--op", "bind", "--mode", "target", "--tid", "1",
                   "--initiator-address", "ALL", NULL);
  return 0;
}

int
tgt_configure (const struct tgt_target *t, bool *created)
{
  if (check_portal (t) == -1 ||
      tgtadm ("create the target", NULL, 0, "--lld", "iscsi", "--op", "new",
              "--mode", "target", "--tid", "1", "--targetname", t->iqn,
              NULL) == -1)
    return -1;
  *created = true;
  if (tgtadm ("create the LUN", NULL, 0, "--lld", "iscsi", "--op", "new",
              "--mode", "logicalunit", "--tid", "1", "--lun", "1",
              "--backing-store", t->backing, "--bstype", "rdwr",
              "--bsoflags", "direct", NULL) == -1 ||
      set_identity (t) == -1)
    return -1;
  if (t->chap_user &&
      (tgtadm ("add the CHAP account", NULL, 0, "--lld", "iscsi", "--op",
               "new", "--mode", "account", "--user", t->chap_user,
               "--password", t->chap_secret, NULL) == -1 ||
       tgtadm ("require CHAP", NULL, 0, "--lld", "iscsi", "--op", "bind",
               "--mode", "account", "--tid", "1", "--user", t->chap_user,
               NULL) == -1))
    return -1;
  return bind_initiators (t);
}

int
tgt_shutdown (bool created)
{
  if (created)
    tgtadm ("remove the target", NULL, 0, "--lld", "iscsi", "--op",
            "delete", "--mode", "target", "--tid", "1", "--force", NULL);
  return tgtadm ("stop tgtd", NULL, 0, "--op", "delete", "--mode", "system",
                 NULL);
}
