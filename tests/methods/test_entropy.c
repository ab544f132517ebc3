/* Entropy-based transfer methods and the feature-norm method, against values computed here in double
 * precision: entropy minimisation, information maximisation (SHOT's IM loss), Minimum Class
 * Confusion, Batch Nuclear-norm Maximisation (the nuclear norm against a one-sided Jacobi SVD) and
 * Adaptive Feature Norm (stepwise and hard), FixMatch's confidence-masked pseudo-label loss. Each loss minus the source cross-entropy is compared with
 * a closed form, its gradient with finite differences (and, where a term is detached, with the
 * gradient that detaching implies), and each method refuses one bad input with a message. */
#include "method_check.h"

static void open_all(void)
{
    method_check_open((const char *const[]){"entropy_min.so", "im.so", "mcc.so", "bnm.so", "afn.so", "fixmatch.so"}, 6);
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
    lt[5] = 120.0f; /* one confident row: its other classes underflow to p = 0 in float */
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

/* ---- mcc ---------------------------------------------------------------------------------------- */

/* L_MCC of the logits lt [b, K] at temperature tt, the sample weights computed from wl (lt itself
 * when wl is NULL): the gradient with the weights held constant is the derivative in lt alone. */
static double mcc_double(const double *lt, const double *wl, int b, double tt)
{
    double y[64 * K], yw[64 * K], w[64], u = 0, c[K * K] = {0}, col[K] = {0}, term = 0;
    for (int pass = 0; pass < 2; pass++) { /* pass 0: the weights' probabilities; pass 1: Ŷ */
        const double *l = pass ? lt : (wl ? wl : lt);
        double *dst = pass ? y : yw;
        for (int i = 0; i < b; i++) {
            double mx = -INFINITY, z = 0;
            for (int k = 0; k < K; k++) mx = fmax(mx, l[i * K + k] / tt);
            for (int k = 0; k < K; k++) z += (dst[i * K + k] = exp(l[i * K + k] / tt - mx));
            for (int k = 0; k < K; k++) dst[i * K + k] /= z;
        }
    }
    for (int i = 0; i < b; i++) u += (w[i] = 1.0 + exp(-entropy(yw + i * K, K)));
    for (int i = 0; i < b; i++) w[i] *= b / u;
    for (int j = 0; j < K; j++)
        for (int jj = 0; jj < K; jj++)
            for (int i = 0; i < b; i++) c[j * K + jj] += w[i] * y[i * K + j] * y[i * K + jj];
    for (int j = 0; j < K; j++)
        for (int jj = 0; jj < K; jj++) col[jj] += c[j * K + jj];
    for (int j = 0; j < K; j++)
        for (int jj = 0; jj < K; jj++)
            if (j != jj) term += c[j * K + jj] / col[jj];
    return term / K;
}

Test(method_entropy, mcc_equals_closed_form)
{
    enum { B = 12, D = 3 };
    float fs[B * D], ft[B * D], ls[B * K], lt[B * K];
    double l[B * K];
    random_matrix(fs, B * D, 1.0, 0.0);
    random_matrix(ft, B * D, 1.0, 0.0);
    random_matrix(ls, B * K, 2.0, 0.0);
    random_matrix(lt, B * K, 4.0, 0.0);
    to_double(lt, B * K, l);
    double expect = mcc_double(l, NULL, B, 2.5);
    double got = extra_loss(&(struct check){"mcc", NULL, 0, B, D, fs, ft, ls, lt, 0.5, NULL, NULL, NULL, NULL});
    assert_close(got, expect, "mcc, defaults");
    const char *sets[] = {"mcc.trade_off=0.4", "mcc.temperature=1"};
    expect = 0.4 * mcc_double(l, NULL, B, 1.0);
    got = extra_loss(&(struct check){"mcc", sets, 2, B, D, fs, ft, ls, lt, 0.5, NULL, NULL, NULL, NULL});
    assert_close(got, expect, "mcc, T = 1, trade-off 0.4");
    /* the weights matter: unweighted (all w = 1) differs by more than the tolerance */
    double y[B * K], c[K * K] = {0}, col[K] = {0}, plain = 0;
    softmax_rows(lt, B, 1.0, y);
    for (int i = 0; i < B; i++)
        for (int j = 0; j < K; j++)
            for (int jj = 0; jj < K; jj++) c[j * K + jj] += y[i * K + j] * y[i * K + jj];
    for (int j = 0; j < K * K; j++) col[j % K] += c[j];
    for (int j = 0; j < K; j++)
        for (int jj = 0; jj < K; jj++) plain += j != jj ? c[j * K + jj] / col[jj] : 0;
    cr_assert_gt(fabs(0.4 * plain / K - expect), 1e-3, "the entropy weights change nothing: %g vs %g", 0.4 * plain / K, expect);
    /* one-hot-like confident rows, each class predicted: no confusion at all */
    float sharp[B * K];
    for (int i = 0; i < B * K; i++) sharp[i] = (i % K == (i / K) % K) ? 200.0f : 0.0f;
    got = extra_loss(&(struct check){"mcc", NULL, 0, B, D, fs, ft, ls, sharp, 0.5, NULL, NULL, NULL, NULL});
    cr_assert(fabs(got) < 1e-6, "confident, distinct predictions: L_MCC %g", got);
}

/* The autodiff gradient (weights detached) against central differences of the double L_MCC with the
 * weights frozen at the unperturbed logits; the total derivative (weights moving) differs measurably. */
Test(method_entropy, mcc_gradient_holds_the_weights_constant)
{
    enum { B = 8, D = 2, N = B * K };
    float fs[B * D], ft[B * D], ls[N], lt[N], glt[N];
    double l[N], l0[N], g[N], fixed_w[N], total[N];
    random_matrix(fs, B * D, 1.0, 0.0);
    random_matrix(ft, B * D, 1.0, 0.0);
    random_matrix(ls, N, 1.0, 0.0);
    random_matrix(lt, N, 3.0, 0.0);
    const char *sets[] = {"mcc.trade_off=2"};
    struct check k = {"mcc", sets, 1, B, D, fs, ft, ls, lt, 0.5, NULL, NULL, NULL, glt};
    extra_loss(&k);
    to_double(glt, N, g);
    to_double(lt, N, l);
    to_double(lt, N, l0);
    for (int i = 0; i < N; i++) {
        const double keep = l[i], eps = 1e-5;
        l[i] = keep + eps;
        double up = mcc_double(l, l0, B, 2.5), up_t = mcc_double(l, NULL, B, 2.5);
        l[i] = keep - eps;
        double down = mcc_double(l, l0, B, 2.5), down_t = mcc_double(l, NULL, B, 2.5);
        l[i] = keep;
        fixed_w[i] = 2.0 * (up - down) / (2 * eps);
        total[i] = 2.0 * (up_t - down_t) / (2 * eps);
    }
    double num = 0, den = 0, numt = 0;
    for (int i = 0; i < N; i++) {
        num += (g[i] - fixed_w[i]) * (g[i] - fixed_w[i]);
        numt += (total[i] - fixed_w[i]) * (total[i] - fixed_w[i]);
        den += fixed_w[i] * fixed_w[i];
    }
    cr_assert_gt(den, 1e-8, "no gradient");
    cr_assert_lt(sqrt(num / den), 1e-4, "autodiff against the weights-held-constant derivative: %g", sqrt(num / den));
    cr_assert_gt(sqrt(numt / den), 1e-2, "the weights' own derivative is too small to tell apart: %g", sqrt(numt / den));
}

Test(method_entropy, mcc_refuses_a_batch_of_one)
{
    enum { B = 1, D = 2 };
    float f[B * D] = {0};
    double e;
    cr_assert_neq(try_check(&(struct check){"mcc", NULL, 0, B, D, f, f, NULL, NULL, 0.5, NULL, NULL, NULL, NULL}, &e), FERRY_OK);
    cr_assert(strstr(ferry_last_error(), "at least 2"), "%s", ferry_last_error());
}

/* ---- bnm ---------------------------------------------------------------------------------------- */

/* Σ σ_i of a [m, n] by one-sided Jacobi (Hestenes) in double: rotate column pairs until every pair
 * is orthogonal; the singular values are then the column lengths. */
static double nuclear_jacobi(const double *a_in, int m, int n)
{
    double a[64 * K];
    for (int i = 0; i < m * n; i++) a[i] = a_in[i];
    for (int sweep = 0; sweep < 60; sweep++) {
        double off = 0;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                double al = 0, bt = 0, ga = 0;
                for (int i = 0; i < m; i++) {
                    al += a[i * n + p] * a[i * n + p];
                    bt += a[i * n + q] * a[i * n + q];
                    ga += a[i * n + p] * a[i * n + q];
                }
                if (ga == 0 || fabs(ga) <= 1e-15 * sqrt(al * bt)) continue;
                off = fmax(off, fabs(ga) / sqrt(al * bt));
                const double zeta = (bt - al) / (2 * ga);
                const double t = (zeta >= 0 ? 1.0 : -1.0) / (fabs(zeta) + sqrt(1 + zeta * zeta));
                const double c = 1 / sqrt(1 + t * t), s = c * t;
                for (int i = 0; i < m; i++) {
                    const double x = a[i * n + p], y = a[i * n + q];
                    a[i * n + p] = c * x - s * y;
                    a[i * n + q] = s * x + c * y;
                }
            }
        if (off < 1e-15) break;
    }
    double sum = 0;
    for (int p = 0; p < n; p++) {
        double s2 = 0;
        for (int i = 0; i < m; i++) s2 += a[i * n + p] * a[i * n + p];
        sum += sqrt(s2);
    }
    return sum;
}

