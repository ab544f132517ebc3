/* The adaptation methods' arithmetic against values computed independently here, in double
 * precision: gradient reversal flips and scales the discriminator's gradient; DAN's quadratic and
 * linear MMD estimators equal their closed forms (one layer and two), the linear one is unbiased, and
 * the gradient treats the bandwidth as a constant; Deep CORAL's loss and gradient equal a hand
 * computation. Each method is loaded from its plugin in the build tree (PLUGIN_DIR) and evaluated
 * through ferry_method_check_loss on the CPU backend; the source cross-entropy, computed here from the
 * logits and labels, is subtracted from the reported loss. */
#include "method_check.h"

static void open_all(void)
{
    method_check_open((const char *const[]){"dann.so", "dan.so", "coral.so"}, 3);
}

TestSuite(method_math, .init = open_all, .fini = method_check_close);

/* ---- MK-MMD in double --------------------------------------------------------------------------- */

/* m > 0: that bandwidth; else the mean-distance rule */
static double mmd_linear(const double *s, const double *t, int b, int d, double m)
{
    if (m <= 0) m = mean_sqdist(s, t, b, d);
    const int h = b / 2;
    double acc = 0;
    for (int i = 0; i < h; i++) {
        const double *s1 = s + i * d, *s2 = s + (i + h) * d, *t1 = t + i * d, *t2 = t + (i + h) * d;
        acc += mk(sqdist(s1, s2, d), m) + mk(sqdist(t1, t2, d), m) - mk(sqdist(s1, t2, d), m) - mk(sqdist(s2, t1, d), m);
    }
    return acc / h;
}

static double mmd_quadratic(const double *s, const double *t, int b, int d, double m)
{
    if (m <= 0) m = mean_sqdist(s, t, b, d);
    double ss = 0, tt = 0, st = 0;
    for (int i = 0; i < b; i++)
        for (int j = 0; j < b; j++) {
            if (i != j) {
                ss += mk(sqdist(s + i * d, s + j * d, d), m);
                tt += mk(sqdist(t + i * d, t + j * d, d), m);
            }
            st += mk(sqdist(s + i * d, t + j * d, d), m);
        }
    return (ss + tt) / (b * (b - 1.0)) - 2.0 * st / ((double)b * b);
}

/* gx += w ∂k(x, y)/∂x, gy += w ∂k(x, y)/∂y, m held constant */
static void add_kernel_grad(const double *x, const double *y, double *gx, double *gy, int d, double m, double w)
{
    double c = 0, dist = sqdist(x, y, d);
    for (int j = -3; j <= 1; j++) {
        double sigma2 = ldexp(1.0, j) * m;
        c += exp(-dist / sigma2) * (-2.0 / sigma2);
    }
    for (int k = 0; k < d; k++) {
        gx[k] += w * c * (x[k] - y[k]);
        gy[k] -= w * c * (x[k] - y[k]);
    }
}

/* ---- DAN ---------------------------------------------------------------------------------------- */

Test(method_math, dan_quadratic_equals_closed_form)
{
    enum { B = 8, D = 5 };
    float fs[B * D], ft[B * D], ls[B * K];
    double s[B * D], t[B * D];
    random_matrix(fs, B * D, 1.0, 0.0);
    random_matrix(ft, B * D, 1.0, 0.7);
    random_matrix(ls, B * K, 2.0, 0.0); /* a cross-entropy other than log K, subtracted */
    to_double(fs, B * D, s);
    to_double(ft, B * D, t);
    const double expect = mmd_quadratic(s, t, B, D, 0);
    const char *sets[] = {"dan.estimator=1"};
    double got = extra_loss(&(struct check){"dan", sets, 1, B, D, fs, ft, ls, NULL, 0.5, NULL, NULL, NULL, NULL});
    cr_assert(fabs(got - expect) < 1e-5 + 1e-4 * fabs(expect), "quadratic MMD %.8f, closed form %.8f", got, expect);
}

