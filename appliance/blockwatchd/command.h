/* The processes blockwatchd runs for a disk, as data: what to execute
 * and the files around it.  Built from the configuration (command.c),
 * compared at a reload (a process whose command is unchanged is left
 * alone), executed by child.c.
 */
#ifndef BLOCKWATCHD_COMMAND_H
#define BLOCKWATCHD_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"

/* A disk's processes, in the order they start (and stop in reverse):
 * the introspector first, so that it has crawled the disk and listens
 * for the tap before the proxy serves the guest; then, for a disk
 * exported over iSCSI, the front end (blockwatch iscsi-target), a
 * client of the proxy's export.
 */
enum role { ROLE_WATCH, ROLE_NBDKIT, ROLE_ISCSI, NROLES };

/* The name in logs and metrics. */
const char *role_name (enum role r);

struct argv {
  char **v;                   /* NULL-terminated */
  size_t n, cap;
  bool oom;                   /* an add failed: the vector is unusable */
};

void argv_add (struct argv *a, const char *s);
void argv_addf (struct argv *a, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));
void argv_free (struct argv *a);

struct command {
  struct argv argv;
  /* stdout appended to this file of lines (a line a killed process cut
   * short is removed first); NULL: the log.
   */
  char *out;
  char *ready;                /* appears when the process is ready */
  char *stats;                /* its stats file; NULL: none */
  char *leftover;             /* a socket it leaves behind when it exits */
  char *user;                 /* run as (when we are root); NULL: as we do */
  uid_t uid;
  gid_t gid;
  /* Added to blockwatchd's nice value; the least oom_score_adj (a
   * higher one, blockwatchd's, is kept).  0: as blockwatchd.  The
   * introspector parses what the guest wrote, a hostile guest's too:
   * whatever that costs, the proxy on the same host must not be the
   * one that waits for a CPU or that the kernel kills for memory.
   */
  unsigned nice, oom_score_adj;
};

/* In a disk's state directory: the introspector's --run-mark.  Not in
 * its run directory: a run that stopped with events undelivered must be
 * known to the next one after blockwatchd stopped, or the machine
 * rebooted, too.
 */
#define RUN_MARK "introspector.undelivered"

/* The run directory of a disk: <run-dir>/<name>.  NULL: no memory. */
char *disk_dir (const struct bwd_config *c, const struct bwd_disk *d);
/* Its state directory: <state-dir>/<name>.  NULL: no memory. */
char *disk_state_dir (const struct bwd_config *c, const struct bwd_disk *d);

/* The commands of disk d, cmds[ROLE_*]; a role the disk does not have
 * (no iSCSI) gets an empty command (argv.n == 0).  -1: out of memory.
 */
int disk_commands (const struct bwd_config *c, const struct bwd_disk *d,
                   struct command cmds[NROLES]);
bool command_equal (const struct command *a, const struct command *b);
/* A deep copy; -1: out of memory. */
int command_copy (struct command *dst, const struct command *src);
void command_free (struct command *cmd);

#endif /* BLOCKWATCHD_COMMAND_H */
