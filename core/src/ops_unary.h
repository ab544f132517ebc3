/* The unary and normalisation family: backward builders referenced by ops.def (ops_unary.c). */
#ifndef FERRY_OPS_UNARY_H
#define FERRY_OPS_UNARY_H

#include "internal.h"

#endif
