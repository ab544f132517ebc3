/* Cross-backend comparison harness: the same graph on the CPU backend and on the Vulkan backend.
 *
 * A case names a graph-building callback, the shapes of its parameters and a seed. vkc_compare()
 * builds, on each backend,
 *
 *     out = build(ctx, params, aux)           params: store entries filled from the seed
 *     loss = sum(out ⊙ R)                      R: fixed values from the seed
 *     backward(loss)
 *
 * runs the graph once on each and compares, by normalised MSE ‖vk − cpu‖² / max(‖cpu‖², tiny), the
 * forward output, the gradient of every trainable parameter, and the value after the step of every
 * frozen (non-trainable) entry (state written in place, e.g. batch-norm running statistics). Any
 * Vulkan validation message fails the case (run with FERRY_VK_VALIDATION=1).
 *
 * The callback may create inputs and put them in aux[0..VKC_MAXAUX-1]; the harness fills those the
 * graph uses: F32 inputs with values from the seed, I32 inputs whose name contains "seed" (dropout
 * seeds) with seed_value, other I32 inputs (labels) with (7·k) mod classes.
 *
 * Without a Vulkan driver (FERRY_ERR_UNSUPPORTED) every test that opens the Vulkan backend reports
 * itself skipped with the reason, unless FERRY_REQUIRE_VULKAN=1 is set, which makes it a failure.
 *
 * Link tests/vulkan/vk_compare.c into the test (Criterion). */
#ifndef FERRY_TEST_VK_COMPARE_H
#define FERRY_TEST_VK_COMPARE_H

#include <stdbool.h>
#include <stdint.h>

#include "ferry/ferry.h"

#define VKC_MAXP 6   /* parameters of a case */
#define VKC_MAXAUX 4 /* inputs the callback may create */

typedef ferry_tensor_t *(*vkc_build_fn)(ferry_ctx_t *ctx, ferry_tensor_t **params, ferry_tensor_t **aux);
/* Optional: rewrites the values of parameter i (already filled from the seed) before the run, e.g.
 * to quantise them so that ties occur. */
typedef void (*vkc_init_fn)(int i, float *v, int64_t n);

struct vkc_case {
    const char *name;   /* printed with every failure */
    vkc_build_fn build;
    vkc_init_fn init;   /* NULL: values from the seed as they are */
    int np;             /* parameters p0..p(np-1), F32 */
    int ndim[VKC_MAXP];
    int64_t shape[VKC_MAXP][4];
    uint32_t frozen;    /* bit i: p_i is a non-trainable entry (no gradient; compared after the step;
                           its values are made positive, as running variances must be) */
    uint32_t seed;      /* values of the parameters, R and F32 inputs */
    double tol;         /* bound on every normalised MSE (0: bit-for-bit equal values) */
    bool no_grad;       /* forward only (metrics, evaluation-mode batch norm) */
    int classes;        /* label range for I32 inputs (0: 10) */
    int32_t seed_value; /* I32 inputs named "...seed..." (0: 12345) */
};

/* What one backend computed. */
struct vkc_result {
    int64_t out_n;
    int out_ndim;
    int64_t out_shape[4];
    float *out;                 /* forward output (I32 outputs are converted to float) */
    int64_t pn[VKC_MAXP];       /* elements of each parameter */
    float *grad[VKC_MAXP];      /* gradient of each trainable parameter (NULL if none) */
    float *after[VKC_MAXP];     /* every parameter's store value after the step */
};

/* The Vulkan backend on the first device (lavapipe included), or skip/fail as described above. */
ferry_backend_t *vkc_vulkan_backend(void);
/* Fails the test if the validation layer reported anything on this backend. */
void vkc_assert_no_validation(const ferry_backend_t *be);

/* Deterministic values in ±[0.1, 1] from seed (identical on every platform). */
void vkc_fill(float *v, int64_t n, uint32_t seed);
/* ‖x − ref‖² / max(‖ref‖², 1e-30), in double. */
double vkc_nmse(const float *x, const float *ref, int64_t n);

/* Runs case c on the CPU (vulkan false, one thread) or Vulkan backend, computing the graph `computes`
 * times (>= 1; results are those of the last run). Free the result with vkc_result_free. */
void vkc_run(const struct vkc_case *c, bool vulkan, int computes, struct vkc_result *r);
void vkc_result_free(struct vkc_result *r);

/* Runs c on both backends and checks every figure against c->tol (cr_expect: all are reported);
 * returns true when all pass. */
bool vkc_compare(const struct vkc_case *c);

/* Optimizer updates through the public optimizer API: a two-layer MLP (23 → 16 → 9, ReLU, cross
 * entropy, bias lr multiplier 2) trained for `steps` steps with config oc on both backends; every
 * store entry afterwards (weights, biases and the optimizer state) is compared against tol. */
bool vkc_compare_optim(const char *name, const ferry_optim_config *oc, int steps, double tol);

#endif
