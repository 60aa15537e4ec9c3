/* Starting one process of a disk (a struct command).
 *
 * The child gets /dev/null as stdin, the command's output file or the
 * log pipe as stdout, the log pipe as stderr, default signal handling,
 * no descriptor of ours, the command's user and group when we are root,
 * and SIGTERM when blockwatchd dies (so that a proxy never outlives its
 * supervisor and the tap still drains).
 */
#ifndef BLOCKWATCHD_CHILD_H
#define BLOCKWATCHD_CHILD_H

#include <stddef.h>
#include <sys/types.h>

#include "command.h"

/* The pid, and in *log_fd the read end (non-blocking) of the pipe its
 * stdout and stderr go to.  -1 with err if it could not be started;
 * a failed exec shows as the child's exit status 127 and a message in
 * its log.
 */
pid_t child_spawn (const struct command *cmd, int *log_fd,
                   char *err, size_t errlen);

#endif /* BLOCKWATCHD_CHILD_H */