Test(method_math, dan_linear_equals_closed_form)
{
    enum { B = 10, D = 4 };
    float fs[B * D], ft[B * D];
    double s[B * D], t[B * D];
    random_matrix(fs, B * D, 1.0, 3.0); /* far from the origin: the centring keeps the digits */
    random_matrix(ft, B * D, 1.0, 2.5);
    to_double(fs, B * D, s);
    to_double(ft, B * D, t);
    const double expect = mmd_linear(s, t, B, D, 0);
    double got = extra_loss(&(struct check){"dan", NULL, 0, B, D, fs, ft, NULL, NULL, 0.5, NULL, NULL, NULL, NULL});
    cr_assert(fabs(got - expect) < 1e-5 + 1e-4 * fabs(expect), "linear MMD %.8f, closed form %.8f", got, expect);
}

static void softmax_rows(const float *l, int b, double *p)
{
    for (int i = 0; i < b; i++) {
        double mx = l[i * K], z = 0;
        for (int k = 1; k < K; k++) mx = fmax(mx, l[i * K + k]);
        for (int k = 0; k < K; k++) z += (p[i * K + k] = exp(l[i * K + k] - mx));
        for (int k = 0; k < K; k++) p[i * K + k] /= z;
    }
}

/* layers = 2 adds the MMD of the softmax outputs, with their own bandwidth; all-equal outputs (a
 * zero bandwidth, floored) add exactly nothing instead of a NaN. */
Test(method_math, dan_two_layers_adds_the_softmax_mmd)
{
    enum { B = 8, D = 6 };
    float fs[B * D], ft[B * D], ls[B * K], lt[B * K];
    double s[B * D], t[B * D], ps[B * K], pt[B * K];
    random_matrix(fs, B * D, 1.0, 0.0);
    random_matrix(ft, B * D, 1.0, 0.5);
    random_matrix(ls, B * K, 1.5, 0.0);
    random_matrix(lt, B * K, 1.5, 0.0);
    to_double(fs, B * D, s);
    to_double(ft, B * D, t);
    softmax_rows(ls, B, ps);
    softmax_rows(lt, B, pt);
    const char *sets[] = {"dan.layers=2", "dan.estimator=0", "dan.estimator=1"};
    for (int quad = 0; quad <= 1; quad++) {
        const char *use[] = {sets[0], sets[1 + quad]};
        const double expect = quad ? mmd_quadratic(s, t, B, D, 0) + mmd_quadratic(ps, pt, B, K, 0)
                                   : mmd_linear(s, t, B, D, 0) + mmd_linear(ps, pt, B, K, 0);
        double got = extra_loss(&(struct check){"dan", use, 2, B, D, fs, ft, ls, lt, 0.5, NULL, NULL, NULL, NULL});
        cr_assert(fabs(got - expect) < 1e-5 + 1e-4 * fabs(expect), "%s: two-layer MMD %.8f, closed form %.8f", use[1],
                  got, expect);
        const double one = quad ? mmd_quadratic(s, t, B, D, 0) : mmd_linear(s, t, B, D, 0);
        got = extra_loss(&(struct check){"dan", use, 2, B, D, fs, ft, NULL, NULL, 0.5, NULL, NULL, NULL, NULL});
        cr_assert(fabs(got - one) < 1e-4 + 1e-4 * fabs(one), "%s, equal softmax rows: %.8f, features alone %.8f",
                  use[1], got, one);
    }
}

/* E exp(−‖z‖²/c) for z ~ N(δ, 2I) in d dimensions, ‖δ‖² = delta2 */
static double expected_kernel(double c, double delta2, int d)
{
    return pow(1.0 + 4.0 / c, -0.5 * d) * exp(-delta2 / (c + 4.0));
}

/* Source N(0, I), target N(mu·1, I), a fixed bandwidth: the mean of many linear estimates is the
 * population MMD², known in closed form for Gaussians. */
Test(method_math, dan_linear_estimator_is_unbiased)
{
    enum { B = 16, D = 3, R = 2000 };
    const double mu = 1.0, m = 4.0;
    double pop = 0;
    for (int j = -3; j <= 1; j++) {
        double c = ldexp(1.0, j) * m;
        pop += 2 * expected_kernel(c, 0, D) - 2 * expected_kernel(c, D * mu * mu, D);
    }
    const char *sets[] = {"dan.bandwidth=4"};
    double sum = 0, sum2 = 0;
    float fs[B * D], ft[B * D];
    for (int r = 0; r < R; r++) {
        random_matrix(fs, B * D, 1.0, 0.0);
        random_matrix(ft, B * D, 1.0, mu);
        double e = extra_loss(&(struct check){"dan", sets, 1, B, D, fs, ft, NULL, NULL, 0.5, NULL, NULL, NULL, NULL});
        sum += e;
        sum2 += e * e;
    }
    const double mean = sum / R, se = sqrt((sum2 / R - mean * mean) / R);
    cr_assert(fabs(mean - pop) < 4 * se, "mean of %d linear estimates %.5f, population MMD² %.5f (standard error %.5f)",
              R, mean, pop, se);
    cr_assert(pop > 10 * se, "the check has no power: population %.5f vs standard error %.5f", pop, se);
}

