// Element-wise ops, one invocation per element (grid-stride). OP selects the op (-DOP=...).
// i[0] = element count of dst unless noted; f[] and the other i[] as listed per op.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "ferry_ops.glsl"

// FERRY_OP_MUL: dst = a * b
// FERRY_OP_SCALE: dst = f0 * a
// FERRY_OP_SCALE_BY: dst = a * s[0] * f0
// FERRY_OP_ADD_BIAS: dst = x + b[c]; i1 = C, i2 = S (elements per channel plane)
// FERRY_OP_UNARY: i1 = kind, f0 = slope / exponent / lower bound, f1 = upper bound
// FERRY_OP_UNARY_BWD: src0 = g, src1 = x or y; i1 = kind, f0, f1 as FERRY_OP_UNARY
// FERRY_OP_DROPOUT: src1 = seed I32[1]; i1 = salt, i2 = threshold (uint), i3 = 1: drop all; f1 = scale
// FERRY_OP_CONCAT: i1 = elements of a
// FERRY_OP_PAD_BATCH: i1 = first element of g in dst, i2 = elements of g
// FERRY_OP_BROADCAST: dst = s[0] * f0
// FERRY_OP_BCE_LOGITS_BWD: src0 = g scalar, src1 = x, src2 = t: g·(sigmoid(x) - t)/n
// FERRY_OP_BN_APPLY: i1 = C, i2 = S, i3 = eval; src1 = stats [2,C] or running mean, src2 = gamma,
                        // src3 = beta, src4 = running var (eval); f1 = eps
// FERRY_OP_BN_BWD_DATA: src0 = g, src1 = x, src2 = stats, src3 = gamma, src4 = dparams; i1 = C, i2 = S
// FERRY_OP_SGD_UPDATE: src0 = p, src1 = grad, src2 = momentum, src3 = lr; f0 = lr_mult, f1 = momentum,
                        // f2 = wd, i1 = nesterov
// FERRY_OP_ADAM_UPDATE: src0 = p, src1 = grad, src2 = m, src3 = v, src4 = hyper[4]; f0 = lr_mult,
                        // f1 = b1, f2 = b2, f3 = eps, f4 = wd, i1 = decoupled

#if OP == FERRY_OP_CONCAT || OP == FERRY_OP_PAD_BATCH
FERRY_BUF(B_DST, uint, dst); // 4-byte copies serve F32 and I32 alike
FERRY_BUF_RO(B_SRC0, uint, s0);
FERRY_BUF_RO(B_SRC1, uint, s1);
#elif OP == FERRY_OP_SGD_UPDATE || OP == FERRY_OP_ADAM_UPDATE
FERRY_BUF(B_SRC0, float, p);
FERRY_BUF_RO(B_SRC1, float, g);
FERRY_BUF(B_SRC2, float, m);
FERRY_BUF(B_SRC3, float, s3);
FERRY_BUF_RO(B_SRC4, float, s4);
#else
FERRY_BUF(B_DST, float, dst);
FERRY_BUF_RO(B_SRC0, float, s0);
#if OP == FERRY_OP_DROPOUT
FERRY_BUF_RO(B_SRC1, int, s1);
#else
FERRY_BUF_RO(B_SRC1, float, s1);
#endif
FERRY_BUF_RO(B_SRC2, float, s2);
FERRY_BUF_RO(B_SRC3, float, s3);
FERRY_BUF_RO(B_SRC4, float, s4);
#endif

#define D(k) dst[pc.off[0] + (k)]
#define A(k) s0[pc.off[1] + (k)]
#define B(k) s1[pc.off[2] + (k)]
#define C2(k) s2[pc.off[3] + (k)]
#define C3(k) s3[pc.off[4] + (k)]
#define C4(k) s4[pc.off[5] + (k)]

#if OP == FERRY_OP_UNARY || OP == FERRY_OP_UNARY_BWD
// The same expressions as the CPU kernels (cpu_elementwise.c).
float sigmoid_f(float x) { return 1.0 / (1.0 + exp(-x)); }
float clamp_f(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }
// erf by Abramowitz & Stegun 7.1.26 (absolute error <= 1.5e-7)
float erf_approx(float x)
{
    float ax = abs(x), t = 1.0 / (1.0 + 0.3275911 * ax);
    float p = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    float r = 1.0 - p * exp(-ax * ax);
    return x < 0.0 ? -r : r;
}
// log(1 + e) accurate for small e (GLSL has no log1p)
float log1p_f(float e)
{
    float u = 1.0 + e;
    return u == 1.0 ? e : log(u) * (e / (u - 1.0));
}
// powf's results where GLSL's pow is undefined (x < 0, x = 0)
float pow_f(float x, float e)
{
    if (e == 0.0) return 1.0;
    float ax = abs(x);
    if (ax == 0.0) return e > 0.0 ? 0.0 : uintBitsToFloat(0x7f800000u);
    float r = pow(ax, e);
    if (x < 0.0) {
        if (fract(e) != 0.0) return uintBitsToFloat(0x7fc00000u);
        if (mod(e, 2.0) == 1.0) r = -r;
    }
    return r;
}
#endif

