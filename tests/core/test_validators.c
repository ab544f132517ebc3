/* The unsupervised validators against hand values and against an independent double-precision
 * computation in this file: the nuclear norm from GSL's SVD of P (not the library's eigenproblem of
 * PᵀP), SND from its definition (explicit softmax over the other examples, no log-sum-exp), the
 * entropies term by term; DEV's control-variate risk by hand; IWV and DEV equal to the plain source
 * loss where the two domains' features are the same rows (the domain classifier then stays at zero:
 * every weight 1), and moved the right way where the target sits on the source's hard examples or
 * on its easy ones; AMI by hand (E[MI] of two 2 + 2 partitions of 4 items is log 2 / 3) and ClassAMI 1
 * where the predictions are the target's clusters, near 0 where they ignore them; DEVN's normalised
 * risk term by term; NearestSource, reverse validation and MixVal's pairs and score on hand-made
 * rows. None reads a target label: there is none to pass. */
#include <criterion/criterion.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_math.h>
#include <math.h>
#include <stdlib.h>

#include "ferry/validators.h"

#define TOL 1e-9

Test(validators, names_round_trip)
{
    for (int v = 0; v < FERRY_VALIDATOR_COUNT; v++) cr_assert_eq(ferry_validator_find(ferry_validator_name(v)), v);
    cr_assert_eq(ferry_validator_find("target-test"), -1);
    cr_assert_null(ferry_validator_name(FERRY_VALIDATOR_COUNT));
}

Test(validators, hand_values)
{
    /* source: 3 examples, 2 classes; predictions right, right, wrong */
    const float ps[] = {0.9f, 0.1f, 0.2f, 0.8f, 0.6f, 0.4f};
    const int32_t ys[] = {0, 1, 1};
    /* target: two confident examples of different classes */
    const float pt[] = {1, 0, 0, 1};
    double v[FERRY_VALIDATOR_COUNT];
    cr_assert_eq(ferry_validators_compute(ps, ys, 3, pt, 2, 2, v), FERRY_OK);
    cr_assert_float_eq(v[FERRY_VALIDATOR_SOURCE_ACC], 2.0 / 3.0, TOL);
    cr_assert_float_eq(v[FERRY_VALIDATOR_SOURCE_LOSS], (log(0.9f) + log(0.8f) + log(0.4f)) / 3.0, 1e-7);
    cr_assert_float_eq(v[FERRY_VALIDATOR_ENTROPY], 0.0, TOL);
    cr_assert_float_eq(v[FERRY_VALIDATOR_DIVERSITY], log(2.0), TOL);
    cr_assert_float_eq(v[FERRY_VALIDATOR_IM], log(2.0), TOL);
    cr_assert_float_eq(v[FERRY_VALIDATOR_BNM], 1.0, TOL); /* P = I: σ = 1, 1; / n = 2 */
    cr_assert_float_eq(v[FERRY_VALIDATOR_SND], 0.0, TOL); /* one neighbour each: a certain softmax */
    cr_assert_float_eq(v[FERRY_VALIDATOR_MANO], pow(0.5, 0.25), TOL); /* (2 ones / 4 entries)^(1/4) */
    /* uniform target predictions: entropy log 2, nothing to tell apart; SND = log(n - 1) */
    const float pu[] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
    cr_assert_eq(ferry_validators_compute(ps, ys, 3, pu, 4, 2, v), FERRY_OK);
    cr_assert_float_eq(v[FERRY_VALIDATOR_ENTROPY], -log(2.0), TOL);
    cr_assert_float_eq(v[FERRY_VALIDATOR_IM], 0.0, TOL);
    cr_assert_float_eq(v[FERRY_VALIDATOR_SND], log(3.0), TOL);
    cr_assert_float_eq(v[FERRY_VALIDATOR_BNM], sqrt(4 * 0.5) / 4, TOL); /* rank 1: σ = ‖P‖_F */
    cr_assert_float_eq(v[FERRY_VALIDATOR_MANO], 0.5, TOL);               /* every entry 0.5 */
}

