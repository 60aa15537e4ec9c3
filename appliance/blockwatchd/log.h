/* blockwatchd's log: lines on stderr, with levels.
 *
 * Under systemd, stderr is a stream to the journal ($JOURNAL_STREAM
 * names it): each line then starts with the syslog priority, "<3>",
 * which journald takes as the line's level and strips.  Elsewhere a
 * line is "blockwatchd: LEVEL: message".
 */
#ifndef BLOCKWATCHD_LOG_H
#define BLOCKWATCHD_LOG_H

#include "config.h"

void log_init (void);
void log_set_level (enum bwd_log_level level);
bool log_enabled (enum bwd_log_level level);
void log_msg (enum bwd_log_level level, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

#define log_error(...) log_msg (BWD_LOG_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg (BWD_LOG_WARNING, __VA_ARGS__)
#define log_info(...) log_msg (BWD_LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg (BWD_LOG_DEBUG, __VA_ARGS__)

#endif /* BLOCKWATCHD_LOG_H */