static double rel_diff(const double *a, const double *b, int n)
{
    double num = 0, den = 0;
    for (int i = 0; i < n; i++) {
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += b[i] * b[i];
    }
    return sqrt(num / den);
}

/* The gradient of the linear estimator with the bandwidth rule is that of the kernels at a constant
 * m (the bandwidth is detached), in closed form; the total derivative (m moving with the features,
 * by central differences here) is measurably different, so the check can tell them apart. */
Test(method_math, dan_gradient_holds_the_bandwidth_constant)
{
    enum { B = 8, D = 4, N = B * D };
    float fs[N], ft[N], gs[N], gt[N];
    double s[N], t[N], es[N] = {0}, et[N] = {0}, autodiff_s[N], autodiff_t[N], total[N];
    random_matrix(fs, N, 1.0, 0.0);
    random_matrix(ft, N, 1.0, 0.8);
    to_double(fs, N, s);
    to_double(ft, N, t);
    extra_loss(&(struct check){"dan", NULL, 0, B, D, fs, ft, NULL, NULL, 0.5, gs, gt, NULL, NULL});
    to_double(gs, N, autodiff_s);
    to_double(gt, N, autodiff_t);
    const double m = mean_sqdist(s, t, B, D);
    const int h = B / 2;
    for (int i = 0; i < h; i++) {
        int a = i * D, b = (i + h) * D;
        add_kernel_grad(s + a, s + b, es + a, es + b, D, m, 1.0 / h);
        add_kernel_grad(t + a, t + b, et + a, et + b, D, m, 1.0 / h);
        add_kernel_grad(s + a, t + b, es + a, et + b, D, m, -1.0 / h);
        add_kernel_grad(s + b, t + a, es + b, et + a, D, m, -1.0 / h);
    }
    cr_assert_lt(rel_diff(autodiff_s, es, N), 1e-4, "source: %g", rel_diff(autodiff_s, es, N));
    cr_assert_lt(rel_diff(autodiff_t, et, N), 1e-4, "target: %g", rel_diff(autodiff_t, et, N));
    for (int i = 0; i < N; i++) {
        const double keep = s[i], eps = 1e-6;
        s[i] = keep + eps;
        double up = mmd_linear(s, t, B, D, 0);
        s[i] = keep - eps;
        double down = mmd_linear(s, t, B, D, 0);
        s[i] = keep;
        total[i] = (up - down) / (2 * eps);
    }
    cr_assert_gt(rel_diff(total, es, N), 1e-2, "the bandwidth's own derivative is too small to be told apart: %g",
                 rel_diff(total, es, N));
}

Test(method_math, dan_refuses_an_odd_batch_for_the_linear_estimator)
{
    enum { B = 5, D = 2 };
    float f[B * D] = {0};
    double e;
    cr_assert_neq(try_check(&(struct check){"dan", NULL, 0, B, D, f, f, NULL, NULL, 0.5, NULL, NULL, NULL, NULL}, &e), FERRY_OK);
    cr_assert(strstr(ferry_last_error(), "even"), "%s", ferry_last_error());
    /* the quadratic estimator takes any batch */
    const char *sets[] = {"dan.estimator=1"};
    float g[B * D];
    double s[B * D], t[B * D];
    random_matrix(f, B * D, 1.0, 0.0);
    random_matrix(g, B * D, 1.0, 0.0);
    to_double(f, B * D, s);
    to_double(g, B * D, t);
    cr_assert_eq(try_check(&(struct check){"dan", sets, 1, B, D, f, g, NULL, NULL, 0.5, NULL, NULL, NULL, NULL}, &e), FERRY_OK,
                 "%s", ferry_last_error());
    const double expect = mmd_quadratic(s, t, B, D, 0);
    cr_assert(fabs(e - expect) < 1e-5 + 1e-4 * fabs(expect), "quadratic MMD %.8f, closed form %.8f", e, expect);
}

