/* Pooling family: backward builders (none beyond the ones in ops.c yet). */
#pragma once

#include "internal.h"
