/* A training step allocates nothing after the first: malloc and friends are interposed in this
 * test binary and counted while DANN-LeNet steps run; the backend's own buffer counter must not
 * move either. Only the threads that run the step count (the test thread and the OpenMP workers,
 * marked below): the test runner's own threads allocate while they report. Checked with one thread
 * (no OpenMP region may open: libgomp allocates a team for each one-thread region) and with two.
 * With augmentation on, each step first augments both batches in place (the data path of a run,
 * parallel over images on the backend's threads): it allocates nothing either, and the batch stays
 * the step's only upload. BLIS's pools, which grow the first time more calls overlap than before
 * (on a loaded machine, at any step), are grown by the backend when it starts; nothing here warms
 * them. A failure prints the call stacks of the first allocations. */
#include <criterion/criterion.h>
#include <execinfo.h>
#include <stdatomic.h>
#include <malloc.h>
#include <math.h>
#include <omp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "../../benchmarks/dann_lenet.h"
#include "ferry/method.h"
#include "require_data.h"

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t a, size_t n);
extern void __libc_free(void *p);

static atomic_bool counting;
static atomic_long allocations;
static _Thread_local bool step_thread, tracing;

/* The first few counted allocations keep their call stacks, printed when the check fails. */
#define TRACES 4
#define DEPTH 24
static void *traces[TRACES][DEPTH];
static int depths[TRACES];

static void count(void)
{
    if (!step_thread || !atomic_load(&counting) || tracing) return;
    long n = atomic_fetch_add(&allocations, 1);
    if (n < TRACES) {
        tracing = true;
        depths[n] = backtrace(traces[n], DEPTH);
        tracing = false;
    }
}

static void print_traces(void)
{
    long n = atomic_load(&allocations);
    for (long i = 0; i < n && i < TRACES; i++) {
        fprintf(stderr, "allocation %ld in a step:\n", i + 1);
        backtrace_symbols_fd(traces[i], depths[i], 2);
    }
}

/* Marks this thread and, for n > 1, the OpenMP workers (libgomp reuses them for later regions). */
static void mark_step_threads(int n)
{
    step_thread = true;
    if (n > 1) {
#pragma omp parallel num_threads(n)
        step_thread = true;
    }
}

#if defined(__SANITIZE_ADDRESS__)
#define ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN 1
#endif
#endif
#ifdef ASAN
/* Under AddressSanitizer (scripts/sanitize.sh) its allocator serves every call: counted through its
 * hooks instead of by interposing. */
/* (sanitizer/allocator_interface.h, which gcc does not install) */
int __sanitizer_install_malloc_and_free_hooks(void (*on_malloc)(const volatile void *, size_t),
                                              void (*on_free)(const volatile void *));
static void on_malloc(const volatile void *p, size_t n)
{
    (void)p;
    (void)n;
    count();
}
static void on_free(const volatile void *p) { (void)p; }
__attribute__((constructor)) static void install_hooks(void) { __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free); }
#else
void *malloc(size_t n) { count(); return __libc_malloc(n); }
void *calloc(size_t n, size_t m) { count(); return __libc_calloc(n, m); }
void *realloc(void *p, size_t n) { count(); return __libc_realloc(p, n); }
void *aligned_alloc(size_t a, size_t n) { count(); return __libc_memalign(a, n); }
void *memalign(size_t a, size_t n) { count(); return __libc_memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n)
{
    count();
    *out = __libc_memalign(a, n);
    return *out ? 0 : 12;
}
void free(void *p) { __libc_free(p); }
#endif

#define AUGMENT "rrc=0.6:1,crop=3,flip=0.5,rot=15,scale=0.9:1.1,jitter=0.3,noise=0.05"