/* the BNM term −‖softmax(l)‖_* / b in double */
static double bnm_double(const double *l, int b)
{
    double p[64 * K];
    for (int i = 0; i < b; i++) {
        double mx = -INFINITY, z = 0;
        for (int k = 0; k < K; k++) mx = fmax(mx, l[i * K + k]);
        for (int k = 0; k < K; k++) z += (p[i * K + k] = exp(l[i * K + k] - mx));
        for (int k = 0; k < K; k++) p[i * K + k] /= z;
    }
    return -nuclear_jacobi(p, b, K) / b;
}

Test(method_entropy, bnm_jacobi_svd_is_right)
{
    /* [[3, 0], [4, 5]] has singular values √45 and √5 */
    const double a[4] = {3, 0, 4, 5};
    cr_assert(fabs(nuclear_jacobi(a, 2, 2) - (sqrt(45.0) + sqrt(5.0))) < 1e-12, "%.15f", nuclear_jacobi(a, 2, 2));
    /* a rank-one 3 x 4 matrix u vᵀ: ‖u‖ ‖v‖ */
    double r[12];
    const double u[3] = {1, -2, 2}, v[4] = {2, 1, 0, -2};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) r[i * 4 + j] = u[i] * v[j];
    cr_assert(fabs(nuclear_jacobi(r, 3, 4) - 9.0) < 1e-12, "%.15f", nuclear_jacobi(r, 3, 4));
}

