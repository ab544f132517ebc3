/* The unsupervised validators against hand values and against an independent double-precision
 * computation in this file: the nuclear norm from GSL's SVD of P (not the library's eigenproblem of
 * PᵀP), SND from its definition (explicit softmax over the other examples, no log-sum-exp), the
 * entropies term by term. None reads a target label: there is none to pass. */
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