Test(validators, against_an_independent_computation)
{
    enum { NS = 5, NT = 9, K = 4 };
    float ps[NS * K], pt[NT * K];
    int32_t ys[NS];
    unsigned x = 12345;
    for (int i = 0; i < NS + NT; i++) { /* random rows on the simplex */
        float *r = i < NS ? ps + i * K : pt + (i - NS) * K, sum = 0;
        for (int c = 0; c < K; c++) {
            x = x * 1103515245u + 12345u;
            r[c] = 0.05f + (float)((x >> 8) & 0xffff) / 65536.0f;
            sum += r[c];
        }
        for (int c = 0; c < K; c++) r[c] /= sum;
        if (i < NS) ys[i] = (int32_t)(i % K);
    }
    double v[FERRY_VALIDATOR_COUNT];
    cr_assert_eq(ferry_validators_compute(ps, ys, NS, pt, NT, K, v), FERRY_OK);
    double correct = 0, loss = 0, h = 0, mean[K] = {0};
    for (int i = 0; i < NS; i++) {
        int best = 0;
        for (int c = 1; c < K; c++) best = ps[i * K + c] > ps[i * K + best] ? c : best;
        correct += best == ys[i];
        loss += log(ps[i * K + ys[i]]);
    }
    for (int i = 0; i < NT; i++)
        for (int c = 0; c < K; c++) {
            h += -pt[i * K + c] * log(pt[i * K + c]);
            mean[c] += pt[i * K + c] / NT;
        }
    double div = 0;
    for (int c = 0; c < K; c++) div += -mean[c] * log(mean[c]);
    cr_assert_float_eq(v[FERRY_VALIDATOR_SOURCE_ACC], correct / NS, TOL);
    cr_assert_float_eq(v[FERRY_VALIDATOR_SOURCE_LOSS], loss / NS, 1e-7);
    cr_assert_float_eq(v[FERRY_VALIDATOR_ENTROPY], -h / NT, 1e-7);
    cr_assert_float_eq(v[FERRY_VALIDATOR_DIVERSITY], div, 1e-7);
    cr_assert_float_eq(v[FERRY_VALIDATOR_IM], div - h / NT, 1e-7);
    /* nuclear norm: GSL's one-sided Jacobi SVD of P itself */
    gsl_matrix *a = gsl_matrix_alloc(NT, K), *vv = gsl_matrix_alloc(K, K);
    gsl_vector *sv = gsl_vector_alloc(K);
    for (int i = 0; i < NT; i++)
        for (int c = 0; c < K; c++) gsl_matrix_set(a, i, c, pt[i * K + c]);
    cr_assert_eq(gsl_linalg_SV_decomp_jacobi(a, vv, sv), 0);
    double nuc = 0;
    for (int c = 0; c < K; c++) nuc += gsl_vector_get(sv, c);
    cr_assert_float_eq(v[FERRY_VALIDATOR_BNM], nuc / NT, 1e-7);
    gsl_matrix_free(a);
    gsl_matrix_free(vv);
    gsl_vector_free(sv);
    /* SND by its definition */
    double snd = 0;
    for (int i = 0; i < NT; i++) {
        double w[NT], z = 0, ni = 0;
        for (int c = 0; c < K; c++) ni += (double)pt[i * K + c] * pt[i * K + c];
        for (int j = 0; j < NT; j++) {
            double d = 0, nj = 0;
            for (int c = 0; c < K; c++) {
                d += (double)pt[i * K + c] * pt[j * K + c];
                nj += (double)pt[j * K + c] * pt[j * K + c];
            }
            w[j] = j == i ? 0 : exp(d / sqrt(ni * nj) / 0.05);
            z += w[j];
        }
        for (int j = 0; j < NT; j++)
            if (j != i) snd += -(w[j] / z) * log(w[j] / z);
    }
    cr_assert_float_eq(v[FERRY_VALIDATOR_SND], snd / NT, 1e-7);
    /* MaNo: the 4-norm of the prediction matrix, as a root mean over its n k entries */
    double m4 = 0;
    for (int i = 0; i < NT * K; i++) m4 += gsl_pow_4(pt[i]);
    cr_assert_float_eq(v[FERRY_VALIDATOR_MANO], sqrt(sqrt(m4 / (NT * K))), 1e-9);
}

