/* The LUN the iSCSI backend serves: the state its three files share.
 *
 * setup() alone writes it: iscsi-uri.c fills in where the LUN is and
 * how to log in to it, backend-iscsi.c what the LUN can do.  It is
 * read-only once nbdkit has forked, so the connections' threads read
 * it without a lock; iscsi-session.c logs in with it and names the LUN
 * in its messages.
 */
#ifndef BLOCKWATCH_ISCSI_LUN_H
#define BLOCKWATCH_ISCSI_LUN_H

#include <stdbool.h>
#include <stdint.h>

#include <iscsi/iscsi.h>

#include "backend.h"

struct iscsi_lun {
  char portal[MAX_STRING_SIZE + 1];
  char target[MAX_STRING_SIZE + 1];
  int lun;
  char user[MAX_STRING_SIZE + 1];
  char password[MAX_STRING_SIZE + 1];
  char target_user[MAX_STRING_SIZE + 1];      /* mutual CHAP (URI query) */
  char target_password[MAX_STRING_SIZE + 1];
  const char *initiator;
  char *name;                   /* iscsi://HOST:PORT/IQN/LUN, no secrets */

  uint64_t size;
  uint32_t block_size;
  uint32_t phys_block_size;
  uint32_t max_io;              /* bytes per READ or WRITE */
  uint32_t max_same_blocks;     /* blocks per WRITE SAME */
  uint32_t max_unmap_blocks;    /* blocks per UNMAP */
  uint32_t unmap_granularity;   /* blocks */
  uint32_t unmap_alignment;     /* blocks */
  bool lbpme;                   /* provisioning management: GET LBA STATUS */
  bool lbprz;                   /* unmapped blocks read as zeroes */
  bool lbpu;                    /* UNMAP */
  bool lbpws;                   /* WRITE SAME(16) with the UNMAP bit */
  bool write_protected;
  bool fua;                     /* the FUA bit is honoured (DPOFUA) */
};

/* Defined in backend-iscsi.c. */
extern struct iscsi_lun lun;

/* Fills in lun's portal, target, LUN number, name, CHAP credentials
 * and initiator from cfg (iscsi-uri.c).  -1 after nbdkit_error.
 */
int lun_configure (const struct backend_config *cfg);

#endif /* BLOCKWATCH_ISCSI_LUN_H */
