/* The start every fine-tuning method shares (fine-tuning, BSS, DELTA): from a checkpoint, a new
 * classifier head and the backbone at the learning-rate multiplier `backbone_lr_mult`; from scratch,
 * nothing. */
#ifndef FERRY_ALGORITHMS_FINETUNE_H
#define FERRY_ALGORITHMS_FINETUNE_H

#include "ferry/plugin.h"

#define FINETUNE_LR_HPARAM \
    {"backbone_lr_mult", FERRY_HP_FLOAT, 0.1, 0.001, 1.0, FERRY_SWEEP_LOG, "learning-rate multiplier of the pretrained backbone"}

static inline ferry_plugin_status finetune_start(ferry_run_t *run, const ferry_host_api *h, bool new_head)
{
    if (!h->has_checkpoint(run)) return 0;
    ferry_plugin_status s = new_head ? h->reset_classifier(run) : 0;
    return s ? s : h->set_lr_mult(run, "backbone", (float)h->hparam(run, "backbone_lr_mult"));
}

#endif