/* The nuclear norm against the Jacobi SVD for tall (B ≥ K) and wide (B < K) batches, at three
 * spreads of the logits: peaked, moderate and near-uniform predictions (small singular values). */
Test(method_entropy, bnm_equals_svd)
{
    enum { D = 2 };
    const int batches[] = {32, 10, 16, 6, 3};
    const double scales[] = {4.0, 1.0, 0.2};
    float fs[32 * D] = {0}, ls[32 * K], lt[32 * K];
    double l[32 * K];
    for (int bi = 0; bi < 5; bi++)
        for (int si = 0; si < 3; si++) {
            const int b = batches[bi];
            random_matrix(ls, b * K, 1.0, 0.0);
            random_matrix(lt, b * K, scales[si], 0.0);
            to_double(lt, b * K, l);
            const double expect = bnm_double(l, b);
            double got = extra_loss(&(struct check){"bnm", NULL, 0, b, D, fs, fs, ls, lt, 0.5, NULL, NULL, NULL, NULL});
            char what[64];
            snprintf(what, sizeof what, "bnm, B = %d, logit scale %.1f", b, scales[si]);
            assert_close(got, expect, what);
        }
    /* the weight */
    const char *sets[] = {"bnm.trade_off=0.3"};
    random_matrix(lt, 16 * K, 2.0, 0.0);
    to_double(lt, 16 * K, l);
    double got = extra_loss(&(struct check){"bnm", sets, 1, 16, D, fs, fs, ls, lt, 0.5, NULL, NULL, NULL, NULL});
    assert_close(got, 0.3 * bnm_double(l, 16), "bnm, trade-off 0.3");
}

/* The error against the SVD as the iteration count grows, printed, for near-uniform predictions
 * (logits of scale 0.2, 0.01 and 0.002: the smaller, the smaller the trailing singular values and
 * the slower the iteration). Measured: float accuracy after 15, 20 and 25 steps; the default, 30,
 * must reach it for all three, and 10 steps must be measurably short of it at scale 0.01. */
