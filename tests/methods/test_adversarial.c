/* The adversarial and joint-distribution methods (CDAN, MDD, JAN, BSP) against values computed here in
 * double precision. Their modules (discriminators, heads, random maps) are drawn by the host from the
 * check's seed (3) in the order setup creates them, each linear layer's weight [out, in] and then its
 * bias [out] uniform in ±1/sqrt(in); the test draws the same numbers (draw_linear) and evaluates the
 * method's formula on them, so the known answers are exact functions of the inputs. */
#include "method_check.h"

#include <unistd.h>

static void open_all(void)
{
    method_check_open((const char *const[]){"cdan.so", "mdd.so", "jan.so", "bsp.so", "dann.so", "bss.so"}, 6);
}

TestSuite(method_adversarial, .init = open_all, .fini = method_check_close);

/* ---- the host's module draws, and small double-precision layers ---------------------------------- */

#define MAX_LAYERS 8
#define MAX_W 8192

struct linear {
    int in, out;
    double w[MAX_W], b[64];
};

/* the next linear layer from rng, as ferry_nn_linear_init draws it */
static void draw_linear(ferry_rng_t *rng, struct linear *l, int in, int out)
{
    cr_assert(in * out <= MAX_W && out <= 64, "layer %dx%d too large for the test", in, out);
    l->in = in, l->out = out;
    const double bound = 1.0 / sqrt((double)in);
    for (int i = 0; i < out * in; i++) l->w[i] = (float)ferry_rng_uniform(rng, -bound, bound);
    for (int i = 0; i < out; i++) l->b[i] = (float)ferry_rng_uniform(rng, -bound, bound);
}

/* y = W x (+ b) */
static void apply(const struct linear *l, const double *x, double *y, bool bias)
{
    for (int o = 0; o < l->out; o++) {
        double s = bias ? l->b[o] : 0;
        for (int i = 0; i < l->in; i++) s += l->w[o * l->in + i] * x[i];
        y[o] = s;
    }
}

/* an MLP of n layers with ReLU between them: y = L_n(relu(... relu(L_1 x))) */
static void mlp(const struct linear *ls, int n, const double *x, double *y)
{
    double a[512], b[512];
    memcpy(a, x, (size_t)ls[0].in * sizeof *a);
    for (int k = 0; k < n; k++) {
        apply(&ls[k], a, b, true);
        for (int o = 0; o < ls[k].out; o++) a[o] = k + 1 < n ? fmax(b[o], 0.0) : b[o];
    }
    memcpy(y, a, (size_t)ls[n - 1].out * sizeof *y);
}

static void softmax_row(const float *l, int k, double *p)
{
    double mx = l[0], z = 0;
    for (int i = 1; i < k; i++) mx = fmax(mx, l[i]);
    for (int i = 0; i < k; i++) z += (p[i] = exp(l[i] - mx));
    for (int i = 0; i < k; i++) p[i] /= z;
}

static double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }

static double rel_diff(const double *a, const double *b, int n)
{
    double num = 0, den = 0;
    for (int i = 0; i < n; i++) {
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += b[i] * b[i];
    }
    return sqrt(num / den);
}

/* The autodiff gradient g (w.r.t. x, one of k's inputs) against −λ times the central finite difference
 * of the loss, every stride-th element: relative RMS error below tol (a reversed, scaled gradient). */
static void reversed_fd(const struct check *k, float *x, int n, int stride, float h, double lambda, const float *g,
                        double tol)
{
    double num = 0, den = 0;
    for (int i = 0; i < n; i += stride) {
        const float keep = x[i];
        x[i] = keep + h;
        double lp = extra_loss(k);
        x[i] = keep - h;
        double lm = extra_loss(k);
        x[i] = keep;
        const double fd = (lp - lm) / ((double)(keep + h) - (double)(keep - h));
        num += (g[i] + lambda * fd) * (g[i] + lambda * fd);
        den += lambda * fd * lambda * fd;
    }
    cr_assert_gt(den, 1e-12, "%s: the adversarial gradient vanished", k->method);
    cr_assert_lt(sqrt(num / den), tol, "%s: autodiff differs from -lambda x finite difference: %g", k->method,
                 sqrt(num / den));
}

static double dann_lambda(double p, double scale) { return scale * (2.0 / (1.0 + exp(-10.0 * p)) - 1.0); }

/* ---- CDAN ------------------------------------------------------------------------------------------ */

/* CDAN's adversarial loss in double: B source rows then B target rows; width/depth the discriminator,
 * dr > 0 the randomised map's dimension (0: multilinear), entropy weighting on or off. */
