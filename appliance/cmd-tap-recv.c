/* blockwatch tap-recv: a tap consumer.
 *
 * Listens on a Unix socket for the plugin, verifies every record,
 * skips what an earlier connection already delivered, optionally
 * appends to a trace file, and acknowledges only what is safely
 * written, so a restart of this process loses nothing the plugin still
 * holds.  A silent gap in the sequence numbers is a bug somewhere and
 * ends the program with status 3.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "tap-print.h"
#include "trace-append.h"
#include "tap/tap-client.h"
#include "tap/tap-seq.h"

static volatile sig_atomic_t stop;

static void
on_signal (int sig)
{
  stop = sig;
}

struct recv_state {
  struct tap_seq seq;
  FILE *trace;
  const char *trace_path;
  bool print;
  unsigned long long records, bytes, dups;
};

/* Reads an existing trace so we continue its sequence.  A partial item
 * at its end (we were killed while writing it) was never acknowledged,
 * so the plugin will send it again: cut it off.
 */
static int
resume_item (const struct tap_item *item, void *opaque)
{
  struct recv_state *st = opaque;

  if (item->kind == TAP_ITEM_HEADER)
    tap_seq_header (&st->seq, item->hdr);
  else
    tap_seq_record (&st->seq, &item->rec);
  return 0;
}

static int
open_trace (struct recv_state *st)
{
  char err[256];
  struct stat sb;

  if (stat (st->trace_path, &sb) == 0 && sb.st_size > 0 &&
      tap_read_file (st->trace_path, resume_item, st, err, sizeof err) == -1) {
    /* Find the last whole item by re-reading and truncating there. */
    struct tap_reader *rd = tap_reader_new ();
    int fd = open (st->trace_path, O_RDONLY);
    unsigned long long good = 0;
    struct tap_item it;
    char e2[256];

    if (rd == NULL || fd == -1) {
      fprintf (stderr, "blockwatch tap-recv: %s: %s\n", st->trace_path, err);
      return -1;
    }
    memset (&st->seq, 0, sizeof st->seq);
    for (;;) {
      int r = tap_reader_next (rd, &it, e2, sizeof e2);
      if (r == 1) {
        resume_item (&it, st);
        good = tap_reader_offset (rd);
        continue;
      }
      if (r == -1 || tap_reader_fill_fd (rd, fd) <= 0)
        break;
    }
    close (fd);
    tap_reader_free (rd);
    if (good + TAP_RECORD_HDR + TAP_MAX_PAYLOAD < (unsigned long long) sb.st_size) {
      /* More than one partial item: this is damage, not an interrupted
       * write.  Do not touch the file.
       */
      fprintf (stderr, "blockwatch tap-recv: %s is damaged (%s); refusing "
               "to append\n", st->trace_path, err);
      return -1;
    }
    fprintf (stderr, "blockwatch tap-recv: %s: removing %llu bytes of an "
             "unfinished item at its end (%s); the plugin re-sends it\n",
             st->trace_path, (unsigned long long) sb.st_size - good, err);
    if (truncate (st->trace_path, good) == -1) {
      fprintf (stderr, "blockwatch tap-recv: truncate %s: %s\n",
               st->trace_path, strerror (errno));
      return -1;
    }
  }
  st->trace = fopen (st->trace_path, "ab");
  if (st->trace == NULL) {
    fprintf (stderr, "blockwatch tap-recv: %s: %s\n", st->trace_path,
             strerror (errno));
    return -1;
  }
  setvbuf (st->trace, NULL, _IOFBF, 1 << 20);
  return 0;
}

/* Appends an item to the trace. */
static int
record_item (struct recv_state *st, const struct tap_item *it)
{
  if (trace_append_item (st->trace, it) == -1) {
    fprintf (stderr, "blockwatch tap-recv: writing %s: %s\n",
             st->trace_path, strerror (errno));
    return -1;
  }
  return 0;
}

/* Handles every item the doorbells announced.  Returns the number of
 * records seen (new or repeated), or -1 on a protocol violation.
 */
static int
consume (struct recv_state *st, struct tap_client *c)
{
  struct tap_item it;
  char err[256];
  int r, n = 0;

  while ((r = tap_client_next (c, &it, err, sizeof err)) == 1) {
    enum tap_seq_verdict v;

    if (it.kind == TAP_ITEM_HEADER) {
      v = tap_seq_header (&st->seq, it.hdr);
      if (v == TAP_SEQ_GAP) {
        fprintf (stderr, "blockwatch tap-recv: stream resumes at seq %llu "
                 "but seq %llu was never received: silent loss\n",
                 (unsigned long long) it.hdr->first_seq,
                 (unsigned long long) st->seq.expected);
        return -1;
      }
    }
    else {
      v = tap_seq_record (&st->seq, &it.rec);
      n++;
      if (v == TAP_SEQ_DUPLICATE) {
        st->dups++;
        continue;
      }
      if (v == TAP_SEQ_GAP) {
        fprintf (stderr, "blockwatch tap-recv: record seq %llu arrived but "
                 "seq %llu is unaccounted for: silent loss\n",
                 (unsigned long long) it.rec.seq,
                 (unsigned long long) st->seq.expected);
        return -1;
      }
      st->records++;
      st->bytes += it.rec.payload_len;
      if (it.rec.flags & TAP_F_PAYLOAD_LOST)
        fprintf (stderr, "blockwatch tap-recv: record seq %llu: the bytes of "
                 "this write are lost: %s\n",
                 (unsigned long long) it.rec.seq, tap_client_loss_reason (c));
    }
    if (st->trace && record_item (st, &it) == -1)
      return -1;
    if (st->print)
      tap_print_item (stdout, &it);
  }
  if (r == -1) {
    fprintf (stderr, "blockwatch tap-recv: bad record from the plugin: %s\n",
             err);
    return -1;
  }
  return n;
}