static void check_steps_allocate_nothing(int threads, bool augment)
{
    ferry_backend_t *be;
    struct dann_lenet d = {0};
    ferry_augment_t *aug = NULL;
    cr_assert_eq(ferry_backend_cpu_init(threads, &be), FERRY_OK);
    cr_assert_eq(dann_lenet_init(&d, be, 16, 1), FERRY_OK, "%s", ferry_last_error());
    if (augment) {
        ferry_augment_config cfg;
        cr_assert_eq(ferry_augment_parse(AUGMENT, &cfg), FERRY_OK, "%s", ferry_last_error());
        cr_assert_eq(ferry_augment_init(&cfg, 1, 28, 28, 16, ferry_backend_threads(be), &aug), FERRY_OK, "%s",
                     ferry_last_error());
    }
    static float xs[16 * 784], xt[16 * 784], base[16 * 784];
    int32_t ys[16];
    for (int i = 0; i < 16 * 784; i++) base[i] = xs[i] = xt[i] = (float)(i % 97) / 97.0f;
    for (int i = 0; i < 16; i++) ys[i] = i % 10;
    float loss = 0;
    if (aug) { /* the first augmented batch, like the first step, may start the thread team */
        cr_assert_eq(ferry_augment_batch(aug, xs, 16, 1, 0, 0, 0), FERRY_OK);
        cr_assert_eq(ferry_augment_batch(aug, xt, 16, 1, 0, 0, 1), FERRY_OK);
        cr_assert(memcmp(xs, base, sizeof xs) != 0 && memcmp(xs, xt, sizeof xs) != 0);
    }
    cr_assert_eq(dann_lenet_set_batch(&d, xs, xt, ys), FERRY_OK);
    cr_assert_eq(dann_lenet_step(&d, 0.0, &loss), FERRY_OK); /* first step: thread pools, BLIS packs */
    ferry_backend_stats before, after;
    ferry_backend_get_stats(be, &before);
    mark_step_threads(threads);
    void *warm[2];
    backtrace(warm, 2); /* loads the unwinder before counting starts */
    atomic_store(&allocations, 0);
    atomic_store(&counting, true);
    ferry_status as = FERRY_OK;
    for (int s = 1; s <= 5; s++) {
        if (aug) { /* fresh images each step, augmented in place: source view 0, target view 1 */
            memcpy(xs, base, sizeof xs);
            memcpy(xt, base, sizeof xt);
            if (!as) as = ferry_augment_batch(aug, xs, 16, 1, 0, s, 0);
            if (!as) as = ferry_augment_batch(aug, xt, 16, 1, 0, s, 1);
        }
        dann_lenet_set_batch(&d, xs, xt, ys);
        dann_lenet_step(&d, s / 10.0, &loss);
    }
    atomic_store(&counting, false);
    ferry_backend_get_stats(be, &after);
    cr_assert_eq(as, FERRY_OK, "%s", ferry_last_error());
    if (atomic_load(&allocations)) print_traces();
    cr_assert_eq(atomic_load(&allocations), 0, "%ld heap allocations in 5 steps with %d thread(s)%s",
                 atomic_load(&allocations), threads, aug ? " and augmentation" : "");
    cr_assert_eq(after.buffer_allocs, before.buffer_allocs);
    cr_assert_eq(after.submissions - before.submissions, 5);
    /* only the batch goes up per step: xs, xt, ys, domain labels and the learning rate */
    uint64_t per_step = 2 * 16 * 784 * 4 + 16 * 4 + 32 * 4 + 4;
    cr_assert_eq(after.bytes_uploaded - before.bytes_uploaded, 5 * per_step);
    cr_assert_eq(after.bytes_downloaded - before.bytes_downloaded, 5 * sizeof(float));
    cr_assert(isfinite(loss));
    ferry_augment_free(aug);
    dann_lenet_free(&d);
    ferry_backend_free(be);
}

Test(alloc, dann_step_allocates_nothing_after_the_first_1_thread)
{
    check_steps_allocate_nothing(1, false);
}

Test(alloc, dann_step_allocates_nothing_after_the_first_2_threads)
{
    check_steps_allocate_nothing(2, false);
}

