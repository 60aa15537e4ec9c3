/* What the iSCSI client's two ways of running commands share: one at a
 * time on the caller's thread (iscsi-session.c) and many at once on a
 * serving thread (iscsi-server.c).  Not for users of the client, who
 * see iscsi-client.h only.
 */
#ifndef BLOCKWATCH_ISCSI_INTERNAL_H
#define BLOCKWATCH_ISCSI_INTERNAL_H

#include "iscsi-client.h"

/* As long as Linux's sd waits for a command. */
#define COMMAND_TIMEOUT_MS  (30 * 1000)
/* How often one command is sent while the target answers UNIT
 * ATTENTION or ABORTED COMMAND, which only ask for it again.
 */
#define MAX_SENDS           4

int64_t iscsi_now_ms (void);

/* A task carrying c's CDB and data-in buffer; NULL if out of memory. */
struct scsi_task *iscsi_new_task (const struct iscsi_cmd *c);

/* Debug (when s has a debug function): "iscsi: NAME RANGE on WHERE:
 * WHYTHEN", then saying what happens next ("; logging in again").
 */
void iscsi_cmd_debug (const struct iscsi_session *s,
                      const struct iscsi_cmd *c, const char *why,
                      const char *then);

/* Whether the target asked for task's command to be sent again. */
bool iscsi_worth_resending (const struct scsi_task *task);

/* The end of c's run with a SCSI status in task, sent sends times:
 * task itself when GOOD; otherwise NULL with err and errno describing
 * the status, task freed.  Either way c->cdb is freed.
 */
struct scsi_task *iscsi_cmd_finish (const struct iscsi_session *s,
                                    struct iscsi_cmd *c,
                                    struct scsi_task *task,
                                    char *err, size_t errlen);

/* The end of c's run without a SCSI status: the session was lost (why)
 * and logging in again did not help (cause, or NULL when why says it
 * all).  Frees c->cdb and sets errno to EIO.
 */
void iscsi_cmd_lost (const struct iscsi_session *s, struct iscsi_cmd *c,
                     const char *cause, const char *why,
                     char *err, size_t errlen);

/* Runs c on the session's serving thread (iscsi_session_serve). */
struct scsi_task *iscsi_server_run (struct iscsi_server *sv,
                                    struct iscsi_cmd *c,
                                    char *err, size_t errlen);

/* Ends the serving thread; its session is left as it is. */
void iscsi_server_stop (struct iscsi_server *sv);

#endif /* BLOCKWATCH_ISCSI_INTERNAL_H */
