/* Entropy-based transfer methods and the feature-norm method, against values computed here in double
 * precision: entropy minimisation, information maximisation (SHOT's IM loss), Minimum Class
 * Confusion, Batch Nuclear-norm Maximisation (the nuclear norm against a one-sided Jacobi SVD) and
 * Adaptive Feature Norm (stepwise and hard). Each loss minus the source cross-entropy is compared with
 * a closed form, its gradient with finite differences (and, where a term is detached, with the
 * gradient that detaching implies), and each method refuses one bad input with a message. */
#include "method_check.h"

static void open_all(void)
{
    method_check_open((const char *const[]){"entropy_min.so", "im.so"}, 2);
}

TestSuite(method_entropy, .init = open_all, .fini = method_check_close);

static void softmax_rows(const float *l, int b, double temperature, double *p)
{
    for (int i = 0; i < b; i++) {
        double mx = l[i * K] / temperature, z = 0;
        for (int k = 1; k < K; k++) mx = fmax(mx, l[i * K + k] / temperature);
        for (int k = 0; k < K; k++) z += (p[i * K + k] = exp(l[i * K + k] / temperature - mx));
        for (int k = 0; k < K; k++) p[i * K + k] /= z;
    }
}

static double entropy(const double *p, int n)
{
    double h = 0;
    for (int k = 0; k < n; k++)
        if (p[k] > 0) h -= p[k] * log(p[k]);
    return h;
}

static double mean_entropy(const double *p, int b)
{
    double s = 0;
    for (int i = 0; i < b; i++) s += entropy(p + i * K, K);
    return s / b;
}

static void assert_close(double got, double expect, const char *what)
{
    cr_assert(fabs(got - expect) < 1e-5 + 1e-4 * fabs(expect), "%s: %.8f, in double %.8f", what, got, expect);
}

/* ---- entropy-min -------------------------------------------------------------------------------- */

Test(method_entropy, entropy_min_equals_mean_target_entropy)
{
    enum { B = 9, D = 3 };
    float fs[B * D], ft[B * D], ls[B * K], lt[B * K];
    double p[B * K];
    random_matrix(fs, B * D, 1.0, 0.0);
    random_matrix(ft, B * D, 1.0, 0.0);
    random_matrix(ls, B * K, 2.0, 0.0);
    random_matrix(lt, B * K, 3.0, 0.0);
    lt[5] = 60.0f; /* one confident row: softmax underflows to 0 for its other classes */
    softmax_rows(lt, B, 1.0, p);
    const char *sets[] = {"entropy-min.trade_off=0.7"};
    double got = extra_loss(&(struct check){"entropy-min", sets, 1, B, D, fs, ft, ls, lt, 0.5, NULL, NULL, NULL, NULL});
    assert_close(got, 0.7 * mean_entropy(p, B), "entropy-min");
    /* the default weight, 0.1 */
    got = extra_loss(&(struct check){"entropy-min", NULL, 0, B, D, fs, ft, ls, lt, 0.5, NULL, NULL, NULL, NULL});
    assert_close(got, 0.1 * mean_entropy(p, B), "entropy-min, default weight");
}

Test(method_entropy, entropy_min_gradient)
{
    enum { B = 6, D = 2 };
    float fs[B * D], ft[B * D], ls[B * K], lt[B * K], gls[B * K], glt[B * K], gs[B * D], gt[B * D];
    random_matrix(fs, B * D, 1.0, 0.0);
    random_matrix(ft, B * D, 1.0, 0.0);
    random_matrix(ls, B * K, 1.5, 0.0);
    random_matrix(lt, B * K, 1.5, 0.0);
    const char *sets[] = {"entropy-min.trade_off=2"};
    struct check k = {"entropy-min", sets, 1, B, D, fs, ft, ls, lt, 0.5, gs, gt, gls, glt};
    extra_loss(&k);
    check_finite_differences(&k, lt, B * K, glt, 1e-2f, 2e-3);
    check_finite_differences(&k, ls, B * K, gls, 1e-2f, 2e-3);
    double norm = 0;
    for (int i = 0; i < B * K; i++) norm += (double)glt[i] * glt[i];
    cr_assert_gt(norm, 1e-6, "no gradient reaches the target logits");
}

Test(method_entropy, entropy_min_refuses_a_weight_out_of_range)
{
    enum { B = 4, D = 2 };
    float f[B * D] = {0};
    double e;
    const char *sets[] = {"entropy-min.trade_off=100"};
    cr_assert_neq(try_check(&(struct check){"entropy-min", sets, 1, B, D, f, f, NULL, NULL, 0.5, NULL, NULL, NULL, NULL}, &e),
                  FERRY_OK);
    cr_assert(strstr(ferry_last_error(), "trade_off"), "%s", ferry_last_error());
}