Test(method_entropy, bnm_iterations_converge)
{
    enum { B = 32, D = 2 };
    float fs[B * D] = {0}, lt[B * K];
    double l[B * K];
    const double scales[] = {0.2, 0.01, 0.002};
    const int its[] = {5, 10, 15, 20, 25, 30, 40, 60};
    for (int si = 0; si < 3; si++) {
        random_matrix(lt, B * K, scales[si], 0.0);
        to_double(lt, B * K, l);
        const double expect = bnm_double(l, B);
        double err[8];
        for (int i = 0; i < 8; i++) {
            char set[32];
            snprintf(set, sizeof set, "bnm.iterations=%d", its[i]);
            const char *sets[] = {set};
            err[i] = fabs(extra_loss(&(struct check){"bnm", sets, 1, B, D, fs, fs, NULL, lt, 0.5, NULL, NULL, NULL, NULL}) -
                          expect);
            cr_log_info("bnm: logit scale %g, %d Newton-Schulz steps: |error| %.3g of %.6f", scales[si], its[i], err[i],
                        expect);
        }
        cr_assert_lt(err[5], 1e-5 + 1e-4 * fabs(expect), "scale %g, 30 steps: %g", scales[si], err[5]);
        if (si == 1) cr_assert_gt(err[1], 1e-4, "10 steps already converged: the check has no power (%g)", err[1]);
    }
}

/* The gradient through the iteration: against central differences of the float loss, and against
 * central differences of the exact (SVD) nuclear norm in double. */
Test(method_entropy, bnm_gradient)
{
    enum { D = 2 };
    const int batches[] = {16, 6};
    for (int bi = 0; bi < 2; bi++) {
        const int b = batches[bi], n = b * K;
        float fs[16 * D] = {0}, ls[16 * K], lt[16 * K], glt[16 * K];
        double l[16 * K];
        random_matrix(ls, n, 1.0, 0.0);
        random_matrix(lt, n, 1.5, 0.0);
        struct check k = {"bnm", NULL, 0, b, D, fs, fs, ls, lt, 0.5, NULL, NULL, NULL, glt};
        extra_loss(&k);
        check_finite_differences(&k, lt, n, glt, 1e-2f, 2e-3);
        to_double(lt, n, l);
        double num = 0, den = 0;
        for (int i = 0; i < n; i++) {
            const double keep = l[i], eps = 1e-6;
            l[i] = keep + eps;
            double up = bnm_double(l, b);
            l[i] = keep - eps;
            double down = bnm_double(l, b);
            l[i] = keep;
            const double fd = (up - down) / (2 * eps);
            num += (glt[i] - fd) * (glt[i] - fd);
            den += fd * fd;
        }
        cr_assert_gt(den, 1e-8, "B = %d: no gradient", b);
        cr_assert_lt(sqrt(num / den), 1e-3, "B = %d: autodiff against the SVD's derivative: %g", b, sqrt(num / den));
    }
}

Test(method_entropy, bnm_refuses_a_batch_of_one)
{
    enum { B = 1, D = 2 };
    float f[B * D] = {0};
    double e;
    cr_assert_neq(try_check(&(struct check){"bnm", NULL, 0, B, D, f, f, NULL, NULL, 0.5, NULL, NULL, NULL, NULL}, &e), FERRY_OK);
    cr_assert(strstr(ferry_last_error(), "at least 2"), "%s", ferry_last_error());
}

/* ---- afn ---------------------------------------------------------------------------------------- */

static double row_norm(const float *x, int d)
{
    double s = 0;
    for (int k = 0; k < d; k++) s += (double)x[k] * x[k];
    return sqrt(s);
}

/* SAFN's value is λ Δr² whatever the features; its gradient is that of (‖h_i‖ − (r_i + Δr))² with r_i
 * the current norms held constant: −λ · 2Δr/(2B) · h_i/‖h_i‖ on both domains (closed form, and central
 * differences of that surrogate in double). The loss itself does not move under finite differences:
 * the gradient comes only from the detached norm, i.e. the detach is really there. */
