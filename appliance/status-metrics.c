/* blockwatch status's reading of the metrics (see status-metrics.h). */

#include <stdlib.h>
#include <string.h>

#include "status-metrics.h"

/* The value of label key in a sample's labels (between the braces),
 * unescaped into buf.  False if it has none.
 */
static bool
label (const char *labels, const char *key, char *buf, size_t len)
{
  size_t kl = strlen (key);
  const char *p = labels;

  while ((p = strstr (p, key)) != NULL) {
    if ((p == labels || p[-1] == ',' || p[-1] == '{') &&
        strncmp (p + kl, "=\"", 2) == 0) {
      size_t n = 0;
      for (p += kl + 2; *p && *p != '"' && n + 1 < len; p++) {
        char ch = *p;
        if (ch == '\\' && p[1]) {
          p++;
          ch = *p == 'n' ? '\n' : *p;
        }
        buf[n++] = ch;
      }
      buf[n] = '\0';
      return true;
    }
    p += kl;
  }
  return false;
}

static struct disk_status *
disk_of (struct status *st, const char *labels)
{
  char name[65];

  if (!label (labels, "disk", name, sizeof name))
    return NULL;
  for (int i = 0; i < st->n; i++)
    if (strcmp (st->d[i].name, name) == 0)
      return &st->d[i];
  if (st->n == MAX_DISKS)
    return NULL;
  memset (&st->d[st->n], 0, sizeof st->d[0]);
  strcpy (st->d[st->n].name, name);
  st->d[st->n].up[0] = st->d[st->n].up[1] = st->d[st->n].up[2] = -1;
  st->d[st->n].mqtt = -1;
  return &st->d[st->n++];
}

/* One sample line: name{labels} value. */
static void
sample (struct status *st, const char *line)
{
  const char *brace = strchr (line, '{'), *close, *sp;
  char metric[128], proc[32], buf[64];
  struct disk_status *d;
  unsigned long long v;
  int role;

  if (strncmp (line, "blockwatch_appliance_mqtt_connected ", 36) == 0) {
    st->broker = strtoull (line + 36, NULL, 10) != 0;
    return;
  }
  if (brace == NULL || (close = strrchr (brace, '}')) == NULL ||
      (size_t) (brace - line) >= sizeof metric ||
      (d = disk_of (st, brace)) == NULL)
    return;
  memcpy (metric, line, brace - line);
  metric[brace - line] = '\0';
  sp = close + 1;
  v = strtoull (sp, NULL, 10);
  role = -1;
  if (label (brace, "process", proc, sizeof proc))
    role = strcmp (proc, "nbdkit") == 0 ? 1 : strcmp (proc, "iscsi") == 0 ? 2
           : 0;
#define IS(m) (strcmp (metric, "blockwatch_" m) == 0)
  if (IS ("disk_info"))
    label (brace, "vm", d->vm, sizeof d->vm);
  else if (IS ("up") && role >= 0)
    d->up[role] = v != 0;
  else if (IS ("restarts_total") && role >= 0)
    d->restarts[role] = v;
  else if (IS ("introspector_crawling"))
    d->crawling = v != 0;
  else if (IS ("crawl_inodes_scanned"))
    d->crawl_done = v;
  else if (IS ("crawl_inodes"))
    d->crawl_total = v;
  else if (IS ("events_total"))
    d->events += v;
  else if (IS ("nbd_bytes_total") && label (brace, "op", buf, sizeof buf) &&
           strcmp (buf, "write") == 0)
    d->written = v;
  else if (IS ("tap_buffer_used_bytes"))
    d->tap_used = v;
  else if (IS ("tap_buffer_size_bytes"))
    d->tap_size = v;
  else if (IS ("tap_dropped_records_total"))
    d->dropped = v;
  else if (IS ("mqtt_connected"))
    d->mqtt = v != 0;
#undef IS
}

void
status_parse (struct status *st, char *body)
{
  char *line, *save;

  for (line = strtok_r (body, "\n", &save); line;
       line = strtok_r (NULL, "\n", &save))
    if (*line != '#')
      sample (st, line);
}