/* ---- Deep CORAL --------------------------------------------------------------------------------- */

/* the centred rows xc and the covariance c = xcᵀ xc / (n − 1) */
static void covariance(const float *x, int n, int d, double *xc, double *c)
{
    double mean[16] = {0};
    for (int i = 0; i < n; i++)
        for (int k = 0; k < d; k++) mean[k] += x[i * d + k] / (double)n;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < d; k++) xc[i * d + k] = x[i * d + k] - mean[k];
    for (int a = 0; a < d; a++)
        for (int b = 0; b < d; b++) {
            double s = 0;
            for (int i = 0; i < n; i++) s += xc[i * d + a] * xc[i * d + b];
            c[a * d + b] = s / (n - 1);
        }
}

/* loss = CE + w ‖C_s − C_t‖²_F / (4d²), and its gradient d/dX_s = w X_s,c (C_s − C_t) / (d² (n − 1)),
 * d/dX_t = −w X_t,c (C_s − C_t) / (d² (n − 1)). */
Test(method_math, coral_equals_hand_computation)
{
    enum { B = 7, D = 4, N = B * D };
    const double w = 2.5;
    float fs[N], ft[N], ls[B * K], gs[N], gt[N];
    double xs[N], xt[N], cs[D * D], ct[D * D], diff[D * D], f = 0, es[N] = {0}, et[N] = {0}, as[N], at[N];
    random_matrix(fs, N, 1.0, 0.0);
    random_matrix(ft, N, 1.5, 0.3);
    random_matrix(ls, B * K, 1.0, 0.0);
    covariance(fs, B, D, xs, cs);
    covariance(ft, B, D, xt, ct);
    for (int i = 0; i < D * D; i++) {
        diff[i] = cs[i] - ct[i];
        f += diff[i] * diff[i];
    }
    const double expect = w * f / (4.0 * D * D);
    const char *sets[] = {"coral.trade_off=2.5"};
    double got = extra_loss(&(struct check){"coral", sets, 1, B, D, fs, ft, ls, NULL, 0.5, gs, gt, NULL, NULL});
    cr_assert(fabs(got - expect) < 1e-5 + 1e-4 * fabs(expect), "CORAL %.8f, by hand %.8f", got, expect);
    for (int i = 0; i < B; i++)
        for (int b = 0; b < D; b++)
            for (int a = 0; a < D; a++) {
                es[i * D + b] += w * xs[i * D + a] * diff[a * D + b] / (D * D * (B - 1.0));
                et[i * D + b] -= w * xt[i * D + a] * diff[a * D + b] / (D * D * (B - 1.0));
            }
    to_double(gs, N, as);
    to_double(gt, N, at);
    cr_assert_lt(rel_diff(as, es, N), 1e-4, "source gradient: %g", rel_diff(as, es, N));
    cr_assert_lt(rel_diff(at, et, N), 1e-4, "target gradient: %g", rel_diff(at, et, N));
}

/* ---- DANN --------------------------------------------------------------------------------------- */

/* The autodiff gradient g (w.r.t. the source features fs, which k reads) against -lambda times the
 * central finite difference of the loss, every stride-th element: relative RMS error below tol. */
static void reversed_fd(const struct check *k, float *fs, int stride, float h, double lambda, const float *g, double tol)
{
    double num = 0, den = 0;
    for (int i = 0; i < k->b * k->d; i += stride) {
        const float keep = fs[i];
        fs[i] = keep + h;
        double lp = extra_loss(k);
        fs[i] = keep - h;
        double lm = extra_loss(k);
        fs[i] = keep;
        const double fd = (lp - lm) / ((double)(keep + h) - (double)(keep - h));
        num += (g[i] + lambda * fd) * (g[i] + lambda * fd);
        den += lambda * fd * lambda * fd;
    }
    cr_assert_gt(den, 1e-12, "the discriminator's gradient vanished");
    cr_assert_lt(sqrt(num / den), tol, "autodiff differs from -lambda x finite difference: %g", sqrt(num / den));
}

