/* blockwatch: the command-line tool.  Each subcommand lives in its own
 * cmd-*.c file; this one only dispatches.
 */

#include <stdio.h>
#include <string.h>

#include "commands.h"

static const struct command commands[] = {
  { "tap-recv", cmd_tap_recv,
    "tap-recv [--record FILE] [--print] unix:PATH\n"
    "      Be a tap consumer: receive, verify, acknowledge; optionally\n"
    "      append to a trace file and print one line per record." },
  { "trace", cmd_trace,
    "trace dump|check|apply TRACE [IMAGE]\n"
    "      dump: print records; check: verify sequence accounting;\n"
    "      apply: replay writes, zeroes and trims onto IMAGE." },
  { "replay", cmd_replay,
    "replay [--json] [--data=none|hash|bytes[:N]] BASE_IMAGE TRACE\n"
    "      Introspect a recorded trace against its base image and print\n"
    "      the file events (one JSON object per line with --json)." },
  { "watch", cmd_watch,
    "watch [--json] [--data=P] [--host H] [--vm V] [--disk N] [--once]\n"
    "      --storage PATH unix:SOCKET\n"
    "      The online introspector: crawl the storage, take the plugin's\n"
    "      tap on SOCKET, print file events as they happen." },
  { "crawl", cmd_crawl,
    "crawl [--progress] IMAGE\n"
    "      Crawl the file systems of a disk image as the introspector's\n"
    "      bootstrap does; print what the model holds and costs." },
};

static void
usage (FILE *f)
{
  fprintf (f, "usage: blockwatch COMMAND [ARGS...]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf (f, "  %s\n", commands[i].help);
}

int
main (int argc, char **argv)
{
  if (argc < 2) {
    usage (stderr);
    return 2;
  }
  if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0) {
    usage (stdout);
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp (argv[1], commands[i].name) == 0)
      return commands[i].fn (argc - 1, argv + 1);
  fprintf (stderr, "blockwatch: unknown command '%s'\n", argv[1]);
  usage (stderr);
  return 2;
}
