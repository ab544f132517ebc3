/* Ferry — unsupervised validators: scores of a checkpoint computed from the labelled
 * source-validation split and the unlabelled target-training split only (never a target label), for
 * choosing epochs, hyperparameters and methods without peeking. Every score is "higher is better".
 *
 *   source-acc   accuracy on source validation
 *   source-loss  − mean cross-entropy on source validation
 *   entropy      − mean entropy of the target predictions (Grandvalet & Bengio 2004; Morerio et al.
 *                2018 select by it)
 *   diversity    entropy of the mean target prediction
 *   im           diversity − entropy (information maximisation, Gomes et al. 2010; SHOT's objective)
 *   bnm          nuclear norm of the n × K target prediction matrix, divided by n (Cui et al. 2020)
 *   snd          soft neighbourhood density (Saito et al., ICCV 2021): the target predictions
 *                L2-normalised, their cosine similarities to every other target example (the
 *                example itself left out) through a softmax at temperature 0.05, the mean entropy
 *                of those rows (predictions, as pytorch-adapt's SNDValidator does by default)
 *   mano         the normalised matrix norm of the target predictions (Xie et al., NeurIPS 2024):
 *                (Σ_ik p_ik^4 / (n k))^(1/4), the softmax-normalised branch of MaNo; its Taylor branch
 *                (for badly calibrated models) works on logits, which this interface does not see
 *   iwv          importance-weighted validation (Sugiyama et al., JMLR 2007): − Σ w_i L_i / Σ w_i over
 *                source validation (the self-normalised estimate: a sample's weights do not average
 *                1), L_i the example's cross-entropy and w_i = p_t(x_i) / p_s(x_i)
 *                estimated by a linear domain classifier on the features (L2-regularised logistic
 *                regression on standardised features, the domains weighted equally, so that
 *                w = exp(its logit)); two-fold cross-fitted: the classifier that weighs a source example
 *                never saw it (the examples split by index parity, source and target alike)
 *   dev          deep embedded validation (You et al., ICML 2019): the same weighted losses with the
 *                control variate, − (mean(wL) + η mean(w) − η), η = − cov(wL, w) / var(w)
 *   class-ami    ClassAMI (Musgrave et al. 2022; pytorch-adapt's ClassAMIValidator): k-means with k the
 *                class count on the L2-normalised target features (k-means++ seeded, Lloyd's
 *                iterations to convergence, at most 2000 rows evenly spaced), then the adjusted mutual
 *                information (Vinh et al. 2010, arithmetic normalisation, as sklearn's default) between
 *                the clusters and the predicted classes
 *   devn         DEV with normalised weights (Musgrave et al., "Three new validators and a large-scale
 *                benchmark ranking for unsupervised domain adaptation", 2022; pytorch-adapt's
 *                normalization="max"): w / max(w), shifted to mean 1, then DEV's risk
 *   nearest-source  NearestSource (Musgrave et al. 2022; pytorch-adapt's NearestSourceValidator on its
 *                default layer, the predictions): for each target example (at most 2000, evenly
 *                spaced) the source-validation example whose prediction vector is nearest in cosine
 *                similarity; the fraction of those that the model classifies right
 *   reverse      reverse validation (Zhong et al., ECML PKDD 2010; the model selection of Ganin et al.,
 *                JMLR 2016): a reverse classifier fitted on the target with the model's own
 *                predictions as labels, scored on source validation with its true labels. Ferry's
 *                reverse classifier is the nearest class mean of the L2-normalised features (each
 *                predicted class's target centroid; a source example goes to the centroid of
 *                highest cosine similarity), not a retrained network: cheap enough for every epoch
 *   mixval       MixVal (Hu et al., NeurIPS 2023): the model's accuracy on target mixup probes
 *                0.55 x_a + 0.45 x_b against the pseudo-label of x_a (its prediction), over
 *                inter-class pairs (a and b predicted differently: a's row i paired with row m−1−i of
 *                m ≤ 1000 rows evenly spaced, as the reference pairs a batch with its reverse) and
 *                intra-class pairs (the same pairing inside each predicted class); the mean of the two
 *                accuracies (the reference code scores the two kinds in separate scripts,
 *                val_mixval_inter.py and val_mixval_intra.py; one stored score per checkpoint needs one
 *                number).
 *                It needs the model on new inputs: the trainer computes it through ferry_mixval_pairs
 *                and ferry_mixval_score, ferry_validators_compute leaves it NaN
 * IWV, DEV, DEVN, ClassAMI and reverse need the features (ferry_validators_compute_features); without
 * them they are NaN.
 * The domain classifier sees at most 2000 rows of each domain (evenly spaced).
 *
 * Entropies use natural logarithms; a probability of 0 contributes 0. */