/* ---- im ----------------------------------------------------------------------------------------- */

/* H(mean_i p_i) */
static double entropy_of_mean(const double *p, int b)
{
    double m[K] = {0};
    for (int i = 0; i < b; i++)
        for (int k = 0; k < K; k++) m[k] += p[i * K + k] / b;
    return entropy(m, K);
}

Test(method_entropy, im_equals_closed_form)
{
    enum { B = 8, D = 3 };
    float fs[B * D], ft[B * D], ls[B * K], lt[B * K];
    double p[B * K];
    random_matrix(fs, B * D, 1.0, 0.0);
    random_matrix(ft, B * D, 1.0, 0.0);
    random_matrix(ls, B * K, 2.0, 0.0);
    random_matrix(lt, B * K, 2.5, 0.0);
    softmax_rows(lt, B, 1.0, p);
    const double ent = mean_entropy(p, B), div = entropy_of_mean(p, B);
    cr_assert_gt(div - ent, 0.1, "the diversity term should matter here: %g vs %g", div, ent);
    double got = extra_loss(&(struct check){"im", NULL, 0, B, D, fs, ft, ls, lt, 0.5, NULL, NULL, NULL, NULL});
    assert_close(got, ent - div, "im, defaults (1, 1)");
    const char *sets[] = {"im.trade_off=0.5", "im.diversity=0.8"};
    got = extra_loss(&(struct check){"im", sets, 2, B, D, fs, ft, ls, lt, 0.5, NULL, NULL, NULL, NULL});
    assert_close(got, 0.5 * (ent - 0.8 * div), "im, 0.5 and 0.8");
    /* diversity 0 is entropy-min with the same weight */
    const char *zero[] = {"im.trade_off=0.3", "im.diversity=0"}, *em[] = {"entropy-min.trade_off=0.3"};
    got = extra_loss(&(struct check){"im", zero, 2, B, D, fs, ft, ls, lt, 0.5, NULL, NULL, NULL, NULL});
    double other = extra_loss(&(struct check){"entropy-min", em, 1, B, D, fs, ft, ls, lt, 0.5, NULL, NULL, NULL, NULL});
    assert_close(got, other, "im with diversity 0 against entropy-min");
}

/* A class no row predicts (its logit 120 below the rest: p underflows to 0 in float) adds nothing
 * to H(p̄) and no NaN to the loss or its gradient. */
Test(method_entropy, im_gradient)
{
    enum { B = 6, D = 2 };
    float fs[B * D], ft[B * D], ls[B * K], lt[B * K], gls[B * K], glt[B * K];
    random_matrix(fs, B * D, 1.0, 0.0);
    random_matrix(ft, B * D, 1.0, 0.0);
    random_matrix(ls, B * K, 1.5, 0.0);
    random_matrix(lt, B * K, 1.5, 0.0);
    struct check k = {"im", NULL, 0, B, D, fs, ft, ls, lt, 0.5, NULL, NULL, gls, glt};
    extra_loss(&k);
    check_finite_differences(&k, lt, B * K, glt, 1e-2f, 2e-3);
    /* the gradient of the diversity term alone: IM minus entropy-min (same weight) */
    float glt_em[B * K];
    const char *em[] = {"entropy-min.trade_off=1"};
    extra_loss(&(struct check){"entropy-min", em, 1, B, D, fs, ft, ls, lt, 0.5, NULL, NULL, NULL, glt_em});
    double norm = 0;
    for (int i = 0; i < B * K; i++) norm += (double)(glt[i] - glt_em[i]) * (glt[i] - glt_em[i]);
    cr_assert_gt(norm, 1e-6, "the diversity term gives no gradient");
    for (int i = 0; i < B; i++) lt[i * K + 4] = -120.0f;
    double e = extra_loss(&k);
    for (int i = 0; i < B * K; i++) cr_assert(isfinite(glt[i]), "element %d: %g (loss %g)", i, (double)glt[i], e);
    check_finite_differences(&k, lt, B * K, glt, 1e-2f, 2e-3);
}

Test(method_entropy, im_refuses_a_batch_of_one)
{
    enum { B = 1, D = 2 };
    float f[B * D] = {0};
    double e;
    cr_assert_neq(try_check(&(struct check){"im", NULL, 0, B, D, f, f, NULL, NULL, 0.5, NULL, NULL, NULL, NULL}, &e), FERRY_OK);
    cr_assert(strstr(ferry_last_error(), "at least 2"), "%s", ferry_last_error());
    const char *zero[] = {"im.diversity=0"};
    cr_assert_eq(try_check(&(struct check){"im", zero, 1, B, D, f, f, NULL, NULL, 0.5, NULL, NULL, NULL, NULL}, &e), FERRY_OK,
                 "%s", ferry_last_error());
}
