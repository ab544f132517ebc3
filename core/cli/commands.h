/* Sub-commands of the ferry tool that live outside main.c. */
#ifndef FERRY_CLI_COMMANDS_H
#define FERRY_CLI_COMMANDS_H

int ferry_cli_data(int argc, char **argv);
int ferry_cli_tasks(int argc, char **argv);
int ferry_cli_methods(int argc, char **argv);
int ferry_cli_bench(int argc, char **argv);
/* core/cli/models_cmds.c: ferry models [list] | run */
int ferry_cli_models(int argc, char **argv);
/* core/cli/results_cmds.c: ferry results table|plot|export|merge (argv[0] = "results") */
int ferry_cli_results(int argc, char **argv);

#endif