Test(validators, bad_input_is_refused)
{
    const float p[] = {1, 0, 0, 1};
    const int32_t bad[] = {0, 2};
    double v[FERRY_VALIDATOR_COUNT];
    cr_assert_eq(ferry_validators_compute(p, bad, 2, p, 2, 2, v), FERRY_ERR_INVALID);
    cr_assert_eq(ferry_validators_compute(p, (int32_t[]){0, 1}, 1, p, 2, 2, v), FERRY_ERR_INVALID);
}

Test(validators, dev_risk_by_hand)
{
    /* losses all 1: the risk is 1 whatever the weights; the control variate removes their spread */
    const double w[3] = {1, 2, 3}, one[3] = {1, 1, 1}, l[3] = {0.5, 1, 4};
    cr_assert_float_eq(ferry_dev_risk(w, one, 3), 1.0, 1e-12);
    /* constant weights: η = 0, the plain mean of w L */
    const double c[3] = {2, 2, 2};
    cr_assert_float_eq(ferry_dev_risk(c, l, 3), 2 * (0.5 + 1 + 4) / 3, 1e-12);
    /* w L = 0.5, 2, 12: mean 29/6; cov(wL, w) = (−13/3 · −1 + 0 + 43/6 · 1) / n, var(w) = 2/3;
     * η = −(26/6 + 43/6) / 2 = −23/4; risk = 29/6 + η · 2 − η = 29/6 − 23/4 */
    cr_assert_float_eq(ferry_dev_risk(w, l, 3), 29.0 / 6 - 23.0 / 4, 1e-12);
}

/* ns source examples of 2 classes on a line: x < 0 predicted right (p = 0.9), x > 0 wrong (p = 0.2) */
#define NS 200
static void two_clusters(float *ps, int32_t *ys, float *fs)
{
    for (int i = 0; i < NS; i++) {
        const int hard = i % 2;
        ys[i] = (i / 2) % 2;
        fs[i * 2] = (hard ? 2.0f : -2.0f) + 0.01f * (float)(i % 7);
        fs[i * 2 + 1] = 0.02f * (float)(i % 5);
        const float right = hard ? 0.2f : 0.9f;
        ps[i * 2 + ys[i]] = right;
        ps[i * 2 + 1 - ys[i]] = 1 - right;
    }
}