/* Autodiff's gradient of DANN's loss w.r.t. the source features is −λ(p) times the finite difference
 * of the same loss (whose value does not depend on λ): reversed and scaled. A linear discriminator
 * (depth 0) keeps the loss smooth for the finite differences; the default MLP is checked on the
 * ratio of two progress values and on λ(0) = 0. */
Test(method_math, gradient_reversal_flips_and_scales)
{
    enum { B = 6, D = 8, N = B * D };
    float fs[N], ft[N], g1[N], g2[N], g0[N];
    random_matrix(fs, N, 1.0, 0.0);
    random_matrix(ft, N, 1.0, 1.0);
    const double p1 = 0.3, p2 = 0.8, gamma = 10, w = 0.5;
    const double l1 = w * (2.0 / (1.0 + exp(-gamma * p1)) - 1.0), l2 = w * (2.0 / (1.0 + exp(-gamma * p2)) - 1.0);
    const char *sets[] = {"dann.depth=0", "dann.trade_off=0.5"};
    extra_loss(&(struct check){"dann", sets, 2, B, D, fs, ft, NULL, NULL, p1, g1, NULL, NULL, NULL});
    reversed_fd(&(struct check){"dann", sets, 2, B, D, fs, ft, NULL, NULL, p1, NULL, NULL, NULL, NULL}, fs, 3, 1e-2f, l1, g1, 2e-2);

    /* the default discriminator (one hidden ReLU layer): the gradient scales with λ(p) exactly */
    const char *deflt[] = {"dann.trade_off=0.5"};
    extra_loss(&(struct check){"dann", deflt, 1, B, D, fs, ft, NULL, NULL, p1, g1, NULL, NULL, NULL});
    extra_loss(&(struct check){"dann", deflt, 1, B, D, fs, ft, NULL, NULL, p2, g2, NULL, NULL, NULL});
    extra_loss(&(struct check){"dann", deflt, 1, B, D, fs, ft, NULL, NULL, 0.0, g0, NULL, NULL, NULL});
    double norm = 0;
    for (int k = 0; k < N; k++) {
        norm += (double)g1[k] * g1[k];
        cr_assert(fabs(g2[k] * l1 - g1[k] * l2) <= 1e-6 * (fabs(g1[k]) + 1e-7), "element %d: %g at p=%.1f, %g at p=%.1f",
                  k, (double)g1[k], p1, (double)g2[k], p2);
        cr_assert_eq(g0[k], 0.0f, "element %d: %g at p = 0, where lambda = 0", k, (double)g0[k]);
    }
    cr_assert_gt(norm, 1e-12, "the discriminator's gradient vanished");
}

/* A discriminator with batch norm (dann.bn=1) after its hidden layer sees each hidden unit
 * standardised over the 2B rows, so its loss does not change when every feature is scaled by c > 0
 * (the linear layer's bias is removed with the mean; the variance scales by c^2 up to BN's eps);
 * without batch norm it does. Its gradient is still -lambda times the finite difference. */
Test(method_math, dann_batch_norm_discriminator)
{
    enum { B = 8, D = 6, N = B * D };
    float fs[N], ft[N], fs3[N], ft3[N], g[N];
    random_matrix(fs, N, 1.0, 0.0);
    random_matrix(ft, N, 1.0, 0.5);
    for (int k = 0; k < N; k++) {
        fs3[k] = 3.0f * fs[k];
        ft3[k] = 3.0f * ft[k];
    }
    const double p = 0.5, lambda = 2.0 / (1.0 + exp(-10.0 * p)) - 1.0;
    const char *bn[] = {"dann.bn=1", "dann.width=16"}, *plain[] = {"dann.bn=0", "dann.width=16"};
    double a = extra_loss(&(struct check){"dann", bn, 2, B, D, fs, ft, NULL, NULL, p, NULL, NULL, NULL, NULL});
    double b = extra_loss(&(struct check){"dann", bn, 2, B, D, fs3, ft3, NULL, NULL, p, NULL, NULL, NULL, NULL});
    cr_assert_lt(fabs(a - b), 1e-4, "with batch norm: %.7f at f, %.7f at 3f", a, b);
    double c = extra_loss(&(struct check){"dann", plain, 2, B, D, fs, ft, NULL, NULL, p, NULL, NULL, NULL, NULL});
    double d = extra_loss(&(struct check){"dann", plain, 2, B, D, fs3, ft3, NULL, NULL, p, NULL, NULL, NULL, NULL});
    cr_assert_gt(fabs(c - d), 1e-3, "without batch norm the loss should change: %.7f at f, %.7f at 3f", c, d);

    extra_loss(&(struct check){"dann", bn, 2, B, D, fs, ft, NULL, NULL, p, g, NULL, NULL, NULL});
    reversed_fd(&(struct check){"dann", bn, 2, B, D, fs, ft, NULL, NULL, p, NULL, NULL, NULL, NULL}, fs, 2, 1e-3f, lambda, g, 5e-2);
}

