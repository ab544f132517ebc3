/* BNM: Batch Nuclear-norm Maximisation (Cui et al., CVPR 2020). Maximising the nuclear norm of the
 * batch's target prediction matrix raises both the discriminability (it bounds the Frobenius norm)
 * and the diversity (it is the convex surrogate of the rank) of the predictions:
 *
 *   loss = CE(logits_s, y_s) − trade_off · ‖A‖_* / B,   A = softmax(logits_t)  [B, K]
 *
 * (trade-off λ = 1 as in the paper; the authors' code divides Σσ by min(B, K) instead of B.)
 * ‖A‖_* = Σ σ_i(A) = tr((G)^{1/2}) for the Gram matrix G = AᵀA [K, K] when B ≥ K, or G = AAᵀ [B, B]
 * when B < K: both have A's nonzero singular values squared as eigenvalues, and the smaller one has
 * no structural zero eigenvalues (AᵀA with B < K would have K − B of them, where the square root's
 * derivative is unbounded). The square root is built in the graph, without an SVD or a host round
 * trip, by the coupled Newton–Schulz iteration on the trace-normalised Gram matrix:
 *
 *   c = tr G = ‖A‖²_F,  Y₀ = G/c (eigenvalues in [0, 1]),  Z₀ = I,
 *   T = (3I − Z Y)/2,  Y ← Y T,  Z ← T Z          (Y → (G/c)^{1/2}, Z → (G/c)^{−1/2})
 *   ‖A‖_* ≈ √c · tr Y_n
 *
 * An eigenvalue λ of G/c converges once ~log(1/λ)/log(9/4) steps have lifted it, then quadratically.
 * Measured on K = 10, B = 32 against a double-precision Jacobi SVD (tests/methods/test_entropy.c):
 * near-uniform predictions, the slow case (logits of scale 0.2 / 0.01 / 0.002, trailing singular
 * values ever smaller), reach float accuracy (|error| ~1e-7..1e-6 of ‖A‖_* / B ≈ 0.06) after 15 / 20 /
 * 25 steps; the default `iterations` = 30 leaves a margin. A singular value not yet converged is
 * underestimated, which costs at most its own size; in float the Gram matrix holds singular values
 * only to ~√ε·σ_max anyway. No
 * ridge is added: a zero eigenvalue stays exactly 0 under the iteration, and the derivative of a
 * polynomial of finite degree stays bounded. The identity is built as a constant by reshaping [1 | 0]
 * rows; the trace is the sum of Y ⊙ I. √c · tr (G/c)^{1/2} does not depend on c, so no gradient
 * flows through c in exact arithmetic (c only scales the iteration into its domain). */
#include "spectral.h"

/* Σ σ_i(a) for a [B, K] */
static ferry_tensor_t *nuclear_norm(const ferry_host_api *h, ferry_ctx_t *ctx, ferry_tensor_t *a, int iterations)
{
    const bool wide = h->dim(a, 0) < h->dim(a, 1); /* B < K: the B × B Gram matrix */
    ferry_tensor_t *g = wide ? h->matmul(ctx, a, a, false, true) : h->matmul(ctx, a, a, true, false);
    const int64_t n = h->dim(g, 0);
    ferry_tensor_t *eye = spectral_identity(h, ctx, n);
    ferry_tensor_t *c = h->sum(ctx, h->mul(ctx, a, a)); /* tr G */
    ferry_tensor_t *y = h->div(ctx, g, c), *z = eye;
    ferry_tensor_t *three_halves = h->scale(ctx, eye, 1.5f);
    for (int i = 0; i < iterations; i++) {
        ferry_tensor_t *t = h->sub(ctx, three_halves, h->scale(ctx, h->matmul(ctx, z, y, false, false), 0.5f));
        ferry_tensor_t *y_next = h->matmul(ctx, y, t, false, false);
        z = h->matmul(ctx, t, z, false, false);
        y = y_next;
    }
    return h->mul(ctx, h->sqrt(ctx, c), h->sum(ctx, h->mul(ctx, y, eye)));
}

static ferry_tensor_t *loss(ferry_run_t *run, const ferry_host_api *h, const ferry_step_tensors *t)
{
    ferry_ctx_t *ctx = h->ctx(run);
    if (!FERRY_HOST_HAS(h, slice)) {
        h->error(FERRY_PLUGIN_ERR_UNSUPPORTED, "bnm: this host has no sqrt / concat / slice");
        return NULL;
    }
    if (t->batch < 2) {
        h->error(FERRY_PLUGIN_ERR_INVALID, "bnm: the nuclear norm of a single row is its length: bnm needs a target "
                                           "batch of at least 2 (got %d)", t->batch);
        return NULL;
    }
    ferry_tensor_t *nuc = nuclear_norm(h, ctx, h->softmax(ctx, t->logits_t), (int)h->hparam(run, "iterations"));
    ferry_tensor_t *ce = h->cross_entropy(ctx, t->logits_s, t->labels_s, 0.0f);
    return h->sub(ctx, ce, h->scale(ctx, nuc, (float)(h->hparam(run, "trade_off") / t->batch)));
}

static const ferry_hparam hparams[] = {
    {"trade_off", FERRY_HP_FLOAT, 1.0, 0.01, 10.0, FERRY_SWEEP_LOG, "weight of the nuclear-norm term (the paper's lambda)"},
    {"iterations", FERRY_HP_INT, 30, 1, 200, FERRY_SWEEP_FIXED, "Newton-Schulz steps for the Gram matrix's square root"},
};

static const ferry_method method = {
    .abi_version = FERRY_PLUGIN_ABI_VERSION,
    .size = sizeof(ferry_method),
    .name = "bnm",
    .summary = "batch nuclear-norm maximisation of the target predictions (Newton-Schulz square root in the graph)",
    .citation = "Cui et al., Towards Discriminability and Diversity: Batch Nuclear-norm Maximization under Label "
                "Insufficient Situations, CVPR 2020",
    .hparams = hparams,
    .n_hparams = sizeof hparams / sizeof hparams[0],
    .loss = loss,
};

FERRY_PLUGIN_EXPORT const ferry_method *ferry_plugin_entry(const ferry_host_api *host)
{
    (void)host;
    return &method;
}