Test(validators, importance_weighted_validators)
{
    static float ps[NS * 2], fs[NS * 2], ft[NS * 2], pt[NS * 2];
    static int32_t ys[NS];
    two_clusters(ps, ys, fs);
    for (int i = 0; i < NS * 2; i++) pt[i] = 0.5f;
    double v[FERRY_VALIDATOR_COUNT];
    cr_assert_eq(ferry_validators_compute(ps, ys, NS, pt, NS, 2, v), FERRY_OK);
    cr_assert(isnan(v[FERRY_VALIDATOR_IWV]) && isnan(v[FERRY_VALIDATOR_DEV]) && isnan(v[FERRY_VALIDATOR_DEVN]),
              "without features: %g %g %g", v[FERRY_VALIDATOR_IWV], v[FERRY_VALIDATOR_DEV], v[FERRY_VALIDATOR_DEVN]);
    /* the same rows as the target: weights 1, IWV and DEV are the source loss */
    cr_assert_eq(ferry_validators_compute_features(ps, ys, NS, pt, NS, 2, fs, fs, 2, v), FERRY_OK);
    const double plain = v[FERRY_VALIDATOR_SOURCE_LOSS];
    cr_assert_float_eq(v[FERRY_VALIDATOR_IWV], plain, 1e-12, "same rows: IWV %.12f, source loss %.12f",
                       v[FERRY_VALIDATOR_IWV], plain);
    cr_assert_float_eq(v[FERRY_VALIDATOR_DEV], plain, 1e-12, "same rows: DEV %.12f", v[FERRY_VALIDATOR_DEV]);
    /* ...and DEVN: weights 1 stay 1 (max 1, mean 1) */
    cr_assert_float_eq(v[FERRY_VALIDATOR_DEVN], plain, 1e-12, "same rows: DEVN %.12f", v[FERRY_VALIDATOR_DEVN]);
    /* a target on the hard examples (x > 0): a worse expected loss; on the easy ones: a better one */
    for (int i = 0; i < NS; i++) {
        ft[i * 2] = 2.0f + 0.013f * (float)(i % 11);
        ft[i * 2 + 1] = 0.02f * (float)(i % 3);
    }
    cr_assert_eq(ferry_validators_compute_features(ps, ys, NS, pt, NS, 2, fs, ft, 2, v), FERRY_OK);
    const double hard_iwv = v[FERRY_VALIDATOR_IWV], hard_dev = v[FERRY_VALIDATOR_DEV], hard_devn = v[FERRY_VALIDATOR_DEVN];
    for (int i = 0; i < NS; i++) ft[i * 2] = -ft[i * 2];
    cr_assert_eq(ferry_validators_compute_features(ps, ys, NS, pt, NS, 2, fs, ft, 2, v), FERRY_OK);
    const double easy_iwv = v[FERRY_VALIDATOR_IWV], easy_dev = v[FERRY_VALIDATOR_DEV], easy_devn = v[FERRY_VALIDATOR_DEVN];
    /* the losses: log 0.2 = −1.61 on the hard half, log 0.9 = −0.105 on the easy one */
    cr_assert(hard_iwv < plain - 0.3 && easy_iwv > plain + 0.3, "IWV: hard %g, plain %g, easy %g", hard_iwv, plain, easy_iwv);
    cr_assert(hard_dev < plain - 0.3 && easy_dev > plain + 0.3, "DEV: hard %g, plain %g, easy %g", hard_dev, plain, easy_dev);
    cr_assert(hard_dev > log(0.2) - 0.3 && easy_dev < log(0.9) + 0.3, "DEV: hard %g, easy %g", hard_dev, easy_dev);
    /* DEVN the same way, less far (the normalised weights span at most 1 around their mean 1) */
    cr_assert(hard_devn < plain - 0.1 && easy_devn > plain + 0.1, "DEVN: hard %g, plain %g, easy %g", hard_devn, plain,
              easy_devn);
}

Test(validators, ami_by_hand)
{
    const int32_t u[4] = {0, 0, 1, 1}, same[4] = {1, 1, 0, 0}, cross[4] = {0, 1, 0, 1}, one[4] = {0, 0, 0, 0};
    /* H = log 2 each; E[MI] = 4 cells · P(n = 2) = 1/6 · (2/4) log 2 = log 2 / 3 */
    cr_assert_float_eq(ferry_ami(u, 2, same, 2, 4), 1.0, 1e-12);
    cr_assert_float_eq(ferry_ami(u, 2, cross, 2, 4), (0 - log(2.0) / 3) / (log(2.0) - log(2.0) / 3), 1e-12);
    cr_assert_float_eq(ferry_ami(one, 1, one, 1, 4), 1.0, 1e-12);
    cr_assert_float_eq(ferry_ami(u, 2, one, 1, 4), 0.0, 1e-12); /* one side says nothing */
}