static double cdan_by_hand(const float *fs, const float *ft, const float *ls, const float *lt, int b, int d, int width,
                           int depth, int dr, bool entropy)
{
    ferry_rng_t *rng;
    cr_assert_eq(ferry_rng_init(3, &rng), FERRY_OK);
    static struct linear disc[MAX_LAYERS], rf, rg;
    const int in = dr ? dr : d * K;
    for (int i = 0; i < depth; i++) draw_linear(rng, &disc[i], i ? width : in, width);
    draw_linear(rng, &disc[depth], depth ? width : in, 1);
    if (dr) {
        draw_linear(rng, &rf, d, dr);
        draw_linear(rng, &rg, K, dr);
    }
    ferry_rng_free(rng);
    double ell[128], u[128], wsum[2] = {0, 0};
    for (int r = 0; r < 2 * b; r++) {
        const bool src = r < b;
        const float *f = src ? fs + r * d : ft + (r - b) * d, *l = src ? ls + r * K : lt + (r - b) * K;
        double g[K], x[64], t[MAX_W], pf[512], pg[512], z;
        softmax_row(l, K, g);
        for (int i = 0; i < d; i++) x[i] = f[i];
        if (dr) {
            apply(&rf, x, pf, false);
            apply(&rg, g, pg, false);
            for (int j = 0; j < dr; j++) t[j] = pf[j] * sqrt(3.0 * d) * pg[j] * sqrt(3.0 * K) / sqrt((double)dr);
        } else {
            for (int k = 0; k < K; k++)
                for (int i = 0; i < d; i++) t[k * d + i] = g[k] * x[i];
        }
        mlp(disc, depth + 1, t, &z);
        ell[r] = src ? softplus(z) : softplus(-z);
        double h = 0;
        for (int k = 0; k < K; k++) h -= g[k] * log(g[k]);
        u[r] = 1.0 + exp(-h);
        wsum[!src] += u[r];
    }
    double loss = 0;
    for (int r = 0; r < 2 * b; r++) loss += entropy ? 0.5 * ell[r] * u[r] / wsum[r >= b] : ell[r] / (2.0 * b);
    return loss;
}

Test(method_adversarial, cdan_multilinear_equals_hand_computation)
{
    enum { B = 6, D = 5 };
    float fs[B * D], ft[B * D], ls[B * K], lt[B * K];
    random_matrix(fs, B * D, 3.0, 0.0);
    random_matrix(ft, B * D, 3.0, 0.5);
    random_matrix(ls, B * K, 3.0, 0.0);
    random_matrix(lt, B * K, 3.0, 0.3);
    for (int e = 0; e <= 1; e++) {
        const char *sets[] = {"cdan.width=16", e ? "cdan.entropy=1" : "cdan.entropy=0"};
        const double expect = cdan_by_hand(fs, ft, ls, lt, B, D, 16, 2, 0, e);
        double got = extra_loss(&(struct check){"cdan", sets, 2, B, D, fs, ft, ls, lt, 0.5, NULL, NULL, NULL, NULL});
        cr_assert(fabs(got - expect) < 1e-5 + 1e-4 * fabs(expect), "entropy=%d: CDAN %.8f, by hand %.8f", e, got,
                  expect);
    }
}

Test(method_adversarial, cdan_randomized_equals_hand_computation)
{
    enum { B = 5, D = 7, DR = 48 };
    float fs[B * D], ft[B * D], ls[B * K], lt[B * K];
    random_matrix(fs, B * D, 1.0, 0.0);
    random_matrix(ft, B * D, 1.0, 0.5);
    random_matrix(ls, B * K, 2.0, 0.0);
    random_matrix(lt, B * K, 2.0, 0.3);
    for (int e = 0; e <= 1; e++) {
        const char *sets[] = {"cdan.width=12", "cdan.depth=1", "cdan.map=2", "cdan.random_dim=48",
                              e ? "cdan.entropy=1" : "cdan.entropy=0"};
        const double expect = cdan_by_hand(fs, ft, ls, lt, B, D, 12, 1, DR, e);
        double got = extra_loss(&(struct check){"cdan", sets, 5, B, D, fs, ft, ls, lt, 0.5, NULL, NULL, NULL, NULL});
        cr_assert(fabs(got - expect) < 1e-5 + 1e-4 * fabs(expect), "entropy=%d: randomised CDAN %.8f, by hand %.8f",
                  e, got, expect);
    }
}

/* The gradient reaching the features is −λ(p) times the loss's own derivative (gradient reversal,
 * λ = 2/(1+exp(−10p)) − 1); the predictions g and the entropy weights are detached, so the logits get
 * the source cross-entropy's gradient only: (softmax − one-hot)/B on the source rows, 0 on the target. */