Test(method_entropy, afn_stepwise)
{
    enum { B = 6, D = 5, N = B * D };
    float fs[N], ft[N], ls[B * K], gs[N], gt[N];
    random_matrix(fs, N, 1.0, 0.5);
    random_matrix(ft, N, 0.5, 0.0);
    random_matrix(ls, B * K, 1.0, 0.0);
    const double lambda = 0.2, dr = 1.5;
    const char *sets[] = {"afn.trade_off=0.2", "afn.delta_r=1.5"};
    double got = extra_loss(&(struct check){"afn", sets, 2, B, D, fs, ft, ls, NULL, 0.5, gs, gt, NULL, NULL});
    assert_close(got, lambda * dr * dr, "SAFN");
    got = extra_loss(&(struct check){"afn", NULL, 0, B, D, fs, ft, ls, NULL, 0.5, NULL, NULL, NULL, NULL});
    assert_close(got, 0.05 * 1.0, "SAFN, defaults (0.05, 1)");
    for (int dom = 0; dom < 2; dom++) {
        const float *f = dom ? ft : fs, *g = dom ? gt : gs;
        for (int i = 0; i < B; i++) {
            const double r = row_norm(f + i * D, D);
            for (int k = 0; k < D; k++) {
                const double want = -lambda * 2 * dr / (2 * B) * f[i * D + k] / r;
                /* the surrogate λ mean (‖h‖ − (r + Δr))², r frozen, by central differences in double */
                double h[D], eps = 1e-6, up, down;
                for (int j = 0; j < D; j++) h[j] = f[i * D + j];
                h[k] += eps;
                up = 0;
                for (int j = 0; j < D; j++) up += h[j] * h[j];
                h[k] -= 2 * eps;
                down = 0;
                for (int j = 0; j < D; j++) down += h[j] * h[j];
                const double fd = lambda / (2 * B) * (pow(sqrt(up) - r - dr, 2) - pow(sqrt(down) - r - dr, 2)) / (2 * eps);
                cr_assert(fabs(fd - want) < 1e-7, "surrogate check itself: %g vs %g", fd, want);
                cr_assert(fabs(g[i * D + k] - want) < 1e-6 + 1e-4 * fabs(want), "%s row %d, %d: gradient %g, want %g",
                          dom ? "target" : "source", i, k, (double)g[i * D + k], want);
            }
        }
    }
    /* the loss's value is flat in the features (only the detached norm gives the gradient) */
    float keep = fs[3];
    fs[3] = keep + 0.1f;
    double moved = extra_loss(&(struct check){"afn", sets, 2, B, D, fs, ft, ls, NULL, 0.5, NULL, NULL, NULL, NULL});
    fs[3] = keep;
    cr_assert(fabs(moved - lambda * dr * dr) < 1e-5, "SAFN's value moved with the features: %g", moved);
    /* a row of zeros: zero gradient there, not NaN */
    for (int k = 0; k < D; k++) ft[2 * D + k] = 0.0f;
    extra_loss(&(struct check){"afn", sets, 2, B, D, fs, ft, ls, NULL, 0.5, gs, gt, NULL, NULL});
    for (int k = 0; k < D; k++) cr_assert_eq(gt[2 * D + k], 0.0f, "zero row, element %d: %g", k, (double)gt[2 * D + k]);
}

/* HAFN: λ [(mean ‖h_s‖ − R)² + (mean ‖h_t‖ − R)²], and its gradient (no detach) against finite
 * differences of the loss in both domains' features. */
Test(method_entropy, afn_hard)
{
    enum { B = 5, D = 4, N = B * D };
    float fs[N], ft[N], gs[N], gt[N];
    random_matrix(fs, N, 1.0, 0.0);
    random_matrix(ft, N, 2.0, 0.3);
    double ms = 0, mt = 0;
    for (int i = 0; i < B; i++) {
        ms += row_norm(fs + i * D, D) / B;
        mt += row_norm(ft + i * D, D) / B;
    }
    const char *sets[] = {"afn.radius=3", "afn.trade_off=0.5"};
    const double expect = 0.5 * ((ms - 3) * (ms - 3) + (mt - 3) * (mt - 3));
    struct check k = {"afn", sets, 2, B, D, fs, ft, NULL, NULL, 0.5, gs, gt, NULL, NULL};
    assert_close(extra_loss(&k), expect, "HAFN");
    check_finite_differences(&k, fs, N, gs, 1e-2f, 2e-3);
    check_finite_differences(&k, ft, N, gt, 1e-2f, 2e-3);
    /* the paper's radius, 25, with the default weight */
    const char *paper[] = {"afn.radius=25"};
    assert_close(extra_loss(&(struct check){"afn", paper, 1, B, D, fs, ft, NULL, NULL, 0.5, NULL, NULL, NULL, NULL}),
                 0.05 * ((ms - 25) * (ms - 25) + (mt - 25) * (mt - 25)), "HAFN, R = 25");
}