Test(validators, class_ami_sees_the_clusters)
{
    enum { N = 300, K = 3, D = 4 };
    static float f[N * D], p[N * K], q[N * K];
    const int32_t ys[2] = {0, 1};
    for (int i = 0; i < N; i++) {
        const int c = i % K;
        for (int j = 0; j < D; j++) f[i * D + j] = (j == c ? 5.0f : 0.0f) + 0.1f * (float)((i * 7 + j * 3) % 5);
        for (int j = 0; j < K; j++) {
            p[i * K + j] = j == c ? 0.8f : 0.1f;                   /* the clusters */
            q[i * K + j] = j == (i * 7 / K + i) % K ? 0.8f : 0.1f; /* unrelated to them */
        }
    }
    double v[FERRY_VALIDATOR_COUNT];
    float ps3[6] = {0.8f, 0.1f, 0.1f, 0.1f, 0.8f, 0.1f};
    cr_assert_eq(ferry_validators_compute_features(ps3, ys, 2, p, N, K, f, f, D, v), FERRY_OK, "%s", ferry_last_error());
    cr_assert_float_eq(v[FERRY_VALIDATOR_CLASS_AMI], 1.0, 1e-9, "predictions = clusters: ClassAMI %g",
                       v[FERRY_VALIDATOR_CLASS_AMI]);
    cr_assert_eq(ferry_validators_compute_features(ps3, ys, 2, q, N, K, f, f, D, v), FERRY_OK);
    cr_assert(fabs(v[FERRY_VALIDATOR_CLASS_AMI]) < 0.05, "predictions unrelated to the clusters: ClassAMI %g",
              v[FERRY_VALIDATOR_CLASS_AMI]);
}

Test(validators, devn_risk_by_hand)
{
    /* the normalisation by hand (pytorch-adapt's "max"): w / max, shifted to mean 1, then DEV's risk
     * with η = −cov(wL, w) / var(w), here computed term by term */
    const double w[4] = {1, 2, 4, 8}, l[4] = {1, 0, 2, 1};
    double wn[4], m = 0;
    for (int i = 0; i < 4; i++) m += w[i] / 8 / 4;
    for (int i = 0; i < 4; i++) wn[i] = w[i] / 8 - m + 1;
    double mw = 0, ml = 0, cov = 0, var = 0;
    for (int i = 0; i < 4; i++) mw += wn[i] / 4, ml += wn[i] * l[i] / 4;
    for (int i = 0; i < 4; i++) cov += (wn[i] * l[i] - ml) * (wn[i] - mw), var += (wn[i] - mw) * (wn[i] - mw);
    cr_assert_float_eq(ferry_devn_risk(w, l, 4), ml + (-cov / var) * (mw - 1), 1e-12);
    cr_assert(fabs(ferry_devn_risk(w, l, 4) - ferry_dev_risk(w, l, 4)) > 1e-3, "the shift changes the risk");
}
#undef NS

Test(validators, nearest_source_by_hand)
{
    /* source: example 0 predicted [0.9, 0.1] and labelled 0 (right), example 1 [0.2, 0.8] labelled 0
     * (wrong) */
    const float ps[] = {0.9f, 0.1f, 0.2f, 0.8f};
    const int32_t ys[] = {0, 0};
    /* target: nearest to 0, to 1, to 0 */
    const float pt[] = {1, 0, 0, 1, 0.8f, 0.2f};
    double v[FERRY_VALIDATOR_COUNT];
    cr_assert_eq(ferry_validators_compute(ps, ys, 2, pt, 3, 2, v), FERRY_OK);
    cr_assert_float_eq(v[FERRY_VALIDATOR_NEAREST_SOURCE], 2.0 / 3.0, 1e-12);
    const int32_t yr[] = {0, 1}; /* both right: 1 */
    cr_assert_eq(ferry_validators_compute(ps, yr, 2, pt, 3, 2, v), FERRY_OK);
    cr_assert_float_eq(v[FERRY_VALIDATOR_NEAREST_SOURCE], 1.0, 1e-12);
}

