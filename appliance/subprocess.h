/* Helper programs run by a blockwatch command (iscsi-target runs
 * nbdfuse, tgtd and tgtadm).
 *
 * A helper gets /dev/null as stdin, our stderr as stderr (so that its
 * messages reach whoever reads ours: blockwatchd's log), default
 * signal handling and mask, none of our other descriptors, and a
 * signal when we die, so that no helper outlives the command that owns
 * it.  The caller blocks the signals it reads from a signalfd; helpers
 * do not inherit that.
 */
#ifndef BLOCKWATCH_SUBPROCESS_H
#define BLOCKWATCH_SUBPROCESS_H

#include <stddef.h>
#include <sys/types.h>

/* Starts argv[0] (looked up in $PATH).  Its stdout goes to out_fd, or
 * to our stderr when out_fd is -1.  deathsig: what it gets when we
 * die.  -1 with errno if it could not be forked; a failed exec is the
 * helper's exit status 127 and a message.
 */
pid_t sub_spawn (char *const argv[], int out_fd, int deathsig);

/* Waits up to timeout_ms for pid to exit and stores its status.
 * 0: it exited; 1: still running.
 */
int sub_wait (pid_t pid, unsigned timeout_ms, int *status);

/* Runs argv to completion, killing it after timeout_ms.  With out, its
 * stdout is captured there (NUL-terminated, cut at outlen - 1 bytes).
 * Returns its exit status, or -1 if it could not run, was killed or
 * timed out (said on stderr, named by what).
 */
int sub_run (const char *what, char *const argv[], unsigned timeout_ms,
             char *out, size_t outlen);

/* A short description of a wait status: "exited with status 1". */
void sub_describe (int status, char *buf, size_t len);

#endif /* BLOCKWATCH_SUBPROCESS_H */
