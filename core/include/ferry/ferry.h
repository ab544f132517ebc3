/* Ferry — umbrella header. */
#ifndef FERRY_FERRY_H
#define FERRY_FERRY_H

#include "ferry/base.h"
#include "ferry/data.h"
#include "ferry/io.h"
#include "ferry/nn.h"
#include "ferry/tensor.h"
#include "ferry/train.h"
#include "ferry/transferability.h"
#include "ferry/validators.h"

#endif