Test(method_adversarial, cdan_gradients_reversed_and_predictions_detached)
{
    enum { B = 6, D = 4, N = B * D };
    float fs[N], ft[N], ls[B * K], lt[B * K], gs[N], gt[N], gls[B * K], glt[B * K];
    random_matrix(fs, N, 1.0, 0.0);
    random_matrix(ft, N, 1.0, 0.5);
    random_matrix(ls, B * K, 2.0, 0.0);
    random_matrix(lt, B * K, 2.0, 0.3);
    const double p = 0.4;
    for (int m = 0; m <= 1; m++) {
        const char *sets[] = {"cdan.entropy=1", "cdan.width=16", m ? "cdan.map=2" : "cdan.map=1", "cdan.random_dim=32"};
        struct check k = {"cdan", sets, 4, B, D, fs, ft, ls, lt, p, gs, gt, gls, glt};
        extra_loss(&k);
        k.gs = k.gt = k.gls = k.glt = NULL;
        reversed_fd(&k, fs, N, 2, 1e-2f, dann_lambda(p, 1.0), gs, 5e-2);
        /* and exactly, against central differences of the double-precision loss */
        double fd[2 * N], ad[2 * N];
        for (int i = 0; i < 2 * N; i++) {
            float *x = i < N ? fs + i : ft + i - N;
            const float keep = *x;
            *x = keep + 1e-3f;
            const double up = cdan_by_hand(fs, ft, ls, lt, B, D, 16, 2, m ? 32 : 0, true);
            *x = keep - 1e-3f;
            const double down = cdan_by_hand(fs, ft, ls, lt, B, D, 16, 2, m ? 32 : 0, true);
            *x = keep;
            fd[i] = -dann_lambda(p, 1.0) * (up - down) / ((double)(keep + 1e-3f) - (double)(keep - 1e-3f));
            ad[i] = i < N ? gs[i] : gt[i - N];
        }
        cr_assert_lt(rel_diff(ad, fd, 2 * N), 1e-3, "map %d: gradient vs -lambda x the hand loss's derivative: %g", m,
                     rel_diff(ad, fd, 2 * N));
        for (int i = 0; i < B; i++) {
            double q[K];
            softmax_row(ls + i * K, K, q);
            for (int c = 0; c < K; c++) {
                const double want = (q[c] - (c == label(i))) / B;
                cr_assert(fabs(gls[i * K + c] - want) < 1e-6, "map %d: source logit (%d, %d): %g, want %g", m, i, c,
                          (double)gls[i * K + c], want);
                cr_assert_eq(glt[i * K + c], 0.0f, "map %d: target logit (%d, %d) has gradient %g", m, i, c,
                             (double)glt[i * K + c]);
            }
        }
    }
    /* λ(0) = 0: nothing reaches the features at the start */
    const char *sets[] = {"cdan.width=16"};
    extra_loss(&(struct check){"cdan", sets, 1, B, D, fs, ft, ls, lt, 0.0, gs, gt, NULL, NULL});
    for (int i = 0; i < N; i++) cr_assert(gs[i] == 0.0f && gt[i] == 0.0f, "element %d: gradient at p = 0", i);
}

Test(method_adversarial, cdan_refuses_a_too_large_multilinear_map)
{
    enum { B = 2, D = 7000 };
    static float f[B * D];
    const char *sets[] = {"cdan.map=1"};
    double e;
    cr_assert_neq(try_check(&(struct check){"cdan", sets, 1, B, D, f, f, NULL, NULL, 0.5, NULL, NULL, NULL, NULL}, &e),
                  FERRY_OK);
    cr_assert(strstr(ferry_last_error(), "cdan: the multilinear map would have 70000 inputs"), "%s", ferry_last_error());
}

/* ---- MDD ------------------------------------------------------------------------------------------- */

static int argmax_row(const float *l)
{
    int best = 0;
    for (int k = 1; k < K; k++)
        if (l[k] > l[best]) best = k;
    return best;
}

/* MDD's bracket in double, times trade_off: γ · mean_s CE(f'(s), ŷ_s) + mean_t −log(1 − p'_t[ŷ_t] + 1e-6),
 * the head of `depth` hidden ReLU layers of `width` drawn as the host draws it. */
static double mdd_by_hand(const float *fs, const float *ft, const float *ls, const float *lt, int b, int d, int width,
                          int depth, double margin, double trade_off)
{
    ferry_rng_t *rng;
    cr_assert_eq(ferry_rng_init(3, &rng), FERRY_OK);
    static struct linear head[MAX_LAYERS];
    for (int i = 0; i <= depth; i++) draw_linear(rng, &head[i], i ? width : d, i == depth ? K : width);
    ferry_rng_free(rng);
    double src = 0, tgt = 0;
    for (int r = 0; r < 2 * b; r++) {
        const bool s = r < b;
        const float *f = s ? fs + r * d : ft + (r - b) * d, *l = s ? ls + r * K : lt + (r - b) * K;
        double x[64], z[K], p[K];
        for (int i = 0; i < d; i++) x[i] = f[i];
        mlp(head, depth + 1, x, z);
        double mx = z[0], sum = 0;
        for (int k = 1; k < K; k++) mx = fmax(mx, z[k]);
        for (int k = 0; k < K; k++) sum += (p[k] = exp(z[k] - mx));
        const int y = argmax_row(l);
        if (s)
            src += (mx + log(sum) - z[y]) / b;
        else
            tgt += -log(1.0 - p[y] / sum + 1e-6) / b;
    }
    return trade_off * (margin * src + tgt);
}

Test(method_adversarial, mdd_equals_hand_computation)
{
    enum { B = 6, D = 5 };
    float fs[B * D], ft[B * D], ls[B * K], lt[B * K];
    random_matrix(fs, B * D, 2.0, 0.0);
    random_matrix(ft, B * D, 2.0, 0.5);
    random_matrix(ls, B * K, 2.0, 0.0);
    random_matrix(lt, B * K, 2.0, 0.3);
    const char *deflt[] = {"mdd.width=16"}, *other[] = {"mdd.width=12", "mdd.depth=2", "mdd.margin=2.5",
                                                         "mdd.trade_off=0.7"};
    double expect = mdd_by_hand(fs, ft, ls, lt, B, D, 16, 1, 4.0, 1.0);
    double got = extra_loss(&(struct check){"mdd", deflt, 1, B, D, fs, ft, ls, lt, 0.5, NULL, NULL, NULL, NULL});
    cr_assert(fabs(got - expect) < 1e-5 + 1e-4 * fabs(expect), "MDD %.8f, by hand %.8f", got, expect);
    expect = mdd_by_hand(fs, ft, ls, lt, B, D, 12, 2, 2.5, 0.7);
    got = extra_loss(&(struct check){"mdd", other, 4, B, D, fs, ft, ls, lt, 0.5, NULL, NULL, NULL, NULL});
    cr_assert(fabs(got - expect) < 1e-5 + 1e-4 * fabs(expect), "MDD (depth 2, margin 2.5) %.8f, by hand %.8f", got,
              expect);
}

