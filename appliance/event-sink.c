/* Printing events (see event-sink.h). */

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "event-print.h"
#include "event-sink.h"

/* Formatted events wait here until printer_flush writes them with one
 * write(2) (or a few): a write that stops short says exactly which
 * lines went out, which stdio's buffer would not.
 */
#define FLUSH_BYTES (1 << 20)

static void
out_of_memory (void)
{
  fprintf (stderr, "blockwatch: out of memory\n");
  exit (1);
}

static void
append (struct printer *p, const char *s, size_t n)
{
  if (p->len + n > p->cap) {
    size_t cap = p->cap ? p->cap : 65536;
    char *more;
    while (cap < p->len + n)
      cap *= 2;
    if ((more = realloc (p->buf, cap)) == NULL)
      out_of_memory ();
    p->buf = more;
    p->cap = cap;
  }
  memcpy (p->buf + p->len, s, n);
  p->len += n;
}

/* One line per event. */
static void
format_event (struct printer *p, const struct bw_event *ev)
{
  char *line = NULL;
  size_t n = 0;

  if (p->json) {
    if ((line = bw_event_to_json (ev, &p->policy)) == NULL)
      out_of_memory ();
    append (p, line, strlen (line));
    append (p, "\n", 1);
  }
  else {
    FILE *m = open_memstream (&line, &n);
    if (m == NULL)
      out_of_memory ();
    event_print (m, ev);
    if (fclose (m) == EOF)
      out_of_memory ();
    append (p, line, n);
  }
  free (line);
  p->pending++;
}

/* Writes the buffer and empties it.  0, or -1 with errno and in *lines
 * how many whole lines went out (a line cut short is not one).
 */
static int
write_out (struct printer *p, unsigned long long *lines)
{
  size_t done = 0;
  int err = 0;

  while (done < p->len) {
    ssize_t n = write (p->fd, p->buf + done, p->len - done);
    if (n == -1 && errno == EINTR)
      continue;
    if (n <= 0) {
      err = n == 0 ? EIO : errno;
      break;
    }
    done += n;
  }
  *lines = 0;
  for (size_t i = 0; err && i < done; i++)
    if (p->buf[i] == '\n') {
      ++*lines;
      p->torn = 0;
    }
    else
      p->torn++;
  if (err == 0)
    p->torn = 0;
  p->len = 0;
  errno = err;
  return err ? -1 : 0;
}

/* The output failed: its unwritten events are counted, and said on
 * stderr when the first goes.
 */
static void
failed (struct printer *p, int err)
{
  if (p->unreported == 0)
    fprintf (stderr, "blockwatch: writing the events: %s: events are lost "
             "until it works again (then an overflow event in the output "
             "says how many)\n", strerror (err));
  p->unwritten += p->pending;
  p->unreported += p->pending;
  p->pending = 0;
}

/* The output ends in the first p->torn bytes of a line: a file is cut
 * back to the end of its last whole line (we are its only writer, and
 * the bytes are ours), anything else gets a newline (a reader of lines
 * skips one bad line; it must not take the next for its continuation).
 */
static void
end_torn_line (struct printer *p)
{
  struct stat st;

  /* (Opened without O_APPEND, as by a shell's >, the descriptor's
   * offset must come back too, or the next write leaves a hole.)
   */
  if (fstat (p->fd, &st) == 0 && S_ISREG (st.st_mode) &&
      (uint64_t) st.st_size >= p->torn &&
      ftruncate (p->fd, st.st_size - p->torn) == 0 &&
      lseek (p->fd, st.st_size - p->torn, SEEK_SET) != -1)
    p->torn = 0;
  else
    append (p, "\n", 1);
}

/* Says the unwritten events in the output, where ev would go, after
 * a line cut short is dealt with: true if that could be written.
 */
static bool
report_unwritten (struct printer *p, const struct bw_event *ev)
{
  char detail[128];
  unsigned long long lines;
  struct bw_event o = {
    .type = BW_EV_OVERFLOW, .id = p->id_base | ++p->id_count, .seq = ev->seq,
    .txn = ev->txn, .time_ns = ev->time_ns, .host = ev->host, .vm = ev->vm,
    .disk = ev->disk, .lost_events = p->unreported, .detail = detail,
  };

  snprintf (detail, sizeof detail, "%llu events could not be written here",
            p->unreported);
  if (p->torn)
    end_torn_line (p);
  format_event (p, &o);
  p->pending = 0;             /* the buffer holds no event of theirs */
  if (write_out (p, &lines) == -1) {
    failed (p, errno);
    return false;
  }
  fprintf (stderr, "blockwatch: writing the events works again; %llu were "
           "lost, which an overflow event in the output says\n",
           p->unreported);
  p->unreported = 0;
  return true;
}

/* Whether ev's line may go into the buffer: not while the output
 * fails (then it is counted).
 */
