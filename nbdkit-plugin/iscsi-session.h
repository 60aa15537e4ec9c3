/* iSCSI backend: sessions with the LUN and the SCSI commands run on
 * them (iscsi-session.c), for backend-iscsi.c.
 */
#ifndef BLOCKWATCH_ISCSI_SESSION_H
#define BLOCKWATCH_ISCSI_SESSION_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "backend.h"

/* One NBD connection (or setup()'s probing) and its session. */
struct ihandle {
  struct iscsi_context *iscsi;  /* NULL while the session is down */
  uint16_t isid_qualifier;
  bool no_write_same;           /* the target rejected WRITE SAME(16) */
};

/* One SCSI command.  The CDB is kept apart from the task that carries
 * it so that it can be sent again on a new session.
 */
struct cmd {
  const char *name;             /* "READ(16)", for messages */
  struct scsi_task *cdb;        /* by a scsi_cdb_* builder; freed by cmd_run */
  void *in;                     /* data-in buffer of len bytes, or NULL */
  const void *out;              /* data-out buffer of len bytes, or NULL */
  uint32_t len;
  uint64_t offset, count;       /* the bytes it acts on, for messages */
  bool quiet;                   /* CHECK CONDITION is the caller's to report */
  bool check_condition;         /* cmd_run failed with CHECK CONDITION: */
  struct scsi_sense sense;      /* this one */
};

static inline int
fail_with (int err)
{
  nbdkit_set_error (err);
  errno = err;
  return -1;
}

/* Picks the random part of this process's ISIDs: once, in setup(),
 * before the first login.
 */
void session_init_isids (void);

/* The ISID qualifier for a new connection. */
uint16_t session_next_isid_qualifier (void);

/* A new logged-in session to the LUN, or NULL after nbdkit_error. */
struct iscsi_context *session_login (uint16_t isid_qualifier);

void session_logout (struct iscsi_context *iscsi);

/* Runs C to completion.  Returns the task (status GOOD, free it with
 * scsi_free_scsi_task) or NULL with the error reported and errno set.
 */
struct scsi_task *cmd_run (struct ihandle *h, struct cmd *c);

/* Reports the CHECK CONDITION that c->sense holds as an error. */
void cmd_report_sense (const struct cmd *c);

#endif /* BLOCKWATCH_ISCSI_SESSION_H */
