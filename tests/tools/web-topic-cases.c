/* web-topic-cases: the C side of tests/web-view-topics.sh.  Reads cases,
 * one a line, fields separated by tabs, and prints for each one line
 * with what the C code (escape.c, topic.c, glob.c, channel.c) makes of
 * it; tests/tools/web-topic-cases.js prints the same for the web view's
 * appliance/web/topic.js, and the two outputs must be equal.
 *
 *   escape HEX            the escaped text of the bytes
 *   unescape TEXT         the bytes in hex, or "invalid"
 *   level HEX             the topic level of the bytes
 *   unlevel TEXT          the bytes in hex, or "invalid"
 *   name GLOB TEXT        1 if the name glob matches, else 0
 *   path GLOB TEXT        the same for a path glob
 *   filters SPEC DISK PART          the channel's MQTT filters, or
 *                                   "invalid" (DISK "-": every disk)
 *   match SPEC DISK PART JSON       1 or 0, or "invalid channel",
 *                                   "invalid event"
 *   topic HOST VM DISK JSON         the event's topic, or "invalid"
 *   parse TOPIC           KIND HOST VM DISK PART PATH CUT TYPE INODE
 *                         (bytes in hex, "-" for none), or "invalid"
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "topic.h"

#define MAX_FIELDS 6

static void
put_hex (const char *b, size_t n)
{
  for (size_t i = 0; i < n; i++)
    printf ("%02x", (unsigned char) b[i]);
}

/* HEX to bytes (n in *len); the caller frees. */
static char *
from_hex (const char *hex, size_t *len)
{
  size_t n = strlen (hex) / 2;
  char *b = malloc (n + 1);

  for (size_t i = 0; b && i < n; i++) {
    unsigned v;
    sscanf (hex + 2 * i, "%2x", &v);
    b[i] = v;
  }
  *len = n;
  return b;
}

/* The bytes in HEX, escaped by esc. */
static void
put_escaped (const char *hex, char *(*esc) (const char *, size_t))
{
  size_t len;
  char *b = from_hex (hex, &len), *s = esc (b, len);

  fputs (s, stdout);
  free (s);
  free (b);
}

static void
put_bytes_or_invalid (char *b, size_t n)
{
  if (b == NULL)
    fputs ("invalid", stdout);
  else
    put_hex (b, n);
  free (b);
}

/* A channel from SPEC, DISK and PART, as blockwatch sub makes it. */
static int
channel (char **f, struct bw_channel *ch)
{
  char err[512];

  if (bw_channel_parse (f[1], ch, err, sizeof err) == -1)
    return -1;
  if (strcmp (f[2], "-") != 0) {
    free (ch->disk);
    ch->disk = strdup (f[2]);
  }
  ch->part = atoi (f[3]);
  return 0;
}

static void
filters (char **f)
{
  struct bw_channel ch;
  char *out[2];
  int n;

  if (channel (f, &ch) == -1) {
    fputs ("invalid", stdout);
    return;
  }
  n = bw_channel_filters (&ch, out);
  for (int i = 0; i < n; i++) {
    printf ("%s%s", i ? " " : "", out[i]);
    free (out[i]);
  }
  bw_channel_free (&ch);
}

static void
match (char **f)
{
  struct bw_channel ch;
  struct bw_parsed_event pe;
  char err[128];

  if (channel (f, &ch) == -1) {
    fputs ("invalid channel", stdout);
    return;
  }
  if (bw_event_from_json (f[4], strlen (f[4]), &pe, err, sizeof err) == -1)
    fputs ("invalid event", stdout);
  else {
    putchar (bw_channel_match (&ch, &pe.ev) ? '1' : '0');
    bw_parsed_event_free (&pe);
  }
  bw_channel_free (&ch);
}

static void
topic (char **f)
{
  struct bw_parsed_event pe;
  char err[128], *disk, *t = NULL;

  if (bw_event_from_json (f[4], strlen (f[4]), &pe, err, sizeof err) == -1) {
    fputs ("invalid", stdout);
    return;
  }
  disk = bw_topic_disk (f[1], f[2], f[3]);
  if (disk)
    t = bw_topic_event (disk, &pe.ev);
  fputs (t ? t : "invalid", stdout);
  free (t);
  free (disk);
  bw_parsed_event_free (&pe);
}

static const char *const kinds[] = {
  [BW_TOPIC_FILE] = "file", [BW_TOPIC_FS] = "fs", [BW_TOPIC_INODE] = "inode",
  [BW_TOPIC_STATUS] = "status", [BW_TOPIC_STATS] = "stats",
};

static void
parse (char **f)
{
  struct bw_topic t;

  if (bw_topic_parse (f[1], &t) == -1) {
    fputs ("invalid", stdout);
    return;
  }
  printf ("%s ", kinds[t.kind]);
  put_hex (t.host, strlen (t.host));
  putchar (' ');
  put_hex (t.vm, strlen (t.vm));
  putchar (' ');
  put_hex (t.disk, strlen (t.disk));
  printf (" %d ", t.part);
  if (t.kind == BW_TOPIC_FILE)
    put_hex (t.path, t.path_len);
  else
    putchar ('-');
  printf (" %d %s ", t.path_cut, t.type ? t.type : "-");
  if (t.kind == BW_TOPIC_INODE)
    printf ("%" PRIu64, t.inode);
  else
    putchar ('-');
  bw_topic_free (&t);
}

int
main (void)
{
  char *line = NULL, *f[MAX_FIELDS], *b;
  size_t cap = 0, len;
  ssize_t n;
  int nf;

  while ((n = getline (&line, &cap, stdin)) > 0) {
    if (line[n - 1] == '\n')
      line[--n] = '\0';
    for (nf = 0, f[0] = line; nf < MAX_FIELDS - 1 &&
         (f[nf + 1] = strchr (f[nf], '\t')) != NULL; nf++)
      *f[nf + 1]++ = '\0';
    nf++;
    if (strcmp (f[0], "escape") == 0 && nf == 2)
      put_escaped (f[1], bw_escape_bytes);
    else if (strcmp (f[0], "unescape") == 0 && nf == 2) {
      b = bw_unescape (f[1], &len);
      put_bytes_or_invalid (b, len);
    }
    else if (strcmp (f[0], "level") == 0 && nf == 2)
      put_escaped (f[1], bw_topic_level);
    else if (strcmp (f[0], "unlevel") == 0 && nf == 2) {
      b = bw_topic_unlevel (f[1], strlen (f[1]), &len);
      put_bytes_or_invalid (b, len);
    }
    else if (strcmp (f[0], "name") == 0 && nf == 3)
      putchar (bw_glob_name (f[1], f[2]) ? '1' : '0');
    else if (strcmp (f[0], "path") == 0 && nf == 3)
      putchar (bw_glob_path (f[1], f[2]) ? '1' : '0');
    else if (strcmp (f[0], "filters") == 0 && nf == 4)
      filters (f);
    else if (strcmp (f[0], "match") == 0 && nf == 5)
      match (f);
    else if (strcmp (f[0], "topic") == 0 && nf == 5)
      topic (f);
    else if (strcmp (f[0], "parse") == 0 && nf == 2)
      parse (f);
    else {
      fprintf (stderr, "web-topic-cases: bad case: %s\n", f[0]);
      return 2;
    }
    putchar ('\n');
  }
  free (line);
  return 0;
}
