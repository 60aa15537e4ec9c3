/* blockwatchd's log (see log.h). */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* Read by the appliance's MQTT thread too (broker.h). */
static _Atomic enum bwd_log_level threshold = BWD_LOG_INFO;
static bool journal;

void
log_init (void)
{
  const char *js = getenv ("JOURNAL_STREAM");
  unsigned long long dev, ino;
  struct stat st;

  /* "DEVICE:INODE" of the journal's stream: only if stderr is still it
   * (not redirected by whoever started us).
   */
  journal = js && sscanf (js, "%llu:%llu", &dev, &ino) == 2 &&
            fstat (STDERR_FILENO, &st) == 0 && st.st_dev == dev &&
            st.st_ino == ino;
}

void
log_set_level (enum bwd_log_level level)
{
  threshold = level;
}

bool
log_enabled (enum bwd_log_level level)
{
  return level <= threshold;
}

void
log_msg (enum bwd_log_level level, const char *fmt, ...)
{
  /* syslog's err, warning, info, debug */
  static const int priority[] = { 3, 4, 6, 7 };
  char line[4096];
  va_list ap;

  if (!log_enabled (level))
    return;
  va_start (ap, fmt);
  vsnprintf (line, sizeof line, fmt, ap);
  va_end (ap);
  /* One write per line: lines of children relayed at the same time
   * must not interleave with ours.
   */
  if (journal)
    dprintf (STDERR_FILENO, "<%d>%s\n", priority[level], line);
  else
    dprintf (STDERR_FILENO, "blockwatchd: %s: %s\n",
             bwd_log_level_name (level), line);
}
