/* Progress display: a live line on a terminal, plain lines otherwise. */
#ifndef FERRY_CLI_PROGRESS_H
#define FERRY_CLI_PROGRESS_H

#include "ferry/train.h"

/* user = pointer to an int that is non-zero when stderr is a terminal. */
void ferry_cli_progress(const ferry_progress *p, void *user);
void ferry_cli_format_duration(double s, char *out, size_t n);

#endif
