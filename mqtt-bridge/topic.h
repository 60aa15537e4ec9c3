/* How events are named on MQTT: topics, channels and globs.  Shared by
 * the publisher (mqtt-bridge) and every subscriber (blockwatch sub);
 * docs/events.md, section "Topics", describes the layout for people.
 *
 *   blockwatch/HOST/VM/DISK/PART/PATH-LEVEL/...   a file event
 *   blockwatch/HOST/VM/DISK/PART/$fs/TYPE         a file-system-wide event
 *   blockwatch/HOST/VM/DISK/PART/$inode/NUMBER    an event about an inode
 *                                                 with no known name
 *   blockwatch/HOST/VM/DISK/$status               retained online/offline
 *   blockwatch/HOST/VM/DISK/$stats                the bridge's statistics
 *   blockwatch/HOST/$status                       retained online/offline
 *                                                 of the appliance itself
 *
 * Every level is a byte string escaped like event paths (bw_escape_bytes)
 * and, in addition, '/', '+', '#' and '$' as %2F, %2B, %23 and %24, so
 * that no name can be taken for a separator, a wildcard or one of the
 * '$' levels above.
 */
#ifndef BLOCKWATCH_TOPIC_H
#define BLOCKWATCH_TOPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "events/event.h"

#define BW_TOPIC_ROOT "blockwatch"
/* mosquitto refuses topics and filters of more than 201 levels. */
#define BW_TOPIC_MAX_LEVELS 200
/* MQTT strings have a 16-bit length. */
#define BW_TOPIC_MAX_BYTES 65535
/* host, vm and disk names: bytes, before escaping. */
#define BW_LABEL_MAX 255
/* Path levels a topic holds: the rest of a deeper path is folded into
 * the last level (its '/' written %2F).
 */
#define BW_TOPIC_PATH_LEVELS (BW_TOPIC_MAX_LEVELS - 5)
/* A channel with more path levels than this subscribes to the first
 * ones and '#': no path of this depth, 255-byte names included, can
 * make a topic longer than BW_TOPIC_MAX_BYTES, so the exact filter is
 * sure to see all of them.
 */
#define BW_CHANNEL_EXACT_LEVELS 64

/* One level: the escaping above; NUL-terminated, caller frees; NULL on
 * ENOMEM.  bw_topic_unlevel undoes it (the bytes in *len), or NULL with
 * errno EINVAL for text bw_topic_level would not have made.
 */
char *bw_topic_level (const char *bytes, size_t len);
char *bw_topic_unlevel (const char *text, size_t textlen, size_t *len);

/* "blockwatch/HOST/VM/DISK", or NULL with errno EINVAL when a label is
 * empty or longer than BW_LABEL_MAX.
 */
char *bw_topic_disk (const char *host, const char *vm, const char *disk);
/* "blockwatch/HOST", the same way: the appliance's own topics. */
char *bw_topic_host (const char *host);
/* Events about a file system as a whole (mount, unmount, partition,
 * overflow, resync): they go to $fs/TYPE.
 */
bool bw_event_fs_wide (enum bw_event_type t);
/* Whether ev goes to $fs/TYPE: an event of such a type that is not
 * about one file.  An overflow that names the file whose writes were
 * lost goes where that file's events go (its path, or $inode/NUMBER),
 * so that only who may see the file sees its name, and a subscriber of
 * its directory sees the loss.
 */
bool bw_event_fs_topic (const struct bw_event *ev);
/* The topic of an event under DISK_TOPIC (from bw_topic_disk). */
char *bw_topic_event (const char *disk_topic, const struct bw_event *ev);

enum bw_topic_kind {
  BW_TOPIC_FILE,              /* a path */
  BW_TOPIC_FS,                /* $fs/TYPE */
  BW_TOPIC_INODE,             /* $inode/NUMBER */
  BW_TOPIC_STATUS,            /* $status */
  BW_TOPIC_STATS,             /* $stats */
};

/* A topic taken apart (labels and path unescaped). */
struct bw_topic {
  enum bw_topic_kind kind;
  char *host, *vm, *disk;
  int part;                   /* -1 for $status and $stats */
  char *path;                 /* FILE: the path's bytes, starting '/' */
  size_t path_len;
  bool path_cut;              /* FILE: the topic ended in $long: path
                               * is only the leading part */
  char *type;                 /* FS: the event type's name */
  uint64_t inode;             /* INODE */
};

/* 0, or -1 with errno EINVAL if TOPIC is not one bw_topic_event or the
 * bridge makes (ENOMEM if memory runs out).  Free with bw_topic_free.
 */
int bw_topic_parse (const char *topic, struct bw_topic *t);
void bw_topic_free (struct bw_topic *t);

/* Globs, matched against escaped text (the JSON form of paths, labels
 * and type names).  In a name: '*' any run of characters, '?' one
 * character (UTF-8), "[abc]", "[a-z]", "[!a-z]" one character of (not
 * of) a set, '\c' the character c.  In a path glob, which starts with
 * '/', a level that is exactly "**" stands for any number of levels,
 * none included.
 */
bool bw_glob_name (const char *glob, const char *name);
bool bw_glob_path (const char *glob, const char *path);
/* Whether a glob (or one level of it, LEN bytes) has no special
 * character: it matches only itself.
 */
bool bw_glob_literal (const char *glob, size_t len);

/* What a subscriber asks for: "HOST:VM" or "HOST:VM:/PATH-GLOB", host
 * and vm being globs too; the disk and partition come from options.
 */
struct bw_channel {
  char *host, *vm;
  char *disk;                 /* glob; "*" for every disk */
  int part;                   /* -1 for every partition */
  char *path;                 /* NULL: every event of the disk */
};

int bw_channel_parse (const char *spec, struct bw_channel *ch,
                      char *err, size_t errlen);
void bw_channel_free (struct bw_channel *ch);
/* The MQTT filters that receive every event the channel matches, the
 * narrowest ones the glob allows (its literal levels stay, a level
 * with a wildcard becomes '+', "**" ends it with '#'); the rest is for
 * bw_channel_match.  Returns how many (1 or 2) were put in filters[],
 * each to be freed, or -1 on ENOMEM.
 */
int bw_channel_filters (const struct bw_channel *ch, char *filters[2]);
/* Whether an event belongs to the channel.  Events of $fs topics go
 * to every channel of their disk; the others by their path, and those
 * about an inode without one only to channels without a path glob.
 */
bool bw_channel_match (const struct bw_channel *ch,
                       const struct bw_event *ev);

#endif /* BLOCKWATCH_TOPIC_H */