/* The features get −λ(p) times the bracket's derivative, λ = 0.1 (2/(1+exp(−10p)) − 1); the
 * predictions ŷ are argmaxes (no gradient), so the logits get the source cross-entropy's gradient only. */
Test(method_adversarial, mdd_gradients_reversed_and_predictions_detached)
{
    enum { B = 6, D = 4, N = B * D };
    float fs[N], ft[N], ls[B * K], lt[B * K], gs[N], gt[N], gls[B * K], glt[B * K];
    random_matrix(fs, N, 1.0, 0.0);
    random_matrix(ft, N, 1.0, 0.5);
    random_matrix(ls, B * K, 2.0, 0.0);
    random_matrix(lt, B * K, 2.0, 0.3);
    const double p = 0.6, lambda = dann_lambda(p, 0.1);
    const char *sets[] = {"mdd.width=16"};
    extra_loss(&(struct check){"mdd", sets, 1, B, D, fs, ft, ls, lt, p, gs, gt, gls, glt});
    double fd[2 * N], ad[2 * N], norm = 0;
    for (int i = 0; i < 2 * N; i++) {
        float *x = i < N ? fs + i : ft + i - N;
        const float keep = *x;
        *x = keep + 1e-3f;
        const double up = mdd_by_hand(fs, ft, ls, lt, B, D, 16, 1, 4.0, 1.0);
        *x = keep - 1e-3f;
        const double down = mdd_by_hand(fs, ft, ls, lt, B, D, 16, 1, 4.0, 1.0);
        *x = keep;
        fd[i] = -lambda * (up - down) / ((double)(keep + 1e-3f) - (double)(keep - 1e-3f));
        ad[i] = i < N ? gs[i] : gt[i - N];
        norm += ad[i] * ad[i];
    }
    cr_assert_gt(norm, 1e-14, "the adversarial gradient vanished");
    cr_assert_lt(rel_diff(ad, fd, 2 * N), 1e-3, "gradient vs -lambda x the hand loss's derivative: %g",
                 rel_diff(ad, fd, 2 * N));
    for (int i = 0; i < B; i++) {
        double q[K];
        softmax_row(ls + i * K, K, q);
        for (int c = 0; c < K; c++) {
            const double want = (q[c] - (c == label(i))) / B;
            cr_assert(fabs(gls[i * K + c] - want) < 1e-6, "source logit (%d, %d): %g, want %g", i, c,
                      (double)gls[i * K + c], want);
            cr_assert_eq(glt[i * K + c], 0.0f, "target logit (%d, %d) has gradient %g", i, c, (double)glt[i * K + c]);
        }
    }
}

Test(method_adversarial, mdd_refuses_a_single_class)
{
    enum { B = 4, D = 3 };
    float f[B * D] = {0}, l[B] = {0}, loss;
    int32_t y[B] = {0};
    ferry_loss_check c = {.method = ferry_methods_find(reg, "mdd"), .backend = be, .batch = B, .dim = D,
                          .classes = 1, .features_s = f, .features_t = f, .logits_s = l, .logits_t = l,
                          .labels_s = y, .progress = 0.5};
    cr_assert_neq(ferry_method_check_loss(&c, &loss, NULL, NULL), FERRY_OK);
    cr_assert(strstr(ferry_last_error(), "mdd: the disparity needs at least 2 classes (got 1)"), "%s",
              ferry_last_error());
}

/* ---- JAN ------------------------------------------------------------------------------------------- */

/* JMMD² of (features [b, d], softmax of logits [b, K]) in double; m[0], m[1] > 0 fix the layers'
 * bandwidths, else DAN's rule sets them (and m receives them). */
static double jmmd_by_hand(const float *fs, const float *ft, const float *ls, const float *lt, int b, int d, bool quad,
                           double m[2])
{
    static double s[512], t[512], ps[64 * K], pt[64 * K];
    to_double(fs, b * d, s);
    to_double(ft, b * d, t);
    for (int i = 0; i < b; i++) {
        softmax_row(ls + i * K, K, ps + i * K);
        softmax_row(lt + i * K, K, pt + i * K);
    }
    if (m[0] <= 0) m[0] = mean_sqdist(s, t, b, d);
    if (m[1] <= 0) m[1] = mean_sqdist(ps, pt, b, K);
#define KJ(x, y, px, py) (mk(sqdist(x, y, d), m[0]) * mk(sqdist(px, py, K), m[1]))
    if (quad) {
        double ss = 0, tt = 0, st = 0;
        for (int i = 0; i < b; i++)
            for (int j = 0; j < b; j++) {
                if (i != j) {
                    ss += KJ(s + i * d, s + j * d, ps + i * K, ps + j * K);
                    tt += KJ(t + i * d, t + j * d, pt + i * K, pt + j * K);
                }
                st += KJ(s + i * d, t + j * d, ps + i * K, pt + j * K);
            }
        return (ss + tt) / (b * (b - 1.0)) - 2.0 * st / ((double)b * b);
    }
    const int h = b / 2;
    double acc = 0;
    for (int i = 0; i < h; i++) {
        const int a = i, c = i + h;
        acc += KJ(s + a * d, s + c * d, ps + a * K, ps + c * K) + KJ(t + a * d, t + c * d, pt + a * K, pt + c * K) -
               KJ(s + a * d, t + c * d, ps + a * K, pt + c * K) - KJ(s + c * d, t + a * d, ps + c * K, pt + a * K);
    }
#undef KJ
    return acc / h;
}

