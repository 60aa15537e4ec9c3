/* blockwatchd's persistent state: state-dir, one directory per disk,
 * <state-dir>/<name>, owned by the user the disk's processes run as.
 * It holds what must outlive blockwatchd and the machine: the run mark
 * of the disk's introspector (command.h, RUN_MARK), which tells the
 * next run that events of an earlier one were never delivered.
 *
 * A disk's state goes with the disk only: when a reload removes it
 * from the configuration, or when blockwatchd starts with a
 * configuration that no longer has it (removed while blockwatchd was
 * not running).  Neither a stop of blockwatchd nor a reboot touches it.
 */
#ifndef BLOCKWATCHD_STATE_H
#define BLOCKWATCHD_STATE_H

#include "config.h"

/* At start: makes state-dir if need be, and forgets the disks c does
 * not have.  -1 (logged): there is no state-dir.
 */
int state_open (const struct bwd_config *c);
/* The disk name is gone for good: its state directory dir is removed,
 * and a run mark in it is logged as a loss no run will report.
 */
void state_forget (const char *name, const char *dir);
/* A run mark in the disk's run directory run (where blockwatchd kept
 * it before state-dir: one killed, then upgraded without a reboot)
 * moves to its state directory state, so that the loss it stands for
 * is still reported; it is the user's of c, who runs the introspector.
 */
void state_adopt (const struct bwd_config *c, const char *name,
                  const char *run, const char *state);

#endif /* BLOCKWATCHD_STATE_H */
