/* Supervising one disk: its introspector, its nbdkit and its iSCSI
 * front end if it has one.
 *
 * Each process (a child) is wanted or not, and has the command it
 * runs and the command it should run (they differ after a reload that
 * changed it).  disk_step, called from the main loop, moves every
 * child one step towards what is wanted:
 *
 * - stops go in reverse start order, one at a time (nbdkit first, so
 *   that its tap drains into a living introspector): SIGTERM, then
 *   SIGKILL after stop-timeout;
 * - nothing starts while something of the disk is stopping;
 * - starts go in order, nbdkit once the introspector is ready (its tap
 *   socket exists) or start-wait has passed: a slow crawl must not keep
 *   the guest from its disk forever; the iSCSI front end once nbdkit
 *   is ready, however long that takes;
 * - a child that exits on its own is started again after a back-off
 *   (0.5 s, doubling up to 30 s while it keeps failing quickly); the
 *   other child is left alone: nbdkit's clients reconnect, and a new
 *   introspector gets from the plugin what the old one had not
 *   acknowledged (and reports a loss for what its crawl already saw);
 *   the iSCSI front end reconnects to a restarted nbdkit, and is
 *   restarted only when nbdkit gets a new command.
 */
#ifndef BLOCKWATCHD_DISK_H
#define BLOCKWATCHD_DISK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "command.h"
#include "common/clock.h"
#include "config.h"

enum child_state { CHILD_DOWN, CHILD_UP, CHILD_STOPPING };

struct child {
  enum role role;
  struct command cmd;         /* what runs, or ran last */
  struct command next;        /* what the configuration says to run */
  bool want;
  unsigned gen;               /* bumped when next changes */
  unsigned need_gen;          /* the gen of the child it needs, at start */
  enum child_state state;
  pid_t pid;
  int log_fd;                 /* its stdout/stderr; -1 */
  char log[2048];             /* a line being relayed */
  size_t loglen;
  unsigned restarts;          /* starts after it exited on its own */
  unsigned quick_failures;    /* in a row: the back-off's exponent */
  uint64_t started_ns, next_start_ns, kill_ns;  /* CLOCK_MONOTONIC */
  bool killed;                /* SIGKILL sent */
};

struct disk {
  char *name, *vm;
  char *dir;                  /* <run-dir>/<name> */
  char *state;                /* <state-dir>/<name> (state.h) */
  struct child ch[NROLES];
  bool removing;              /* stop, then free */
  bool forget;                /* no longer configured: its state goes too */
};

/* A disk of configuration c, to be started.  NULL: no memory. */
struct disk *disk_new (const struct bwd_config *c, const struct bwd_disk *d);
/* A new configuration for the disk: children whose command changed
 * are restarted, the others left alone.  1 if something changed, 0 if
 * not, -1: no memory (nothing changed).
 */
int disk_update (struct disk *k, const struct bwd_config *c,
                 const struct bwd_disk *d);
/* The broker's certificate files changed: the introspector, if it
 * runs the command in force (else it is being restarted, and reads
 * them anyway), is told to reconnect with them (SIGUSR1).
 */
void disk_renew_certs (struct disk *k);
/* Stop everything: blockwatchd stops (the disk's state is kept). */
void disk_stop (struct disk *k);
/* Stop everything: removed from the configuration, its state goes. */
void disk_remove (struct disk *k);
void disk_step (struct disk *k, const struct bwd_config *c, uint64_t now);
/* A child of this disk exited (status from waitpid); false: not ours. */
bool disk_reaped (struct disk *k, pid_t pid, int status, uint64_t now);
/* Reads what the children wrote and logs it line by line. */
void disk_relay_logs (struct disk *k);
/* When disk_step has something to do next (UINT64_MAX: nothing). */
uint64_t disk_next_event (const struct disk *k, const struct bwd_config *c,
                          uint64_t now);
/* Nothing runs. */
bool disk_idle (const struct disk *k);
/* Frees an idle disk and removes its run directory, and its state
 * directory if it was removed.
 */
void disk_free (struct disk *k);


#endif /* BLOCKWATCHD_DISK_H */