static bool
take (struct printer *p, const struct bw_event *ev)
{
  p->events++;
  if (p->unreported && !report_unwritten (p, ev)) {
    p->unwritten++;
    p->unreported++;
    return false;
  }
  return true;
}

static void
print_event (struct bw_sink *s, const struct bw_event *ev)
{
  struct printer *p = (struct printer *) s;

  if (!take (p, ev))
    return;
  format_event (p, ev);
  if (p->len >= FLUSH_BYTES)
    printer_flush (p);
}

void
printer_line (struct printer *p, const struct bw_event *ev, const char *line,
              size_t n)
{
  if (!take (p, ev))
    return;
  append (p, line, n);
  append (p, "\n", 1);
  p->pending++;
  if (p->len >= FLUSH_BYTES)
    printer_flush (p);
}

void
printer_follow (struct printer *p, const char *path)
{
  struct stat st;

  p->path = path;
  if (fstat (p->fd, &st) == 0) {
    p->dev = st.st_dev;
    p->ino = st.st_ino;
  }
}

/* Moves the output to the file now at p->path, if it is another. */
static void
follow (struct printer *p)
{
  uint64_t now = now_ms ();
  struct stat st;
  int fd;

  if (p->path == NULL || now - p->looked_ms < 1000)
    return;
  p->looked_ms = now;
  if (stat (p->path, &st) == -1 ||
      (st.st_dev == p->dev && st.st_ino == p->ino))
    return;
  /* No O_CREAT: whoever rotates makes the new file, owner and mode. */
  fd = open (p->path, O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd == -1 || fstat (fd, &st) == -1 || dup2 (fd, p->fd) == -1) {
    fprintf (stderr, "blockwatch: %s is a new file, but it cannot be "
             "opened: %s: the events go on into the old one\n", p->path,
             strerror (errno));
    if (fd != -1)
      close (fd);
    return;
  }
  close (fd);
  p->dev = st.st_dev;
  p->ino = st.st_ino;
  /* A line the old file ends in stays there, cut short. */
  p->torn = 0;
  fprintf (stderr, "blockwatch: %s was rotated: the events go into the new "
           "file\n", p->path);
}

void
printer_free (struct printer *p)
{
  free (p->buf);
  p->buf = NULL;
}

bool
printer_flush (struct printer *p)
{
  unsigned long long lines;

  follow (p);
  if (p->len && write_out (p, &lines) == -1) {
    p->pending -= lines < p->pending ? lines : p->pending;
    failed (p, errno);
  }
  else
    p->pending = 0;
  return p->unreported == 0;
}

void
printer_init (struct printer *p, FILE *out)
{
  uint32_t rnd = 0;

  /* Ids apart from the engine's (random high halves too): collisions
   * would make subscribers drop one as a duplicate.
   */
  if (getrandom (&rnd, sizeof rnd, 0) != sizeof rnd)
    rnd = (uint32_t) getpid () ^ (uint32_t) time (NULL);
  /* What stdio holds for out goes first. */
  fflush (out);
  *p = (struct printer) {
    .sink = { .emit = print_event }, .fd = fileno (out),
    .policy = { .policy = BW_DATA_BYTES, .max_bytes = 4096 },
    .id_base = (uint64_t) rnd << 32,
  };
}

static void
tee_event (struct bw_sink *s, const struct bw_event *ev)
{
  struct tee *t = (struct tee *) s;

  t->a->emit (t->a, ev);
  t->b->emit (t->b, ev);
}

void
tee_init (struct tee *t, struct bw_sink *a, struct bw_sink *b)
{
  *t = (struct tee) { .sink = { .emit = tee_event }, .a = a, .b = b };
}

int
parse_data_policy (const char *s, struct bw_data_policy_cfg *p)
{
  char *end;

  if (strcmp (s, "none") == 0)
    p->policy = BW_DATA_NONE;
  else if (strcmp (s, "hash") == 0)
    p->policy = BW_DATA_HASH;
  else if (strcmp (s, "bytes") == 0)
    p->policy = BW_DATA_BYTES;
  else if (strncmp (s, "bytes:", 6) == 0) {
    p->policy = BW_DATA_BYTES;
    errno = 0;
    p->max_bytes = strtoul (s + 6, &end, 10);
    if (errno || *end || end == s + 6)
      return -1;
  }
  else
    return -1;
  return 0;
}

uint64_t
data_needed (const struct bw_data_policy_cfg *p)
{
  switch (p->policy) {
  case BW_DATA_NONE: return 0;
  case BW_DATA_HASH: return UINT64_MAX;
  /* one more than shown, so that the JSON can say it was cut */
  case BW_DATA_BYTES: return p->max_bytes + 1;
  }
  return 0;
}

void
log_stderr (void *prefix, const char *fmt, ...)
{
  va_list ap;

  fprintf (stderr, "%s: ", (const char *) prefix);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
}
