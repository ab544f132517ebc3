/* Sub-commands of the ferry tool that live outside main.c. */
#ifndef FERRY_CLI_COMMANDS_H
#define FERRY_CLI_COMMANDS_H

int ferry_cli_data(int argc, char **argv);
int ferry_cli_tasks(int argc, char **argv);
int ferry_cli_methods(int argc, char **argv);
int ferry_cli_bench(int argc, char **argv);
/* core/cli/models_cmds.c: ferry models [list] | run */
int ferry_cli_models(int argc, char **argv);
/* The class count of the head in weights (a checkpoint for arch): its output layer's first dimension. */
int ferry_cli_head_classes(const char *arch, int c, int size, const char *weights);
/* core/cli/rank_cmds.c: ferry rank (transferability scores of backbones for a task) */
int ferry_cli_rank(int argc, char **argv);
/* ...and ferry tasks NAME --diagnose (argv[0] = "tasks"): the domain distance, the scores and the
 * negative-transfer warning, checked against stores */
int ferry_cli_diagnose(int argc, char **argv);
/* ...and ferry embed: the domains in each model's features, in the plane */
int ferry_cli_embed(int argc, char **argv);
/* core/cli/results_cmds.c: ferry results table|plot|export|merge (argv[0] = "results") */
int ferry_cli_results(int argc, char **argv);

#endif
