/* libFuzzer target: bytes as blockwatchd's configuration file
 * (appliance/blockwatchd/config.c, over inih), loaded and checked as
 * `blockwatchd --check` does.
 *
 * A refusal must say where: "FILE:LINE: what", LINE a line of the
 * input, or "FILE: what" for the file as a whole.  An accepted file
 * must make a complete configuration (every disk with its vm, backend
 * and export, the programs and directories filled in), its disks'
 * commands must build, copy and compare equal, and the options it
 * hands the MQTT bridge must be ones the bridge takes
 * (mqtt-bridge/options.c), as must its data policy: what --check
 * accepts does not fail later in a child.  abort() on any difference,
 * so libFuzzer keeps the input; any crash, sanitizer report or leak is
 * a bug.
 */

#include <ctype.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "blockwatchd/command.h"
#include "blockwatchd/config-value.h"
#include "event-sink.h"
#include "options.h"

static const struct option bridge_opts[] = {
  MQTT_CONN_OPTIONS, MQTT_PUBLISH_OPTIONS, { NULL, 0, NULL, 0 }
};

/* The lines of the input, as an editor counts them. */
static long
lines_of (const uint8_t *data, size_t size)
{
  long n = 0;

  for (size_t i = 0; i < size; i++)
    n += data[i] == '\n';
  return n + (size == 0 || data[size - 1] != '\n');
}

static void
check_refusal (const char *path, const char *err, const uint8_t *data,
               size_t size)
{
  size_t pl = strlen (path);
  const char *p = err + pl + 1;
  char *end;
  long line;

  if (strncmp (err, path, pl) != 0 || err[pl] != ':')
    goto bad;
  if (*p == ' ' && p[1] != '\0')
    return;                   /* the file as a whole */
  line = strtol (p, &end, 10);
  if (!isdigit ((unsigned char) *p) || *end != ':' || end[1] != ' ' ||
      end[2] == '\0' || line < 1 || line > lines_of (data, size))
    goto bad;
  return;
 bad:
  fprintf (stderr, "refused without FILE:LINE: %s\n", err);
  abort ();
}

/* The bridge's options in a watch command are ones it takes. */
static void
check_watch_argv (char **argv)
{
  struct bw_mqtt_cfg m = { 0 };
  struct bw_data_policy_cfg pol;

  for (; *argv; argv++) {
    const char *a = *argv, *eq = strchr (a, '=');
    if (strncmp (a, "--data=", 7) == 0 && parse_data_policy (a + 7, &pol))
      abort ();
    for (const struct option *o = bridge_opts; o->name && eq; o++)
      if (strlen (o->name) == (size_t) (eq - a - 2) &&
          strncmp (a + 2, o->name, eq - a - 2) == 0 &&
          mqtt_publish_option (o->val, eq + 1, &m, "fuzz-config") != 1)
        abort ();
    if (strcmp (a, "--mqtt-plaintext") == 0)
      mqtt_publish_option (OPT_PLAINTEXT, NULL, &m, "fuzz-config");
  }
  bw_filter_free (&m.filter);
}

static void
check_config (const struct bwd_config *c)
{
  char msg[256];

  if (c->ndisks == 0 || c->host == NULL || c->run_dir == NULL ||
      c->state_dir == NULL ||
      c->nbdkit == NULL || c->plugin == NULL || c->blockwatch == NULL)
    abort ();
  for (size_t i = 0; i < c->ndisks; i++) {
    const struct bwd_disk *d = &c->disks[i];
    struct command cmds[NROLES], copy;

    /* A disk is exported once: over NBD (a socket or a port), or as an
     * iSCSI target.
     */
    int exports = (d->listen.socket != NULL) + (d->listen.port != NULL) +
                  (d->iscsi.target != NULL);

    if (value_disk_name (d->name, msg, sizeof msg) == -1 ||
        bwd_config_disk (c, d->name) != d || d->vm == NULL ||
        d->backend == NULL || exports != 1)
      abort ();
    if (disk_commands (c, d, cmds) == -1)
      abort ();
    for (int r = 0; r < NROLES; r++) {
      if (r == ROLE_ISCSI && d->iscsi.target == NULL) {
        if (cmds[r].argv.n != 0)        /* a role the disk does not have */
          abort ();
        continue;
      }
      if (cmds[r].argv.v == NULL || cmds[r].argv.v[cmds[r].argv.n] != NULL ||
          command_copy (&copy, &cmds[r]) == -1 ||
          !command_equal (&copy, &cmds[r]))
        abort ();
      command_free (&copy);
    }
    check_watch_argv (cmds[ROLE_WATCH].argv.v);
    for (int r = 0; r < NROLES; r++)
      command_free (&cmds[r]);
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static int fd = -1;
  static char path[64];
  struct bwd_config *c;
  char err[1024] = "";

  /* The file lives in memory, rewritten for each input. */
  if (fd == -1) {
    fd = memfd_create ("blockwatch.conf", 0);
    if (fd == -1)
      abort ();
    snprintf (path, sizeof path, "/proc/self/fd/%d", fd);
  }
  if (ftruncate (fd, 0) == -1 ||
      (size && pwrite (fd, data, size, 0) != (ssize_t) size))
    abort ();
  c = bwd_config_load (path, NULL, err, sizeof err);
  if (c == NULL)
    check_refusal (path, err, data, size);
  else
    check_config (c);
  bwd_config_free (c);
  return 0;
}