/* ---- the harness itself ----------------------------------------------------------------------------- */

Test(method_math, check_loss_refuses_bad_input)
{
    enum { B = 4, D = 2 };
    float f[B * D] = {0};
    int32_t bad[B] = {0, 1, K, 2};
    float zeros[B * K] = {0}, loss;
    ferry_loss_check c = {.method = ferry_methods_find(reg, "coral"), .backend = be, .batch = B, .dim = D,
                          .classes = K, .features_s = f, .features_t = f, .logits_s = zeros, .logits_t = zeros,
                          .labels_s = bad, .progress = 0.5};
    cr_assert_neq(ferry_method_check_loss(&c, &loss, NULL, NULL), FERRY_OK);
    cr_assert(strstr(ferry_last_error(), "label"), "%s", ferry_last_error());
    const char *sets[] = {"coral.no_such=1"};
    bad[2] = 2;
    c.sets = sets;
    c.n_sets = 1;
    cr_assert_neq(ferry_method_check_loss(&c, &loss, NULL, NULL), FERRY_OK);
    cr_assert(strstr(ferry_last_error(), "no_such"), "%s", ferry_last_error());
}

/* d loss / d logits: CORAL's loss is the source cross-entropy plus a term of the features only, so
 * its gradient on the source logits is (softmax − one-hot) / B and on the target logits zero. */
Test(method_math, check_loss_gives_the_logits_gradient)
{
    enum { B = 6, D = 3 };
    float fs[B * D], ft[B * D], ls[B * K], lt[B * K], gls[B * K], glt[B * K], loss;
    random_matrix(fs, B * D, 1, 0);
    random_matrix(ft, B * D, 1, 0.5);
    random_matrix(ls, B * K, 2, 0);
    random_matrix(lt, B * K, 2, 0);
    int32_t y[B];
    for (int i = 0; i < B; i++) y[i] = label(i);
    ferry_loss_check c = {.method = ferry_methods_find(reg, "coral"), .backend = be, .batch = B, .dim = D,
                          .classes = K, .features_s = fs, .features_t = ft, .logits_s = ls, .logits_t = lt,
                          .labels_s = y, .progress = 0.5, .grad_logits_s = gls, .grad_logits_t = glt};
    cr_assert_eq(ferry_method_check_loss(&c, &loss, NULL, NULL), FERRY_OK, "%s", ferry_last_error());
    for (int i = 0; i < B; i++) {
        double mx = ls[i * K], z = 0;
        for (int k = 1; k < K; k++) mx = fmax(mx, ls[i * K + k]);
        for (int k = 0; k < K; k++) z += exp(ls[i * K + k] - mx);
        for (int k = 0; k < K; k++) {
            double want = (exp(ls[i * K + k] - mx) / z - (k == y[i])) / B;
            cr_assert(fabs(gls[i * K + k] - want) < 1e-6, "row %d class %d: %g, want %g", i, k, gls[i * K + k], want);
            cr_assert_eq(glt[i * K + k], 0.0f);
        }
    }
    /* the same through the shared checker, and the feature gradient against finite differences */
    float gs[B * D], gt[B * D];
    struct check k = {"coral", NULL, 0, B, D, fs, ft, ls, lt, 0.5, gs, gt, gls, glt};
    extra_loss(&k);
    check_finite_differences(&k, ls, B * K, gls, 1e-2f, 2e-3);
    check_finite_differences(&k, fs, B * D, gs, 1e-2f, 2e-2);
    check_finite_differences(&k, ft, B * D, gt, 1e-2f, 2e-2);
}