static int
acknowledge (struct recv_state *st, struct tap_client *c)
{
  /* Only what is in the kernel's hands may be acknowledged. */
  if (st->trace && fflush (st->trace) == EOF) {
    fprintf (stderr, "blockwatch tap-recv: writing %s: %s\n",
             st->trace_path, strerror (errno));
    return -1;
  }
  if (st->print)
    fflush (stdout);
  return tap_client_ack (c, st->seq.expected - 1);
}

/* Serves one plugin connection.  Returns -1 on a protocol violation. */
static int
serve (struct recv_state *st, int lfd)
{
  char err[256];
  struct tap_client *c = tap_client_accept (lfd, 5000, err, sizeof err);
  int ret = 0;

  if (c == NULL) {
    if (!stop)
      fprintf (stderr, "blockwatch tap-recv: %s\n", err);
    return 0;                 /* a bad hello: wait for the next one */
  }
  /* Only the trace and the listing look at the bytes themselves. */
  if (!st->trace && !st->print)
    tap_client_skip_deferred (c);
  while (!stop) {
    struct pollfd p = { .fd = tap_client_fd (c), .events = POLLIN };
    bool closed;
    int n = consume (st, c);

    if (n == -1) {
      ret = -1;
      break;
    }
    if (n > 0 && acknowledge (st, c) == -1)
      break;                  /* the plugin went away; it will come back */
    if (poll (&p, 1, -1) == -1)
      continue;               /* a signal: check stop */
    if (tap_client_receive (c, &closed, err, sizeof err) == -1) {
      if (!closed)
        fprintf (stderr, "blockwatch tap-recv: %s\n", err);
      break;
    }
  }
  tap_client_close (c);
  return ret;
}

int
cmd_tap_recv (int argc, char **argv)
{
  static const struct option opts[] = {
    { "record", required_argument, NULL, 'r' },
    { "print", no_argument, NULL, 'p' },
    { "once", no_argument, NULL, '1' },
    { "help", no_argument, NULL, 'h' },
    { 0 }
  };
  struct recv_state st = { 0 };
  struct sigaction sa = { .sa_handler = on_signal };
  bool once = false;
  int c, lfd, ret = 0;
  char err[256];

  while ((c = getopt_long (argc, argv, "r:p1h", opts, NULL)) != -1) {
    switch (c) {
    case 'r': st.trace_path = optarg; break;
    case 'p': st.print = true; break;
    case '1': once = true; break;
    case 'h':
      printf ("usage: blockwatch tap-recv [--record FILE] [--print] [--once] "
              "unix:PATH\n");
      return 0;
    default:
      return 2;
    }
  }
  if (optind != argc - 1 || strncmp (argv[optind], "unix:", 5) != 0) {
    fprintf (stderr, "usage: blockwatch tap-recv [--record FILE] [--print] "
             "[--once] unix:PATH\n");
    return 2;
  }
  if (st.trace_path && open_trace (&st) == -1)
    return 1;
  lfd = tap_client_listen (argv[optind] + 5, err, sizeof err);
  if (lfd == -1) {
    fprintf (stderr, "blockwatch tap-recv: %s\n", err);
    return 1;
  }
  /* No SA_RESTART: a signal must interrupt accept() and read(). */
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);
  signal (SIGPIPE, SIG_IGN);

  while (!stop) {
    struct pollfd p = { .fd = lfd, .events = POLLIN };
    if (poll (&p, 1, -1) != 1)
      continue;               /* a signal: check stop */
    if (serve (&st, lfd) == -1)
      ret = 3;
    if (ret || once)
      break;
  }
  close (lfd);
  unlink (argv[optind] + 5);
  if (stop)
    fprintf (stderr, "blockwatch tap-recv: stopping on signal %d\n", (int) stop);
  if (st.trace) {
    if (fflush (st.trace) == EOF || fsync (fileno (st.trace)) == -1) {
      fprintf (stderr, "blockwatch tap-recv: writing %s: %s\n",
               st.trace_path, strerror (errno));
      ret = 1;
    }
    fclose (st.trace);
  }
  fprintf (stderr, "blockwatch tap-recv: %llu records, %llu bytes, %llu lost "
           "(reported by overflow records), %llu duplicates skipped, %s\n",
           st.records, st.bytes, (unsigned long long) st.seq.lost, st.dups,
           st.seq.ended ? "stream ended cleanly" : "stream not ended");
  return ret;
}
