/* Subcommands of the blockwatch CLI. */
#ifndef BLOCKWATCH_COMMANDS_H
#define BLOCKWATCH_COMMANDS_H

struct command {
  const char *name;
  int (*fn) (int argc, char **argv);  /* argv[0] is the command name */
  const char *help;
};

int cmd_tap_recv (int argc, char **argv);
int cmd_trace (int argc, char **argv);
int cmd_replay (int argc, char **argv);
int cmd_watch (int argc, char **argv);
int cmd_sub (int argc, char **argv);
int cmd_status (int argc, char **argv);
int cmd_crawl (int argc, char **argv);
int cmd_iscsi_target (int argc, char **argv);

#endif /* BLOCKWATCH_COMMANDS_H */
