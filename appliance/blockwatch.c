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
    "replay [--json] [--data=none|hash|bytes[:N]] [--stats] [--no-journal]\n"
    "      BASE_IMAGE TRACE\n"
    "      Introspect a recorded trace against its base image and print\n"
    "      the file events (one JSON object per line with --json)." },
  { "watch", cmd_watch,
    "watch [--json] [--data=P] [--host H] [--vm V] [--disk N] [--once]\n"
    "      [--no-journal] [--stats-file PATH] [--record FILE]\n"
    "      [--mqtt URI [MQTT OPTIONS]]\n"
    "      --storage URI unix:SOCKET\n"
    "      The online introspector: crawl the storage (a path, nbd://...,\n"
    "      iscsi://..., as the plugin's backend), take the plugin's tap on\n"
    "      SOCKET, print file events as they happen, or publish them over\n"
    "      MQTT (mqtts://; see blockwatch watch --help)." },
  { "sub", cmd_sub,
    "sub --mqtt URI [TLS OPTIONS] [--json] [--count N] CHANNEL...\n"
    "      Follow file events published over MQTT: CHANNEL is HOST:VM or\n"
    "      HOST:VM:/PATH, globs allowed (kvm-07:web-*:/var/log/*);\n"
    "      one line per event, like tail -f of the files, or JSON." },
  { "status", cmd_status,
    "status [-c CONFIG | --url URL]\n"
    "      What blockwatchd runs, disk by disk (from its metrics); exit 1\n"
    "      if a disk's process is down." },
  { "crawl", cmd_crawl,
    "crawl [--progress] [--list] [--no-journal] IMAGE\n"
    "      Crawl the file systems of a disk image as the introspector's\n"
    "      bootstrap does; print what the model holds and costs (--list:\n"
    "      and every name in it)." },
  { "iscsi-target", cmd_iscsi_target,
    "iscsi-target --nbd SOCKET --dir DIR --target IQN --portal ADDRESS:PORT\n"
    "      [--chap-user USER --chap-password-file FILE] [--readonly]\n"
    "      [--initiator-address ADDRESS[/PREFIX]]...\n"
    "      [--initiator-name IQN]...\n"
    "      Serve the NBD export on SOCKET as an iSCSI target (tgtd on\n"
    "      nbdfuse): blockwatchd's iSCSI front end of a disk." },
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