Test(method_entropy, afn_refuses_a_negative_radius)
{
    enum { B = 4, D = 2 };
    float f[B * D] = {0};
    double e;
    const char *sets[] = {"afn.radius=-1"};
    cr_assert_neq(try_check(&(struct check){"afn", sets, 1, B, D, f, f, NULL, NULL, 0.5, NULL, NULL, NULL, NULL}, &e), FERRY_OK);
    cr_assert(strstr(ferry_last_error(), "radius"), "%s", ferry_last_error());
}

/* ---- fixmatch ------------------------------------------------------------------------------------ */

/* FixMatch's loss less the source cross-entropy is −λ/B Σ_i m_i log softmax(l2_i)[argmax p_i], p the
 * weak view's probabilities, m_i = [max p_i ≥ τ], for a batch where some rows pass τ and some do not;
 * its gradient w.r.t. the strong view's logits −λ/B m_i (onehot − softmax(l2_i)), and none w.r.t. the
 * weak view's (a pseudo-label is a constant). */
Test(method_entropy, fixmatch_equals_closed_form_and_gradient)
{
    enum { B = 8, D = 4 };
    float lw[B * K], l2[B * K], ls[B * K] = {0}, f[B * D] = {0}, gw[B * K], g2[B * K];
    int32_t y[B];
    for (int i = 0; i < B; i++) y[i] = label(i);
    random_matrix(lw, B * K, 1.0, 0.0);
    for (int i = 0; i < B; i += 2) lw[i * K + (i % K)] += 6.0f; /* the even rows are confident */
    random_matrix(l2, B * K, 1.5, 0.0);
    const ferry_method *m = ferry_methods_find(reg, "fixmatch");
    cr_assert_not_null(m);
    const char *sets[] = {"fixmatch.threshold=0.8", "fixmatch.lambda_u=2"};
    ferry_loss_check c = {.method = m, .sets = sets, .n_sets = 2, .backend = be, .seed = 3, .batch = B, .dim = D,
                          .classes = K, .features_s = f, .features_t = f, .logits_s = ls, .logits_t = lw,
                          .labels_s = y, .logits_t2 = l2, .grad_logits_t = gw, .grad_logits_t2 = g2};
    float loss = NAN;
    cr_assert_eq(ferry_method_check_loss(&c, &loss, NULL, NULL), FERRY_OK, "%s", ferry_last_error());
    double pw[B * K], p2[B * K], expect = 0, grad[B * K];
    softmax_rows(lw, B, 1.0, pw);
    softmax_rows(l2, B, 1.0, p2);
    int kept = 0;
    for (int i = 0; i < B; i++) {
        int best = 0;
        for (int k = 1; k < K; k++)
            if (pw[i * K + k] > pw[i * K + best]) best = k;
        const bool on = pw[i * K + best] >= 0.8;
        kept += on;
        if (on) expect -= 2.0 / B * log(p2[i * K + best]);
        for (int k = 0; k < K; k++) grad[i * K + k] = on ? -2.0 / B * ((k == best) - p2[i * K + k]) : 0;
    }
    cr_assert(kept > 0 && kept < B, "%d of %d rows past the threshold: the test needs both kinds", kept, B);
    assert_close((double)loss - cross_entropy(ls, B), expect, "fixmatch");
    for (int i = 0; i < B * K; i++) {
        cr_assert(fabs(g2[i] - grad[i]) < 1e-6, "d loss / d l2[%d] = %g, in double %g", i, g2[i], grad[i]);
        cr_assert_eq(gw[i], 0.0f, "the weak view's logits got a gradient (%g at %d)", gw[i], i);
    }
    c.logits_t2 = NULL; /* a method of two views checked with one is refused */
    cr_assert_neq(ferry_method_check_loss(&c, &loss, NULL, NULL), FERRY_OK);
    cr_assert(strstr(ferry_last_error(), "give logits_t2"), "%s", ferry_last_error());
}