Test(method_adversarial, jan_equals_double_jmmd)
{
    enum { B = 8, D = 5 };
    float fs[B * D], ft[B * D], ls[B * K], lt[B * K];
    random_matrix(fs, B * D, 1.0, 2.0); /* off the origin: the centring keeps the digits */
    random_matrix(ft, B * D, 1.0, 2.6);
    random_matrix(ls, B * K, 2.0, 0.0);
    random_matrix(lt, B * K, 2.0, 0.4);
    const char *sets[][2] = {{"jan.estimator=0", "jan.trade_off=1"}, {"jan.estimator=1", "jan.trade_off=1"},
                             {"jan.estimator=0", "jan.bandwidth=3"}, {"jan.estimator=1", "jan.bandwidth=3"}};
    for (int c = 0; c < 4; c++) {
        double m[2] = {c >= 2 ? 3 : 0, c >= 2 ? 3 : 0};
        const double expect = jmmd_by_hand(fs, ft, ls, lt, B, D, c % 2, m);
        double got = extra_loss(&(struct check){"jan", sets[c], 2, B, D, fs, ft, ls, lt, 0.5, NULL, NULL, NULL, NULL});
        cr_assert(fabs(got - expect) < 1e-5 + 1e-4 * fabs(expect), "%s %s: JMMD %.8f, double %.8f", sets[c][0],
                  sets[c][1], got, expect);
    }
    /* a value large enough for the tolerance to mean something */
    double m[2] = {0, 0};
    const double joint = jmmd_by_hand(fs, ft, ls, lt, B, D, false, m);
    cr_assert(fabs(joint) > 1e-3, "JMMD %g too small to tell anything", joint);
}

/* With a fixed bandwidth the loss is smooth in all four inputs: autodiff against central differences.
 * With the bandwidth rule the gradient holds each layer's m constant: it matches the double JMMD's
 * derivative at fixed m, and differs from its total derivative (m moving too). */
Test(method_adversarial, jan_gradients)
{
    enum { B = 6, D = 4, N = B * D };
    float fs[N], ft[N], ls[B * K], lt[B * K], gs[N], gt[N], gls[B * K], glt[B * K];
    random_matrix(fs, N, 1.0, 0.0);
    random_matrix(ft, N, 1.0, 0.7);
    random_matrix(ls, B * K, 1.5, 0.0);
    random_matrix(lt, B * K, 1.5, 0.3);
    const char *fixed[] = {"jan.bandwidth=2", "jan.estimator=1"};
    struct check k = {"jan", fixed, 2, B, D, fs, ft, ls, lt, 0.5, gs, gt, gls, glt};
    extra_loss(&k);
    check_finite_differences(&k, fs, N, gs, 1e-2f, 2e-2);
    check_finite_differences(&k, ft, N, gt, 1e-2f, 2e-2);
    check_finite_differences(&k, ls, B * K, gls, 1e-2f, 2e-2);
    check_finite_differences(&k, lt, B * K, glt, 1e-2f, 2e-2);

    extra_loss(&(struct check){"jan", NULL, 0, B, D, fs, ft, ls, lt, 0.5, gs, gt, gls, glt});
    double m[2] = {0, 0};
    jmmd_by_hand(fs, ft, ls, lt, B, D, false, m);
    enum { M = 2 * N + B * K };
    double at_m[M], total[M], ad[M];
    float *in[M];
    for (int i = 0; i < N; i++) in[i] = fs + i, in[N + i] = ft + i, ad[i] = gs[i], ad[N + i] = gt[i];
    for (int i = 0; i < B * K; i++) in[2 * N + i] = lt + i, ad[2 * N + i] = glt[i]; /* and the target logits */
    for (int i = 0; i < M; i++) {
        const float keep = *in[i], hh = 1e-3f;
        double mu[2] = {m[0], m[1]}, md[2] = {m[0], m[1]}, z1[2] = {0, 0}, z2[2] = {0, 0};
        *in[i] = keep + hh;
        const double up = jmmd_by_hand(fs, ft, ls, lt, B, D, false, mu), up_t = jmmd_by_hand(fs, ft, ls, lt, B, D, false, z1);
        *in[i] = keep - hh;
        const double dn = jmmd_by_hand(fs, ft, ls, lt, B, D, false, md), dn_t = jmmd_by_hand(fs, ft, ls, lt, B, D, false, z2);
        *in[i] = keep;
        const double step = (double)(keep + hh) - (double)(keep - hh);
        at_m[i] = (up - dn) / step;
        total[i] = (up_t - dn_t) / step;
    }
    cr_assert_lt(rel_diff(ad, at_m, M), 1e-3, "gradient vs the derivative at fixed bandwidths: %g", rel_diff(ad, at_m, M));
    cr_assert_gt(rel_diff(total, at_m, M), 1e-2, "the bandwidths' own derivative is too small to be told apart: %g",
                 rel_diff(total, at_m, M));
}

