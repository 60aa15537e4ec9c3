/* An iSCSI client for one LUN: its URI, sessions with it, and SCSI
 * commands run on them with every wait bounded.
 *
 * The plugin's iscsi backend proxies to a LUN with it and the
 * introspector's iscsi reader reads one, so nothing here knows about
 * nbdkit: a failure returns -1 or NULL with errno set and the reason,
 * without secrets, in the caller's err buffer.
 */
#ifndef BLOCKWATCH_ISCSI_CLIENT_H
#define BLOCKWATCH_ISCSI_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define ISCSI_URI_SYNTAX "iscsi://[USER[%PASSWORD]@]HOST[:PORT]/TARGET-IQN/LUN"
/* The largest READ or WRITE, whatever the LUN allows. */
#define ISCSI_MAX_IO        (32u * 1024 * 1024)
#define ISCSI_MAX_BLOCK     65536       /* nbdkit's largest minimum */

/* Where a LUN is and how to log in to it. */
struct iscsi_where {
  char portal[MAX_STRING_SIZE + 1];
  char target[MAX_STRING_SIZE + 1];
  int lun;
  char user[MAX_STRING_SIZE + 1];
  char password[MAX_STRING_SIZE + 1];
  char target_user[MAX_STRING_SIZE + 1];      /* mutual CHAP (URI query) */
  char target_password[MAX_STRING_SIZE + 1];
  const char *initiator;
  char *name;                   /* iscsi://HOST:PORT/IQN/LUN, no secrets */
};

/* Fills in w from
 *
 *   iscsi://[USER[%PASSWORD]@]HOST[:PORT]/TARGET-IQN/LUN
 *
 * user and password, unless NULL, override the URI's; initiator (an
 * IQN) must outlive w.  Clear w with iscsi_where_clear.
 */
int iscsi_where_parse (struct iscsi_where *w, const char *uri,
                       const char *user, const char *password,
                       const char *initiator, char *err, size_t errlen);

/* Wipes the secrets and frees the name. */
void iscsi_where_clear (struct iscsi_where *w);

struct iscsi_server;

/* One client connection to the LUN and its session. */
struct iscsi_session {
  const struct iscsi_where *where;
  struct iscsi_context *iscsi;  /* NULL while the session is down */
  uint16_t isid_qualifier;
  /* Where the retries that succeed are told, or NULL. */
  void (*debug) (const char *fmt, ...)
    __attribute__ ((format (printf, 1, 2)));
  /* Told how many commands are outstanding on the session each time a
   * served session (iscsi_session_serve) sends one, or NULL.
   */
  void (*in_flight) (unsigned n);
  struct iscsi_server *server;  /* NULL unless served */
};

/* One SCSI command.  The CDB is kept apart from the task that carries
 * it so that it can be sent again on a new session.
 */
struct iscsi_cmd {
  const char *name;             /* "READ(16)", for messages */
  struct scsi_task *cdb;        /* by a scsi_cdb_* builder; freed by the run */
  void *in;                     /* data-in buffer of len bytes, or NULL */
  const void *out;              /* data-out buffer of len bytes, or NULL */
  uint32_t len;
  uint64_t offset, count;       /* the bytes it acts on, for messages */
  bool quiet;                   /* CHECK CONDITION is the caller's to report */
  bool check_condition;         /* the run failed with CHECK CONDITION: */
  struct scsi_sense sense;      /* this one */
};

/* What READ CAPACITY(16) says, checked. */
struct iscsi_capacity {
  uint64_t size;                /* bytes */
  uint32_t block_size;
  uint32_t phys_block_size;     /* a hint, at most ISCSI_MAX_IO */
  bool lbpme;                   /* provisioning management: GET LBA STATUS */
  bool lbprz;                   /* unmapped blocks read as zeroes */
};

/* Picks the random part of this process's ISIDs: once, before the
 * first login.
 */
void iscsi_init_isids (void);

/* The ISID qualifier for a new connection (0 is the first session's). */
uint16_t iscsi_next_isid_qualifier (void);

/* Logs s in to s->where with its ISID qualifier. */
int iscsi_session_login (struct iscsi_session *s, char *err, size_t errlen);

/* From now on s's commands may come from many threads at once and be
 * outstanding together: a thread of its own then owns the session
 * (libiscsi's contexts are not thread-safe) and runs every command,
 * each as iscsi_cmd_run would.  -1 with err set if it cannot start.
 */
int iscsi_session_serve (struct iscsi_session *s, char *err, size_t errlen);

/* Logs s out, if it is in, and ends the session (and its thread). */
void iscsi_session_logout (struct iscsi_session *s);

/* Runs c to completion, logging in again once if the session was lost.
 * Returns the task (status GOOD, free it with scsi_free_scsi_task).
 * Every other status is a failure; with CHECK CONDITION, c says which.
 */
struct scsi_task *iscsi_cmd_run (struct iscsi_session *s, struct iscsi_cmd *c,
                                 char *err, size_t errlen);

/* Describes the CHECK CONDITION that c->sense holds. */
void iscsi_cmd_describe_sense (const struct iscsi_session *s,
                               const struct iscsi_cmd *c,
                               char *err, size_t errlen);

/* READ CAPACITY(16), refusing geometries nobody can serve. */
int iscsi_read_capacity (struct iscsi_session *s, struct iscsi_capacity *cap,
                         char *err, size_t errlen);

/* A VPD page, unmarshalled; NULL if the LUN lacks it.  Free *task
 * (when not NULL) after using the page.
 */
void *iscsi_inquire_vpd (struct iscsi_session *s, int page, const char *name,
                         struct scsi_task **task);

/* READ(16) of count bytes at offset, both multiples of block_size;
 * a short answer is an error.
 */
int iscsi_read (struct iscsi_session *s, void *buf, uint32_t count,
                uint64_t offset, uint32_t block_size, char *err,
                size_t errlen);

#endif /* BLOCKWATCH_ISCSI_CLIENT_H */
