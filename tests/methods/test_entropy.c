/* Entropy-based transfer methods and the feature-norm method, against values computed here in double
 * precision: entropy minimisation, information maximisation (SHOT's IM loss), Minimum Class
 * Confusion, Batch Nuclear-norm Maximisation (the nuclear norm against a one-sided Jacobi SVD) and
 * Adaptive Feature Norm (stepwise and hard). Each loss minus the source cross-entropy is compared with
 * a closed form, its gradient with finite differences (and, where a term is detached, with the
 * gradient that detaching implies), and each method refuses one bad input with a message. */
#include "method_check.h"

static void open_all(void)
{
    method_check_open((const char *const[]){"entropy_min.so"}, 1);
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