#ifndef FERRY_VALIDATORS_H
#define FERRY_VALIDATORS_H

#include <stdint.h>

#include "ferry/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ferry_validator {
    FERRY_VALIDATOR_SOURCE_ACC,
    FERRY_VALIDATOR_SOURCE_LOSS,
    FERRY_VALIDATOR_ENTROPY,
    FERRY_VALIDATOR_DIVERSITY,
    FERRY_VALIDATOR_IM,
    FERRY_VALIDATOR_BNM,
    FERRY_VALIDATOR_SND,
    FERRY_VALIDATOR_MANO,
    FERRY_VALIDATOR_IWV,
    FERRY_VALIDATOR_DEV,
    FERRY_VALIDATOR_CLASS_AMI,
    FERRY_VALIDATOR_DEVN,
    FERRY_VALIDATOR_NEAREST_SOURCE,
    FERRY_VALIDATOR_REVERSE,
    FERRY_VALIDATOR_MIXVAL,
    FERRY_VALIDATOR_COUNT
} ferry_validator;

/* "source-acc", "snd", ... (NULL past FERRY_VALIDATOR_COUNT). */
const char *ferry_validator_name(int v);
/* The validator of that name, or -1. */
int ferry_validator_find(const char *name);

/* Every validator of one checkpoint: p_src the n_src × k source-validation probabilities with their
 * labels y_src, p_tgt the n_tgt × k target-training probabilities (rows summing to 1). out[v] for
 * each ferry_validator. n_src, n_tgt >= 2. */
ferry_status ferry_validators_compute(const float *p_src, const int32_t *y_src, int64_t n_src, const float *p_tgt,
                                      int64_t n_tgt, int k, double out[FERRY_VALIDATOR_COUNT]);
/* ...and with the backbone's features of the same examples (f_src n_src × d, f_tgt n_tgt × d), those
 * that need them too. */
ferry_status ferry_validators_compute_features(const float *p_src, const int32_t *y_src, int64_t n_src,
                                               const float *p_tgt, int64_t n_tgt, int k, const float *f_src,
                                               const float *f_tgt, int d, double out[FERRY_VALIDATOR_COUNT]);
/* DEV's risk of per-example losses under importance weights (n >= 2): mean(wL) + η mean(w) − η with
 * η = − cov(wL, w) / var(w) (η = 0 where the weights do not vary: var(w) under 1e-12 mean(w)²). The validator is its negation. */
double ferry_dev_risk(const double *weights, const double *losses, int64_t n);
/* DEVN's: the same risk after w / max(w), shifted to mean 1. */
double ferry_devn_risk(const double *weights, const double *losses, int64_t n);
/* MixVal's probes (see mixval above) over n target predictions p (n × k): writes at most 2 · max_rows
 * pairs into a[], b[] (row indices into p) and intra[] (1: an intra-class pair, 0: inter-class) and
 * returns their count. The probe of pair j is FERRY_MIXVAL_LAMBDA · x_a + (1 − FERRY_MIXVAL_LAMBDA) · x_b. */
#define FERRY_MIXVAL_LAMBDA 0.55f
#define FERRY_MIXVAL_ROWS 1000 /* the rows the trainer probes with */
int64_t ferry_mixval_pairs(const float *p, int64_t n, int k, int64_t max_rows, int64_t *a, int64_t *b,
                           uint8_t *intra);
/* MixVal from the model's predictions p_mix (n_pairs × k) on the probes of those pairs: the mean of
 * the inter- and intra-class accuracies against a's pseudo-label (one of them alone where the other
 * kind has no pair; NaN where there is none). */
double ferry_mixval_score(const float *p, int k, const int64_t *a, const uint8_t *intra, int64_t n_pairs,
                          const float *p_mix);
/* Adjusted mutual information of two labellings of n items (labels in [0, ku) and [0, kv)):
 * (MI − E[MI]) / (mean(H(u), H(v)) − E[MI]), E[MI] under the hypergeometric model; 1 where both
 * labellings are one cluster each (or equal up to names with a single cluster). */
double ferry_ami(const int32_t *u, int ku, const int32_t *v, int kv, int64_t n);

#ifdef __cplusplus
}
#endif
#endif