Test(method_adversarial, jan_refuses_an_odd_batch_for_the_linear_estimator)
{
    enum { B = 5, D = 2 };
    float f[B * D] = {0};
    double e;
    cr_assert_neq(try_check(&(struct check){"jan", NULL, 0, B, D, f, f, NULL, NULL, 0.5, NULL, NULL, NULL, NULL}, &e),
                  FERRY_OK);
    cr_assert(strstr(ferry_last_error(), "jan: the linear estimator needs an even batch of at least 2 (got 5)"), "%s",
              ferry_last_error());
}

/* ---- BSP ------------------------------------------------------------------------------------------- */

/* The eigenvalues of the symmetric n×n matrix a (destroyed) by cyclic Jacobi rotations, descending. */
static void jacobi_eigenvalues(double *a, int n, double *ev)
{
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) off += a[p * n + q] * a[p * n + q];
        if (off < 1e-26) break;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                if (fabs(a[p * n + q]) < 1e-300) continue;
                const double theta = (a[q * n + q] - a[p * n + p]) / (2 * a[p * n + q]);
                const double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                const double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int r = 0; r < n; r++) { /* columns p, q */
                    const double ap = a[r * n + p], aq = a[r * n + q];
                    a[r * n + p] = c * ap - s * aq;
                    a[r * n + q] = s * ap + c * aq;
                }
                for (int r = 0; r < n; r++) { /* rows p, q */
                    const double ap = a[p * n + r], aq = a[q * n + r];
                    a[p * n + r] = c * ap - s * aq;
                    a[q * n + r] = s * ap + c * aq;
                }
            }
    }
    for (int i = 0; i < n; i++) ev[i] = a[i * n + i];
    for (int i = 0; i < n; i++) /* sort descending */
        for (int j = i + 1; j < n; j++)
            if (ev[j] > ev[i]) {
                double x = ev[i];
                ev[i] = ev[j];
                ev[j] = x;
            }
}

/* Σ_{i≤k} σ_i(F)², F [b, d] (float), from the eigenvalues of FᵀF in double */
static double top_sigma2(const float *f, int b, int d, int k)
{
    static double g[64 * 64], ev[64];
    for (int p = 0; p < d; p++)
        for (int q = 0; q < d; q++) {
            double s = 0;
            for (int r = 0; r < b; r++) s += (double)f[r * d + p] * f[r * d + q];
            g[p * d + q] = s;
        }
    jacobi_eigenvalues(g, d, ev);
    double s = 0;
    for (int i = 0; i < k; i++) s += ev[i];
    return s;
}

/* BSP's loss less DANN's (the same discriminator, drawn from the same seed) is β Σ_{i≤k} σ_i², for a
 * batch smaller than the features (B×B Gram) and larger (D×D), k = 1 and 2 (deflation); the gradient
 * difference is β times the finite-difference derivative of the double eigenvalues (envelope theorem:
 * power iteration converged, v held constant). */
Test(method_adversarial, bsp_singular_values_and_gradient)
{
    static const int shapes[2][2] = {{6, 8}, {8, 5}};
    for (int c = 0; c < 2; c++)
        for (int k = 1; k <= 2; k++) {
            const int B = shapes[c][0], D = shapes[c][1], N = B * D;
            float fs[64], ft[64], gs[64], gt[64], ds[64], dt[64];
            random_matrix(fs, N, 1.0, 0.8);
            random_matrix(ft, N, 1.5, 0.3);
            char kset[32];
            snprintf(kset, sizeof kset, "bsp.k=%d", k);
            const char *sets[] = {"bsp.penalty=0.5", "bsp.iterations=400", kset};
            const double p = 0.5, expect = 0.5 * (top_sigma2(fs, B, D, k) + top_sigma2(ft, B, D, k));
            double bsp = extra_loss(&(struct check){"bsp", sets, 3, B, D, fs, ft, NULL, NULL, p, gs, gt, NULL, NULL});
            double dann = extra_loss(&(struct check){"dann", NULL, 0, B, D, fs, ft, NULL, NULL, p, ds, dt, NULL, NULL});
            cr_assert(fabs(bsp - dann - expect) < 1e-5 + 1e-4 * fabs(expect), "B=%d D=%d k=%d: penalty %.8f, eigen %.8f",
                      B, D, k, bsp - dann, expect);
            double ad[128], fd[128];
            for (int i = 0; i < 2 * N; i++) {
                float *x = i < N ? fs + i : ft + i - N;
                const float keep = *x;
                *x = keep + 1e-3f;
                const double up = top_sigma2(fs, B, D, k) + top_sigma2(ft, B, D, k);
                *x = keep - 1e-3f;
                const double dn = top_sigma2(fs, B, D, k) + top_sigma2(ft, B, D, k);
                *x = keep;
                fd[i] = 0.5 * (up - dn) / ((double)(keep + 1e-3f) - (double)(keep - 1e-3f));
                ad[i] = i < N ? (double)gs[i] - ds[i] : (double)gt[i - N] - dt[i - N];
            }
            cr_assert_lt(rel_diff(ad, fd, 2 * N), 1e-3, "B=%d D=%d k=%d: gradient vs eigenvalue derivative: %g", B, D,
                         k, rel_diff(ad, fd, 2 * N));
        }
}

/* One power-iteration step: v = G 1 / ‖G 1‖ (G = F Fᵀ, B < D), σ² = ‖Fᵀ v‖², and, v being detached,
 * the gradient 2 v vᵀ F exactly (not the derivative through v, which differs away from convergence). */