void main()
{
    const uint n = uint(pc.i[0]);
    FERRY_FOR(k, n) {
#if OP == FERRY_OP_MUL
        D(k) = A(k) * B(k);
#elif OP == FERRY_OP_SCALE
        D(k) = pc.f[0] * A(k);
#elif OP == FERRY_OP_SCALE_BY
        D(k) = A(k) * B(0) * pc.f[0];
#elif OP == FERRY_OP_ADD_BIAS
        uint c = (k / uint(pc.i[2])) % uint(pc.i[1]);
        D(k) = A(k) + B(c);
#elif OP == FERRY_OP_UNARY
        float x = A(k), y;
        int kind = pc.i[1];
        if (kind == FERRY_UNARY_RELU) y = x > 0.0 ? x : 0.0;
        else if (kind == FERRY_UNARY_LEAKY_RELU) y = x > 0.0 ? x : pc.f[0] * x;
        else if (kind == FERRY_UNARY_SIGMOID) y = 1.0 / (1.0 + exp(-x));
        else if (kind == FERRY_UNARY_TANH) y = tanh(x);
        else if (kind == FERRY_UNARY_EXP) y = exp(x);
        else if (kind == FERRY_UNARY_RECIP) y = 1.0 / x;
        else if (kind == FERRY_UNARY_LOG) y = log(x);
        else if (kind == FERRY_UNARY_SQRT) y = sqrt(x);
        else if (kind == FERRY_UNARY_SQUARE) y = x * x;
        else if (kind == FERRY_UNARY_POW) y = pow_f(x, pc.f[0]);
        else if (kind == FERRY_UNARY_ABS) y = abs(x);
        else if (kind == FERRY_UNARY_CLAMP) y = clamp_f(x, pc.f[0], pc.f[1]);
        else if (kind == FERRY_UNARY_SILU) y = x * sigmoid_f(x);
        else if (kind == FERRY_UNARY_GELU) y = 0.5 * x * (1.0 + erf_approx(x * 0.70710678118654752));
        else if (kind == FERRY_UNARY_HARD_SIGMOID) y = clamp_f(x + 3.0, 0.0, 6.0) / 6.0;
        else if (kind == FERRY_UNARY_RELU6) y = clamp_f(x, 0.0, 6.0);
        else y = (x > 0.0 ? x : 0.0) + log1p_f(exp(-abs(x))); // SOFTPLUS
        D(k) = y;
#elif OP == FERRY_OP_UNARY_BWD
        float gv = A(k), r = B(k), y;
        int kind = pc.i[1];
        if (kind == FERRY_UNARY_RELU) y = r > 0.0 ? gv : 0.0;
        else if (kind == FERRY_UNARY_LEAKY_RELU) y = r > 0.0 ? gv : pc.f[0] * gv;
        else if (kind == FERRY_UNARY_SIGMOID) y = gv * r * (1.0 - r);
        else if (kind == FERRY_UNARY_TANH) y = gv * (1.0 - r * r);
        else if (kind == FERRY_UNARY_EXP) y = gv * r;
        else if (kind == FERRY_UNARY_RECIP) y = -gv * r * r;
        else if (kind == FERRY_UNARY_LOG) y = gv / r;
        else if (kind == FERRY_UNARY_SQRT) y = gv / (2.0 * r);
        else if (kind == FERRY_UNARY_SQUARE) y = 2.0 * r * gv;
        else if (kind == FERRY_UNARY_POW) y = pc.f[0] == 0.0 ? 0.0 : gv * (pc.f[0] * pow_f(r, pc.f[0] - 1.0));
        else if (kind == FERRY_UNARY_ABS) y = r > 0.0 ? gv : (r < 0.0 ? -gv : 0.0);
        else if (kind == FERRY_UNARY_CLAMP) y = (r >= pc.f[0] && r <= pc.f[1]) ? gv : 0.0;
        else if (kind == FERRY_UNARY_SILU) {
            float s = sigmoid_f(r);
            y = gv * (s * (1.0 + r * (1.0 - s)));
        } else if (kind == FERRY_UNARY_GELU)
            y = gv * (0.5 * (1.0 + erf_approx(r * 0.70710678118654752)) + r * 0.39894228040143268 * exp(-0.5 * r * r));
        else if (kind == FERRY_UNARY_HARD_SIGMOID) y = (r > -3.0 && r < 3.0) ? gv * (1.0 / 6.0) : 0.0;
        else if (kind == FERRY_UNARY_RELU6) y = (r > 0.0 && r < 6.0) ? gv : 0.0; /* r = y */
        else y = gv * sigmoid_f(r); // SOFTPLUS
        D(k) = y;
#elif OP == FERRY_OP_DROPOUT
        uint h = ferry_hash3(uint(B(0)), uint(pc.i[1]), k);
        bool keep = pc.i[3] == 0 && h >= uint(pc.i[2]);
        D(k) = keep ? A(k) * pc.f[1] : 0.0;
#elif OP == FERRY_OP_CONCAT
        uint na = uint(pc.i[1]);
        dst[pc.off[0] + k] = k < na ? s0[pc.off[1] + k] : s1[pc.off[2] + k - na];
#elif OP == FERRY_OP_PAD_BATCH
        uint b0 = uint(pc.i[1]), len = uint(pc.i[2]);
        dst[pc.off[0] + k] = (k >= b0 && k < b0 + len) ? s0[pc.off[1] + k - b0] : 0u;
#elif OP == FERRY_OP_BROADCAST
        D(k) = A(0) * pc.f[0];
#elif OP == FERRY_OP_BCE_LOGITS_BWD
        float c = A(0) / float(n);
        D(k) = c * (1.0 / (1.0 + exp(-B(k))) - C2(k));
#elif OP == FERRY_OP_BN_APPLY
        uint C = uint(pc.i[1]), c = (k / uint(pc.i[2])) % C;
        bool ev = pc.i[3] != 0;
        float mean = B(c);
        float invstd = ev ? 1.0 / sqrt(C4(c) + pc.f[1]) : B(C + c);
        D(k) = (A(k) - mean) * (invstd * C2(c)) + C3(c);
#elif OP == FERRY_OP_BN_BWD_DATA
        uint C = uint(pc.i[1]), c = (k / uint(pc.i[2])) % C;
        float fm = float(pc.i[3]);
        float mean = C2(c), invstd = C2(C + c);
        float kk = C3(c) * invstd / fm, dg = C4(c), db = C4(C + c);
        D(k) = kk * (fm * A(k) - db - (B(k) - mean) * invstd * dg);
#elif OP == FERRY_OP_SGD_UPDATE
        float lr = C3(0) * pc.f[0], mom = pc.f[1], wd = pc.f[2];
        uint i = k;
        float pi = p[pc.off[1] + i], gi = g[pc.off[2] + i];
        if (mom == 0.0) {
            p[pc.off[1] + i] = pi - lr * (gi + wd * pi);
        } else {
            float d = gi + wd * pi;
            float buf = mom * m[pc.off[3] + i] + d;
            m[pc.off[3] + i] = buf;
            float dw = pc.i[1] != 0 ? 1.0 : 0.0, bw = pc.i[1] != 0 ? mom : 1.0;
            p[pc.off[1] + i] = pi - lr * (dw * d + bw * buf);
        }
#elif OP == FERRY_OP_ADAM_UPDATE
        uint i = k;
        float lr = C4(0) * pc.f[0];
        float step = lr / C4(1), bc2 = sqrt(C4(2));
        float b1 = pc.f[1], b2 = pc.f[2], eps = pc.f[3], wd = pc.f[4];
        bool dec = pc.i[1] != 0;
        float decay = dec ? 1.0 - lr * wd : 1.0, l2 = dec ? 0.0 : wd;
        float pi = p[pc.off[1] + i];
        float gi = g[pc.off[2] + i] + l2 * pi;
        float mi = b1 * m[pc.off[3] + i] + (1.0 - b1) * gi;
        float vi = b2 * s3[pc.off[4] + i] + (1.0 - b2) * gi * gi;
        m[pc.off[3] + i] = mi;
        s3[pc.off[4] + i] = vi;
        p[pc.off[1] + i] = pi * decay - step * mi / (sqrt(vi) / bc2 + eps);
#endif
    }
}
