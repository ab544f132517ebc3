/* Ferry — transferability scores: how well a backbone suits a target task, estimated before any
 * training from its features (and, for LEEP and NCE, its own source head's predictions) on the
 * labelled target examples, and how far apart the source and target domains lie in its feature space.
 * The first five are "higher is better"; PAD and MMD are distances ("lower is closer").
 *
 *   logme       LogME (You et al., ICML 2021): the maximum, over the prior precision α and the noise
 *               precision β, of the log marginal likelihood of each class's one-hot column under
 *               Bayesian linear regression on the features, log N(y | 0, FF'/α + I/β), divided by n
 *               and averaged over the classes. α and β by MacKay's fixed point, to convergence
 *   leep        LEEP (Nguyen et al., ICML 2020): the source head's probabilities θ(x) over its Z
 *               classes give the empirical joint P(y, z) = Σ_i θ_z(x_i) [y_i = y] / n; the score is
 *               the mean over examples of log Σ_z P(y_i | z) θ_z(x_i)
 *   nce         NCE (Tran et al., ICCV 2019): the negative conditional entropy −H(Y | Z) of the target
 *               labels given the source head's hard predictions z = argmax θ
 *   h-score     H-score (Bao et al., ICIP 2019): tr(cov(f)⁺ cov(E[f | y])), covariances with n − 1
 *               (the pseudo-inverse drops eigenvalues under 1e-12 of the largest). With no more
 *               examples than features (n <= d, the usual case for a wide backbone on a few labels
 *               per class) it is k − 1 whatever the features, once they are in general position:
 *               cov(f)⁺ inverts the examples' whole span, and the class means are a
 *               (k − 1)-dimensional projection inside it. The
 *               shrinkage form is the one that tells backbones apart there
 *   h-score-s   the shrinkage-regularised H-score (Ibrahim et al., ICLR 2023): cov(f) replaced by its
 *               Ledoit–Wolf estimate (1 − a) S + a (tr S / d) I, S the maximum-likelihood covariance,
 *               and tr(that⁻¹ (1 − a) cov(E[f | y]))
 *   transrate   TransRate (Huang et al., ICML 2022): the coding rate R(Z) − Σ_c R(Z_c) / C of the
 *               centred features Z, R(Z) = ½ log det(I + Z'Z / (n ε)), ε = 1e-4 (the authors' and
 *               TLlib's form), Z_c the rows of class c
 *   pad         proxy A-distance (Ben-David et al. 2007): 2 (1 − 2 err) of a linear domain classifier
 *               (L2-regularised logistic regression on standardised features) trained on half of the
 *               source and target features and tested on the other half
 *   mmd         the squared maximum mean discrepancy (Gretton et al. 2012) between the source and
 *               target features, Gaussian kernel, bandwidth the median pairwise distance, the unbiased
 *               estimate
 *
 * Features are rows of d floats; labels are in [0, k) (LEEP and NCE: every class seen at least once
 * is fine; a class never seen contributes nothing). */
#ifndef FERRY_TRANSFERABILITY_H
#define FERRY_TRANSFERABILITY_H

#include <stdint.h>

#include "ferry/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ferry_score {
    FERRY_SCORE_LOGME,
    FERRY_SCORE_LEEP,
    FERRY_SCORE_NCE,
    FERRY_SCORE_HSCORE,
    FERRY_SCORE_HSCORE_SHRINK,
    FERRY_SCORE_TRANSRATE,
    FERRY_SCORE_PAD,
    FERRY_SCORE_MMD,
    FERRY_SCORE_COUNT
} ferry_score;

/* "logme", "leep", ... (NULL past FERRY_SCORE_COUNT); ferry_score_find: the score of that name or -1. */
const char *ferry_score_name(int score);
int ferry_score_find(const char *name);
/* Whether higher means a better choice (false for the distances PAD and MMD). */
int ferry_score_higher_is_better(int score);

/* n × d features f of labelled examples with labels y in [0, k); n >= 2. */
ferry_status ferry_score_logme(const float *f, const int32_t *y, int64_t n, int d, int k, double *out);
ferry_status ferry_score_hscore(const float *f, const int32_t *y, int64_t n, int d, int k, int shrink, double *out);
ferry_status ferry_score_transrate(const float *f, const int32_t *y, int64_t n, int d, int k, double *out);
/* theta: n × z probabilities of the backbone's own (source) head; labels y in [0, k). */
ferry_status ferry_score_leep(const float *theta, int z, const int32_t *y, int64_t n, int k, double *out);
ferry_status ferry_score_nce(const float *theta, int z, const int32_t *y, int64_t n, int k, double *out);
/* Source features fs (ns × d) against target features ft (nt × d); ns, nt >= 4. PAD's split and
 * training are fixed by seed. */
ferry_status ferry_score_pad(const float *fs, int64_t ns, const float *ft, int64_t nt, int d, uint64_t seed,
                             double *out);
ferry_status ferry_score_mmd(const float *fs, int64_t ns, const float *ft, int64_t nt, int d, double *out);

/* The domains seen in the plane (`ferry embed`): principal components of n rows x (n × d, n >= 2,
 * 1 <= k <= d): the rows centred and projected on the k eigenvectors of their covariance with the
 * largest eigenvalues (GSL's symmetric eigensolver), each signed so that its largest-magnitude entry
 * is positive; out n × k; explained (k values, or NULL) the share of the total variance each carries.
 * Debian packages no t-SNE library for C, so the plane is PCA's. */
ferry_status ferry_pca(const float *x, int64_t n, int d, int k, float *out, double *explained);

#ifdef __cplusplus
}
#endif
#endif