Test(method_adversarial, bsp_power_iteration_vector_is_detached)
{
    enum { B = 5, D = 7, N = B * D };
    float fs[N], ft[N], gs[N], gt[N], ds[N], dt[N];
    random_matrix(fs, N, 1.0, 0.5);
    random_matrix(ft, N, 1.0, 0.5);
    const char *sets[] = {"bsp.penalty=1", "bsp.iterations=1"};
    double bsp = extra_loss(&(struct check){"bsp", sets, 2, B, D, fs, ft, NULL, NULL, 0.5, gs, gt, NULL, NULL});
    double dann = extra_loss(&(struct check){"dann", NULL, 0, B, D, fs, ft, NULL, NULL, 0.5, ds, dt, NULL, NULL});
    double expect = 0, ad[2 * N], want[2 * N];
    for (int dom = 0; dom < 2; dom++) {
        const float *f = dom ? ft : fs;
        double v[B], u[D], norm = 0;
        for (int i = 0; i < B; i++) { /* v = G 1 = F (Fᵀ 1) */
            v[i] = 0;
            for (int j = 0; j < D; j++) {
                double col = 0;
                for (int r = 0; r < B; r++) col += f[r * D + j];
                v[i] += f[i * D + j] * col;
            }
            norm += v[i] * v[i];
        }
        for (int i = 0; i < B; i++) v[i] /= sqrt(norm);
        for (int j = 0; j < D; j++) {
            u[j] = 0;
            for (int r = 0; r < B; r++) u[j] += v[r] * f[r * D + j];
            expect += u[j] * u[j];
        }
        for (int i = 0; i < B; i++)
            for (int j = 0; j < D; j++) {
                want[dom * N + i * D + j] = 2 * v[i] * u[j];
                ad[dom * N + i * D + j] = dom ? (double)gt[i * D + j] - dt[i * D + j] : (double)gs[i * D + j] - ds[i * D + j];
            }
    }
    cr_assert(fabs(bsp - dann - expect) < 1e-5 + 1e-4 * fabs(expect), "penalty %.8f, by hand %.8f", bsp - dann, expect);
    cr_assert_lt(rel_diff(ad, want, 2 * N), 1e-4, "gradient vs 2 v v^T F: %g", rel_diff(ad, want, 2 * N));
}

Test(method_adversarial, bsp_refuses_more_singular_values_than_the_rank)
{
    enum { B = 6, D = 8 };
    float f[B * D] = {0};
    const char *sets[] = {"bsp.k=7"};
    double e;
    cr_assert_neq(try_check(&(struct check){"bsp", sets, 1, B, D, f, f, NULL, NULL, 0.5, NULL, NULL, NULL, NULL}, &e),
                  FERRY_OK);
    cr_assert(strstr(ferry_last_error(), "bsp: k = 7 singular values asked, but a batch of 6 rows of 8 features has at most 6"),
              "%s", ferry_last_error());
}

/* ---- modules that must not train: a short run on a tiny CSV task ---------------------------------- */

/* Writes n examples of 8x8 images (label, then 64 values in 0..16) to path. */
static void write_csv(const char *path, int n, double shift)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    for (int i = 0; i < n; i++) {
        fprintf(f, "%d", i % K);
        for (int j = 0; j < 64; j++) {
            int v = (int)(8 + 4 * gauss() + shift + ((j + i % K) % 7 == 0 ? 5 : 0));
            fprintf(f, ",%d", v < 0 ? 0 : v > 16 ? 16 : v);
        }
        fprintf(f, "\n");
    }
    fclose(f);
}

/* A parameter read back from a run: its name and shape [rows, cols]. */
struct saved {
    const char *name;
    int64_t rows, cols;
    float *v;
};

/* Trains `steps` steps of method with sets on a tiny task (LeNet on 16x16 inputs: 48 features; SGD,
 * lr 0.1, weight decay 0.5) and reads the named parameters from the saved store. */
static void train_and_read(const char *dir, const char *method, const char *const *sets, int n_sets, int steps,
                           struct saved *p, int n)
{
    char task[1024], save[600];
    snprintf(task, sizeof task, "csv:%s/a.csv?shape=1x8x8&max=16->csv:%s/b.csv?shape=1x8x8&max=16", dir, dir);
    snprintf(save, sizeof save, "%s/run.safetensors", dir);
    ferry_adapt_opts o = ferry_adapt_defaults();
    o.task = task;
    o.method = ferry_methods_find(reg, method);
    o.sets = sets;
    o.n_sets = n_sets;
    o.input_size = 16;
    o.epochs = 1;
    o.batch = 16;
    o.iters_per_epoch = steps;
    o.seed = 5;
    o.backend = be;
    o.optim.lr = 0.1f;
    o.optim.weight_decay = 0.5f;
    o.save_path = save;
    ferry_adapt_result res;
    cr_assert_eq(ferry_adapt(&o, &res), FERRY_OK, "%s: %s", method, ferry_last_error());
    ferry_store_t *st;
    cr_assert_eq(ferry_store_init(be, &st), FERRY_OK);
    for (int i = 0; i < n; i++)
        cr_assert_eq(ferry_store_add(st, p[i].name, FERRY_F32, 2, (int64_t[]){p[i].rows, p[i].cols}, true), FERRY_OK);
    cr_assert_eq(ferry_store_load(st, save, false, true), FERRY_OK, "%s", ferry_last_error());
    for (int i = 0; i < n; i++)
        cr_assert_eq(ferry_store_get(st, ferry_store_find(st, p[i].name), p[i].v,
                                     (size_t)(p[i].rows * p[i].cols) * sizeof(float)),
                     FERRY_OK, "%s", ferry_last_error());
    ferry_store_free(st);
}

