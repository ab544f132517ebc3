/* Sub-commands of the ferry tool that live outside main.c. */
#ifndef FERRY_CLI_COMMANDS_H
#define FERRY_CLI_COMMANDS_H

int ferry_cli_data(int argc, char **argv);
int ferry_cli_tasks(int argc, char **argv);
int ferry_cli_methods(int argc, char **argv);

#endif
