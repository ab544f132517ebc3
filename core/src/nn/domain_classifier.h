/* A linear domain classifier (internal): L2-regularised logistic regression of "target" against
 * "source" on standardised features, the two domains weighted equally, fitted by full-batch gradient
 * descent from zero (deterministic). Behind PAD (ferry/transferability.h) and the importance weights
 * of IWV and DEV (ferry/validators.h). */
#ifndef FERRY_DOMAIN_CLASSIFIER_H
#define FERRY_DOMAIN_CLASSIFIER_H

#include <stdint.h>

#include "ferry/base.h"

typedef struct ferry_domain_clf {
    int d;
    double *w;          /* d weights, then the bias */
    double *mean, *inv; /* the training rows' per-feature mean and 1 / standard deviation (0: constant) */
} ferry_domain_clf;

/* Fits on rows is[0..ns) of fs and it[0..nt) of ft (n × d row-major each); ns, nt >= 1. */
ferry_status ferry_domain_clf_fit(const float *fs, const int64_t *is, int64_t ns, const float *ft, const int64_t *it,
                                  int64_t nt, int d, ferry_domain_clf *out);
/* log P(target | x) / P(source | x) of one row x (d floats). With the domains weighted equally this
 * estimates log p_target(x) / p_source(x). */
double ferry_domain_clf_logit(const ferry_domain_clf *c, const float *x);
void ferry_domain_clf_free(ferry_domain_clf *c);

#endif