/* The randomised map's matrices R_f, R_g are the same after 1 and after 3 SGD steps with a strong
 * weight decay, while the discriminator's first layer has moved (so steps and decay did happen). */
Test(method_adversarial, cdan_random_matrices_never_change)
{
    char dir[] = "/tmp/ferry-cdan-XXXXXX", path[600];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/a.csv", dir);
    write_csv(path, 200, 0);
    snprintf(path, sizeof path, "%s/b.csv", dir);
    write_csv(path, 200, 2);
    enum { DR = 64, W = 32, F = 48 };
    static float a[3][DR * F], b[3][DR * F];
    const char *sets[] = {"cdan.map=2", "cdan.random_dim=64", "cdan.width=32"};
    struct saved pa[] = {{"cdan.random_f.weight", DR, F, a[0]}, {"cdan.random_g.weight", DR, K, a[1]},
                         {"discriminator.0.weight", W, DR, a[2]}};
    struct saved pb[] = {{"cdan.random_f.weight", DR, F, b[0]}, {"cdan.random_g.weight", DR, K, b[1]},
                         {"discriminator.0.weight", W, DR, b[2]}};
    train_and_read(dir, "cdan", sets, 3, 1, pa, 3);
    train_and_read(dir, "cdan", sets, 3, 3, pb, 3);
    cr_assert(memcmp(a[0], b[0], DR * F * sizeof(float)) == 0, "R_f changed between step 1 and step 3");
    cr_assert(memcmp(a[1], b[1], DR * K * sizeof(float)) == 0, "R_g changed between step 1 and step 3");
    cr_assert(memcmp(a[2], b[2], W * DR * sizeof(float)) != 0, "the discriminator did not train: the check is void");
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

/* Σ_{i≤k} of the k smallest of the min(b, d) squared singular values of F [b, d], in double */
static double bottom_sigma2(const float *f, int b, int d, int k)
{
    const int r = b < d ? b : d;
    return top_sigma2(f, b, d, r) - top_sigma2(f, b, d, r - k);
}

/* BSS's loss is CE(logits_t, y_t) + η Σ_{i≤k} σ_{−i}(F_t)²: with zero logits CE = log K, and the
 * penalty the k smallest eigenvalues of the Gram matrix in double, for B < D and B > D, k = 1 and 2;
 * its gradient η times their finite-difference derivative. */
Test(method_adversarial, bss_smallest_singular_values_and_gradient)
{
    static const int shapes[2][2] = {{6, 8}, {8, 5}};
    const ferry_method *m = ferry_methods_find(reg, "bss");
    cr_assert_not_null(m);
    for (int c = 0; c < 2; c++)
        for (int k = 1; k <= 2; k++) {
            const int B = shapes[c][0], D = shapes[c][1], N = B * D;
            float f[64], g[64], zeros[8 * K] = {0};
            int32_t y[8];
            for (int i = 0; i < B; i++) y[i] = label(i);
            random_matrix(f, N, 1.0, 0.0);
            char kset[32];
            snprintf(kset, sizeof kset, "bss.k=%d", k);
            const char *sets[] = {"bss.eta=0.5", kset};
            ferry_loss_check chk = {.method = m, .sets = sets, .n_sets = 2, .backend = be, .seed = 3, .batch = B,
                                    .dim = D, .classes = K, .features_s = f, .features_t = f, .logits_s = zeros,
                                    .logits_t = zeros, .labels_s = y, .labels_t = y};
            float loss = NAN;
            cr_assert_eq(ferry_method_check_loss(&chk, &loss, NULL, g), FERRY_OK, "%s", ferry_last_error());
            const double expect = 0.5 * bottom_sigma2(f, B, D, k), got = (double)loss - log((double)K);
            cr_assert(fabs(got - expect) < 1e-5 + 1e-4 * fabs(expect), "B=%d D=%d k=%d: penalty %.8f, eigen %.8f", B, D,
                      k, got, expect);
            double ad[64], fd[64];
            for (int i = 0; i < N; i++) {
                const float keep = f[i];
                f[i] = keep + 1e-3f;
                const double up = bottom_sigma2(f, B, D, k);
                f[i] = keep - 1e-3f;
                const double dn = bottom_sigma2(f, B, D, k);
                f[i] = keep;
                fd[i] = 0.5 * (up - dn) / ((double)(keep + 1e-3f) - (double)(keep - 1e-3f));
                ad[i] = g[i];
            }
            cr_assert_lt(rel_diff(ad, fd, N), 2e-3, "B=%d D=%d k=%d: gradient vs eigenvalue derivative: %g", B, D, k,
                         rel_diff(ad, fd, N));
        }
    /* without target labels there is nothing to fine-tune on */
    float f[48] = {0}, zeros[8 * K] = {0};
    int32_t y[8] = {0};
    ferry_loss_check chk = {.method = m, .backend = be, .batch = 6, .dim = 8, .classes = K, .features_s = f,
                            .features_t = f, .logits_s = zeros, .logits_t = zeros, .labels_s = y};
    float loss;
    cr_assert_neq(ferry_method_check_loss(&chk, &loss, NULL, NULL), FERRY_OK);
    cr_assert(strstr(ferry_last_error(), "give labels_t"), "%s", ferry_last_error());
}
