/* blockwatchd's persistent state (see state.h). */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "command.h"
#include "log.h"
#include "state.h"

void
state_forget (const char *name, const char *dir)
{
  char *mark;

  if (asprintf (&mark, "%s/" RUN_MARK, dir) == -1) {
    log_error ("disk %s: out of memory: %s is left", name, dir);
    return;
  }
  if (unlink (mark) == 0)
    log_warning ("disk %s: no longer configured: its last introspector did "
                 "not deliver every event it made, and no later run will "
                 "report that (%s removed)", name, mark);
  free (mark);
  if (rmdir (dir) == 0)
    log_info ("disk %s: no longer configured: %s removed", name, dir);
  else if (errno != ENOENT)
    log_warning ("disk %s: %s is left: %s", name, dir, strerror (errno));
}

void
state_adopt (const struct bwd_config *c, const char *name, const char *run,
             const char *state)
{
  char *old = NULL, *mark = NULL;
  int fd;

  if (asprintf (&old, "%s/" RUN_MARK, run) == -1 ||
      asprintf (&mark, "%s/" RUN_MARK, state) == -1) {
    log_error ("disk %s: out of memory looking for a run mark in %s",
               name, run);
    goto out;
  }
  if (access (old, F_OK) == -1)
    goto out;
  /* Created, not renamed: the run directory is often another file
   * system (tmpfs).  The mark says nothing but that it exists.
   */
  fd = open (mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd == -1) {
    log_error ("disk %s: cannot move the run mark %s to %s: %s", name, old,
               mark, strerror (errno));
    goto out;
  }
  if (c->user.name && geteuid () == 0 &&
      fchown (fd, c->user.uid, c->user.gid) == -1)
    log_error ("disk %s: cannot give %s to %s: %s", name, mark, c->user.name,
               strerror (errno));
  close (fd);
  unlink (old);
  log_warning ("disk %s: a run mark was left in the run directory by an "
               "earlier blockwatchd: moved to %s (the next run reports what "
               "it stands for)", name, mark);
 out:
  free (old);
  free (mark);
}

/* The directories in state-dir of disks c does not have: removed
 * while blockwatchd was not running, so nothing else removes them.
 */
static void
forget_removed (const struct bwd_config *c, DIR *dir)
{
  struct dirent *e;
  struct stat st;
  char *path;

  while ((e = readdir (dir)) != NULL) {
    if (strcmp (e->d_name, ".") == 0 || strcmp (e->d_name, "..") == 0 ||
        bwd_config_disk (c, e->d_name) != NULL)
      continue;
    /* Never what someone else put there. */
    if (fstatat (dirfd (dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
        !S_ISDIR (st.st_mode))
      continue;
    if (asprintf (&path, "%s/%s", c->state_dir, e->d_name) == -1) {
      log_error ("out of memory: %s/%s is left", c->state_dir, e->d_name);
      continue;
    }
    state_forget (e->d_name, path);
    free (path);
  }
}

int
state_open (const struct bwd_config *c)
{
  DIR *dir;

  if (mkdir (c->state_dir, 0755) == -1 && errno != EEXIST) {
    log_error ("state-dir %s: %s", c->state_dir, strerror (errno));
    return -1;
  }
  dir = opendir (c->state_dir);
  if (dir == NULL) {
    log_error ("state-dir %s: %s", c->state_dir, strerror (errno));
    return -1;
  }
  forget_removed (c, dir);
  closedir (dir);
  return 0;
}