Test(validators, reverse_by_hand)
{
    /* target features in two directions, predicted 0 along x and 1 along y */
    const float ft[] = {1, 0, 1, 0.1f, 0, 1, 0.1f, 1};
    const float pt[] = {0.9f, 0.1f, 0.8f, 0.2f, 0.3f, 0.7f, 0.1f, 0.9f};
    const float ptx[] = {0.1f, 0.9f, 0.2f, 0.8f, 0.7f, 0.3f, 0.9f, 0.1f}; /* the classes swapped */
    /* source: along x labelled 0 (the reverse classifier: right), along y labelled 1 (right), along x
     * labelled 1 (wrong) */
    const float fs[] = {2, 0, 0, 3, 3, 0.2f};
    const int32_t ys[] = {0, 1, 1};
    const float ps[] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
    double v[FERRY_VALIDATOR_COUNT];
    cr_assert_eq(ferry_validators_compute(ps, ys, 3, pt, 4, 2, v), FERRY_OK);
    cr_assert(isnan(v[FERRY_VALIDATOR_REVERSE]), "without features: %g", v[FERRY_VALIDATOR_REVERSE]);
    cr_assert_eq(ferry_validators_compute_features(ps, ys, 3, pt, 4, 2, fs, ft, 2, v), FERRY_OK);
    cr_assert_float_eq(v[FERRY_VALIDATOR_REVERSE], 2.0 / 3.0, 1e-12);
    cr_assert_eq(ferry_validators_compute_features(ps, ys, 3, ptx, 4, 2, fs, ft, 2, v), FERRY_OK);
    cr_assert_float_eq(v[FERRY_VALIDATOR_REVERSE], 1.0 / 3.0, 1e-12);
    /* one predicted class only: every source example goes to it */
    const float p0[] = {0.9f, 0.1f, 0.9f, 0.1f, 0.9f, 0.1f, 0.9f, 0.1f};
    cr_assert_eq(ferry_validators_compute_features(ps, ys, 3, p0, 4, 2, fs, ft, 2, v), FERRY_OK);
    cr_assert_float_eq(v[FERRY_VALIDATOR_REVERSE], 1.0 / 3.0, 1e-12);
}

Test(validators, mixval_pairs_and_score_by_hand)
{
    /* six target rows predicted 0 0 1 1 0 2 */
    const int pl[6] = {0, 0, 1, 1, 0, 2};
    float p[6 * 3] = {0};
    for (int i = 0; i < 6; i++) p[i * 3 + pl[i]] = 1;
    int64_t a[12], b[12];
    uint8_t intra[12];
    const int64_t n = ferry_mixval_pairs(p, 6, 3, 100, a, b, intra);
    /* inter: row r with row 5 − r where predicted apart: (0, 5), (5, 0); intra, class 0 = rows 0 1 4:
     * (0, 4), (4, 0) (row 1 would pair with itself); class 1 = rows 2 3: (2, 3), (3, 2); class 2: none */
    const int64_t ea[] = {0, 5, 0, 4, 2, 3}, eb[] = {5, 0, 4, 0, 3, 2};
    const uint8_t ei[] = {0, 0, 1, 1, 1, 1};
    cr_assert_eq(n, 6);
    for (int j = 0; j < 6; j++)
        cr_assert(a[j] == ea[j] && b[j] == eb[j] && intra[j] == ei[j], "pair %d: (%lld, %lld, %d)", j,
                  (long long)a[j], (long long)b[j], intra[j]);
    /* the model on the probes: both inter right (a's label), three of four intra right */
    float pm[6 * 3] = {0};
    const int said[6] = {0, 2, 0, 1, 1, 1};
    for (int j = 0; j < 6; j++) pm[j * 3 + said[j]] = 1;
    cr_assert_float_eq(ferry_mixval_score(p, 3, a, intra, n, pm), 0.5 * (1.0 + 0.75), 1e-12);
    /* only inter pairs: their accuracy alone; no pair: NaN */
    cr_assert_float_eq(ferry_mixval_score(p, 3, a, intra, 2, pm), 1.0, 1e-12);
    cr_assert(isnan(ferry_mixval_score(p, 3, a, intra, 0, pm)));
    /* ten rows, at most five: every second row (0 2 4 6 8), all predicted 0 */
    float q[10 * 2] = {0};
    for (int i = 0; i < 10; i++) q[i * 2] = 1;
    cr_assert_eq(ferry_mixval_pairs(q, 10, 2, 5, a, b, intra), 4); /* 0↔8, 2↔6 both ways; 4 with itself */
    cr_assert(a[0] == 0 && b[0] == 8 && a[1] == 2 && b[1] == 6 && a[3] == 8 && b[3] == 0 && intra[0] == 1);
}