Test(alloc, augmented_step_allocates_nothing_after_the_first_1_thread)
{
    check_steps_allocate_nothing(1, true);
}

Test(alloc, augmented_step_allocates_nothing_after_the_first_2_threads)
{
    check_steps_allocate_nothing(2, true);
}

/* A method with update phases (MCD: source, classifiers, backbone x num_k), or with an EMA copy, through a real run on
 * MNIST->Optdigits: between the progress reports of two steps inside the first epoch, nothing is
 * allocated and each step submits once per run of a phase. */
struct window {
    ferry_backend_t *be;
    int64_t start, stop;
    ferry_backend_stats a, b;
    bool done;
};

static void on_step(const ferry_progress *p, void *user)
{
    struct window *w = user;
    if (p->epoch_end || p->epoch != 1) return;
    if (p->step == w->start) {
        ferry_backend_get_stats(w->be, &w->a);
        atomic_store(&allocations, 0);
        atomic_store(&counting, true);
    } else if (p->step == w->stop) {
        atomic_store(&counting, false);
        ferry_backend_get_stats(w->be, &w->b);
        w->done = true;
    }
}

static void check_steps(int threads, const char *method, uint64_t per_step)
{
    require_mnist();
    ferry_methods_t *reg;
    cr_assert_eq(ferry_methods_load(&reg), FERRY_OK, "%s", ferry_last_error());
    ferry_adapt_opts o = ferry_adapt_defaults();
    o.task = "mnist->optdigits";
    o.method = ferry_methods_find(reg, method);
    cr_assert_not_null(o.method, "%s", ferry_last_error());
    o.epochs = 1;
    o.iters_per_epoch = 12;
    o.batch = 16;
    cr_assert_eq(ferry_backend_cpu_init(threads, &o.backend), FERRY_OK);
    struct window w = {.be = o.backend, .start = 3, .stop = 11};
    o.progress = on_step;
    o.user = &w;
    mark_step_threads(threads);
    ferry_adapt_result r;
    cr_assert_eq(ferry_adapt(&o, &r), FERRY_OK, "%s", ferry_last_error());
    atomic_store(&counting, false);
    cr_assert(w.done);
    if (atomic_load(&allocations)) print_traces();
    cr_assert_eq(atomic_load(&allocations), 0, "%ld heap allocations in %lld %s steps with %d thread(s)",
                 atomic_load(&allocations), (long long)(w.stop - w.start), method, threads);
    cr_assert_eq(w.b.buffer_allocs, w.a.buffer_allocs);
    cr_assert_eq(w.b.submissions - w.a.submissions, (uint64_t)(w.stop - w.start) * per_step, "%s: %llu submissions in %lld steps",
                 method, (unsigned long long)(w.b.submissions - w.a.submissions), (long long)(w.stop - w.start));
    ferry_backend_free(o.backend);
    ferry_methods_free(reg);
}

/* MCD: phases a and b once, c num_k = 4 times */
Test(alloc, phase_method_steps_allocate_nothing_1_thread)
{
    check_steps(1, "mcd", 6);
}

Test(alloc, phase_method_steps_allocate_nothing_2_threads)
{
    check_steps(2, "mcd", 6);
}

/* mean teacher: two augmented views, the teacher's forward in the step, then the EMA update of the
 * teacher: one submission for the step and one for the EMA */
Test(alloc, ema_teacher_steps_allocate_nothing_2_threads)
{
    check_steps(2, "mean-teacher", 2);
}

/* The counter itself: an allocation on a marked thread is seen (interposed or, under
 * AddressSanitizer, through its hooks), so the zeros above are measured, not vacuous. */
Test(alloc, the_counter_sees_an_allocation)
{
    mark_step_threads(1);
    atomic_store(&allocations, 0);
    atomic_store(&counting, true);
    void *volatile p = malloc(48);
    atomic_store(&counting, false);
    free(p);
    cr_assert_eq(atomic_load(&allocations), 1);
}
