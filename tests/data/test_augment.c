/* Augmentation: the spec (parse, canonical form, errors), determinism (same arguments, same bits, on
 * any thread count; another seed, epoch, step or view, other bits) and known answers per step. */
#include <criterion/criterion.h>

#include "ferry/data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

TestSuite(augment, .timeout = 60 * FERRY_TIMEOUT_SCALE);

#define FULL "rrc=0.5:1,crop=2,flip=0.5,rot=15,scale=0.9:1.1,jitter=0.3,noise=0.05"

static ferry_augment_config parse(const char *spec)
{
    ferry_augment_config c;
    cr_assert_eq(ferry_augment_parse(spec, &c), FERRY_OK, "%s: %s", spec, ferry_last_error());
    return c;
}

static ferry_augment_t *make(const char *spec, int c, int h, int w, int max_batch, int threads)
{
    ferry_augment_config cfg = parse(spec);
    ferry_augment_t *a;
    cr_assert_eq(ferry_augment_init(&cfg, c, h, w, max_batch, threads, &a), FERRY_OK, "%s", ferry_last_error());
    return a;
}

/* n images of c×h×w with distinct values in (0, 1): pixel j of image i is ((i·131 + j·7) mod 251 + 1) / 253. */
static float *pattern(int n, int c, int h, int w)
{
    size_t len = (size_t)n * c * h * w;
    float *x = malloc(len * sizeof *x);
    cr_assert(x);
    for (size_t i = 0; i < (size_t)n; i++)
        for (size_t j = 0; j < (size_t)c * h * w; j++)
            x[i * c * h * w + j] = (float)((i * 131 + j * 7) % 251 + 1) / 253.0f;
    return x;
}

static float *copy(const float *x, size_t len)
{
    float *y = malloc(len * sizeof *y);
    cr_assert(y);
    memcpy(y, x, len * sizeof *y);
    return y;
}

/* The batch of pattern(n, c, h, w) augmented by spec with these arguments (caller frees). */
static float *augmented(const char *spec, int n, int c, int h, int w, int threads, uint64_t seed, int epoch,
                        int64_t step, int view)
{
    ferry_augment_t *a = make(spec, c, h, w, n, threads);
    float *x = pattern(n, c, h, w);
    cr_assert_eq(ferry_augment_batch(a, x, n, seed, epoch, step, view), FERRY_OK, "%s", ferry_last_error());
    ferry_augment_free(a);
    return x;
}

/* ---- determinism ------------------------------------------------------------------------------------ */

Test(augment, same_arguments_same_bits_on_any_thread_count)
{
    const int n = 9, c = 3, h = 12, w = 10;
    const size_t len = (size_t)n * c * h * w;
    float *a = augmented(FULL, n, c, h, w, 1, 7, 2, 5, 0);
    float *b = augmented(FULL, n, c, h, w, 1, 7, 2, 5, 0);
    float *t3 = augmented(FULL, n, c, h, w, 3, 7, 2, 5, 0);
    float *orig = pattern(n, c, h, w);
    cr_assert(memcmp(a, b, len * sizeof *a) == 0);
    cr_assert(memcmp(a, t3, len * sizeof *a) == 0, "3 threads differ from 1");
    cr_assert(memcmp(a, orig, len * sizeof *a) != 0, "nothing was augmented");
    /* image i depends on i alone, not on the batch around it: the first 4 of a batch of 4 are the same */
    float *part = augmented(FULL, 4, c, h, w, 2, 7, 2, 5, 0);
    cr_assert(memcmp(a, part, 4 * (size_t)c * h * w * sizeof *a) == 0);
    free(a);
    free(b);
    free(t3);
    free(orig);
    free(part);
}

Test(augment, another_seed_epoch_step_or_view_gives_other_bits)
{
    const int n = 4, c = 1, h = 16, w = 16;
    const size_t img = (size_t)c * h * w;
    float *base = augmented(FULL, n, c, h, w, 1, 7, 2, 5, 0);
    const struct { uint64_t seed; int epoch; int64_t step; int view; } other[] = {
        {8, 2, 5, 0}, {7, 3, 5, 0}, {7, 2, 6, 0}, {7, 2, 5, 1}};
    for (size_t k = 0; k < sizeof other / sizeof other[0]; k++) {
        float *o = augmented(FULL, n, c, h, w, 1, other[k].seed, other[k].epoch, other[k].step, other[k].view);
        for (int i = 0; i < n; i++) /* every image, not just the batch */
            cr_assert(memcmp(base + i * img, o + i * img, img * sizeof *o) != 0, "variant %zu, image %d unchanged", k, i);
        free(o);
    }
    /* the two views of a batch differ from each other and from the images */
    float *v1 = augmented(FULL, n, c, h, w, 1, 7, 2, 5, 1), *orig = pattern(n, c, h, w);
    for (int i = 0; i < n; i++) {
        cr_assert(memcmp(base + i * img, v1 + i * img, img * sizeof *v1) != 0);
        cr_assert(memcmp(orig + i * img, v1 + i * img, img * sizeof *v1) != 0);
    }
    free(v1);
    free(orig);
    free(base);
}

/* ---- known answers -------------------------------------------------------------------------------------- */

Test(augment, flip_1_mirrors_exactly_and_twice_is_the_identity)
{
    const int n = 3, c = 3, h = 5, w = 7;
    const size_t len = (size_t)n * c * h * w;
    float *orig = pattern(n, c, h, w), *x = copy(orig, len);
    ferry_augment_t *a = make("flip=1", c, h, w, n, 1);
    cr_assert_eq(ferry_augment_batch(a, x, n, 1, 0, 0, 0), FERRY_OK);
    for (int i = 0; i < n * c; i++)
        for (int y = 0; y < h; y++)
            for (int xx = 0; xx < w; xx++)
                cr_assert_eq(x[(size_t)i * h * w + y * w + xx], orig[(size_t)i * h * w + y * w + (w - 1 - xx)]);
    cr_assert_eq(ferry_augment_batch(a, x, n, 2, 5, 9, 1), FERRY_OK); /* another draw: flip=1 flips anyway */
    cr_assert(memcmp(x, orig, len * sizeof *x) == 0);
    ferry_augment_free(a);
    free(orig);
    free(x);
}

Test(augment, flip_half_flips_some_images_and_keeps_the_others)
{
    const int n = 64, c = 1, h = 4, w = 6;
    const size_t img = (size_t)c * h * w;
    float *orig = pattern(n, c, h, w), *x = copy(orig, n * img);
    ferry_augment_t *a = make("flip=0.5", c, h, w, n, 1);
    cr_assert_eq(ferry_augment_batch(a, x, n, 3, 0, 0, 0), FERRY_OK);
    int flipped = 0;
    for (int i = 0; i < n; i++) {
        bool same = memcmp(x + i * img, orig + i * img, img * sizeof *x) == 0, mirrored = true;
        for (int y = 0; y < h; y++)
            for (int xx = 0; xx < w; xx++)
                mirrored &= x[i * img + y * w + xx] == orig[i * img + y * w + (w - 1 - xx)];
        cr_assert(same != mirrored, "image %d is neither itself nor its mirror", i);
        flipped += mirrored;
    }
    cr_assert(flipped > 16 && flipped < 48, "%d of 64 flipped", flipped);
    ferry_augment_free(a);
    free(orig);
    free(x);
}

Test(augment, crop_with_padding_shifts_by_an_integer_offset_with_zero_fill)
{
    const int n = 200, c = 2, h = 6, w = 5, pad = 2;
    const size_t img = (size_t)c * h * w;
    float *orig = pattern(n, c, h, w), *x = copy(orig, n * img);
    ferry_augment_t *a = make("crop=2", c, h, w, n, 2);
    cr_assert_eq(ferry_augment_batch(a, x, n, 11, 1, 4, 0), FERRY_OK);
    int seen[5][5] = {{0}};
    for (int i = 0; i < n; i++) {
        int found = 0;
        for (int oy = -pad; oy <= pad; oy++)
            for (int ox = -pad; ox <= pad; ox++) {
                bool match = true; /* out(x, y) = in(x + ox, y + oy), 0 outside */
                for (int k = 0; k < c && match; k++)
                    for (int y = 0; y < h && match; y++)
                        for (int xx = 0; xx < w && match; xx++) {
                            int sx = xx + ox, sy = y + oy;
                            float want = sx >= 0 && sx < w && sy >= 0 && sy < h ? orig[i * img + (k * h + sy) * w + sx] : 0;
                            match = x[i * img + (k * h + y) * w + xx] == want;
                        }
                if (match) {
                    found++;
                    seen[oy + pad][ox + pad]++;
                }
            }
        cr_assert_eq(found, 1, "image %d is no single shift of its input", i);
    }
    for (int oy = 0; oy < 5; oy++)
        for (int ox = 0; ox < 5; ox++) cr_assert(seen[oy][ox] > 0, "offset (%d, %d) never drawn", ox - pad, oy - pad);
    ferry_augment_free(a);
    free(orig);
    free(x);
}

Test(augment, identity_settings_leave_the_bits)
{
    const int n = 5, c = 3, h = 9, w = 8;
    const size_t len = (size_t)n * c * h * w;
    float *orig = pattern(n, c, h, w);
    /* scale fixed at 1, a full-image resized crop of ratio 1 on a square image, and the off settings */
    const char *specs[] = {"scale=1", "rot=0", "noise=0", "none", "", "rot=0,noise=0,flip=0,crop=0,jitter=0"};
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
        float *x = augmented(specs[k], n, c, h, w, 1, 5, 1, 2, 0);
        cr_assert(memcmp(x, orig, len * sizeof *x) == 0, "'%s' changed the images", specs[k]);
        free(x);
    }
    cr_assert(!ferry_augment_active(&(ferry_augment_config){0}));
    ferry_augment_config off = parse("rot=0,noise=0");
    cr_assert(!ferry_augment_active(&off));
    float *sq = pattern(n, c, 8, 8), *x = augmented("rrc=1:1,ratio=1:1", n, c, 8, 8, 1, 5, 1, 2, 0);
    cr_assert(memcmp(x, sq, (size_t)n * c * 64 * sizeof *x) == 0, "a full-image crop changed the images");
    /* saturation on grey RGB images (r = g = b) and contrast on a flat image change nothing */
    float grey[2 * 3 * 16], g2[2 * 3 * 16];
    for (int i = 0; i < 2; i++)
        for (int p = 0; p < 16; p++)
            for (int k = 0; k < 3; k++) grey[(i * 3 + k) * 16 + p] = (float)(p + 3 * i) / 19.0f;
    memcpy(g2, grey, sizeof grey);
    ferry_augment_t *sat = make("saturation=0.9", 3, 4, 4, 2, 1);
    cr_assert_eq(ferry_augment_batch(sat, g2, 2, 1, 0, 0, 0), FERRY_OK);
    cr_assert(memcmp(g2, grey, sizeof grey) == 0);
    ferry_augment_free(sat);
    float one[16];
    for (int p = 0; p < 16; p++) one[p] = 0.4f;
    ferry_augment_t *c1 = make("contrast=0.9", 1, 4, 4, 1, 1);
    cr_assert_eq(ferry_augment_batch(c1, one, 1, 1, 0, 0, 0), FERRY_OK);
    for (int p = 0; p < 16; p++) cr_assert_eq(one[p], 0.4f);
    ferry_augment_free(c1);
    free(sq);
    free(x);
    free(orig);
}

Test(augment, brightness_scales_a_flat_image_within_its_range)
{
    float x[8 * 16];
    for (int i = 0; i < 8 * 16; i++) x[i] = 0.5f;
    ferry_augment_t *a = make("brightness=0.2", 1, 4, 4, 8, 1);
    cr_assert_eq(ferry_augment_batch(a, x, 8, 4, 0, 0, 0), FERRY_OK);
    bool differ = false;
    for (int i = 0; i < 8; i++) {
        float v = x[i * 16];
        cr_assert(v >= 0.4f - 1e-6f && v <= 0.6f + 1e-6f, "image %d: %g outside 0.5 ± 20%%", i, (double)v);
        for (int p = 0; p < 16; p++) cr_assert_eq(x[i * 16 + p], v); /* one factor per image */
        differ |= v != x[0];
    }
    cr_assert(differ, "every image got the same factor");
    ferry_augment_free(a);
}

Test(augment, rotation_keeps_the_centre_and_moves_the_rest)
{
    const int n = 6, h = 9, w = 9;
    const size_t img = (size_t)h * w;
    float *orig = pattern(n, 1, h, w), *x = augmented("rot=30", n, 1, h, w, 1, 2, 0, 0, 0);
    for (int i = 0; i < n; i++) {
        cr_assert_float_eq(x[i * img + 4 * w + 4], orig[i * img + 4 * w + 4], 1e-5, "image %d's centre moved", i);
        cr_assert(memcmp(x + i * img, orig + i * img, img * sizeof *x) != 0, "image %d not rotated", i);
    }
    free(orig);
    free(x);
}

Test(augment, resized_crop_of_a_quarter_zooms_a_ramp_by_two)
{
    /* value x / (w - 1) along each row; a crop of a quarter of the area at ratio 1 is half as wide,
     * stretched back: the output's slope is half the input's, away from the edges */
    const int n = 6, h = 16, w = 16;
    float x[6 * 256];
    for (int i = 0; i < n; i++)
        for (int y = 0; y < h; y++)
            for (int xx = 0; xx < w; xx++) x[(i * h + y) * w + xx] = (float)xx / (w - 1);
    ferry_augment_t *a = make("rrc=0.25:0.25,ratio=1:1", 1, h, w, n, 1);
    cr_assert_eq(ferry_augment_batch(a, x, n, 9, 0, 0, 0), FERRY_OK);
    for (int i = 0; i < n; i++)
        for (int y = 0; y < h; y++)
            for (int xx = 1; xx + 1 < w; xx++) {
                float d = x[(i * h + y) * w + xx + 1] - x[(i * h + y) * w + xx];
                cr_assert_float_eq(d, 0.5f / (w - 1), 1e-5, "image %d row %d: step %g at %d", i, y, (double)d, xx);
            }
    ferry_augment_free(a);
}

Test(augment, noise_has_the_declared_spread)
{
    const int n = 16, h = 32, w = 32;
    const size_t len = (size_t)n * h * w;
    float *x = malloc(len * sizeof *x);
    for (size_t i = 0; i < len; i++) x[i] = 0.5f;
    ferry_augment_t *a = make("noise=0.1", 1, h, w, n, 1);
    cr_assert_eq(ferry_augment_batch(a, x, n, 1, 0, 0, 0), FERRY_OK);
    double sum = 0, sq = 0;
    for (size_t i = 0; i < len; i++) sum += x[i] - 0.5, sq += (x[i] - 0.5) * (x[i] - 0.5);
    double mean = sum / len, sd = sqrt(sq / len - mean * mean);
    cr_assert(fabs(mean) < 0.005, "mean %g", mean);
    cr_assert(fabs(sd - 0.1) < 0.005, "sd %g", sd);
    ferry_augment_free(a);
    free(x);
}

Test(augment, values_stay_in_0_1)
{
    const int n = 8, c = 3, h = 10, w = 10;
    const size_t len = (size_t)n * c * h * w;
    float *x = pattern(n, c, h, w);
    for (size_t i = 0; i < len; i += 3) x[i] = (i / 3) % 2 ? 1.0f : 0.0f; /* extremes */
    ferry_augment_t *a = make("rrc=0.3:1,crop=3,flip=0.5,rot=90,scale=0.5:2,jitter=1,noise=0.5", c, h, w, n, 2);
    for (int step = 0; step < 4; step++) {
        cr_assert_eq(ferry_augment_batch(a, x, n, 3, 0, step, step % 2), FERRY_OK);
        for (size_t i = 0; i < len; i++) cr_assert(x[i] >= 0.0f && x[i] <= 1.0f, "value %zu: %g", i, (double)x[i]);
    }
    ferry_augment_free(a);
    free(x);
}

Test(augment, a_batch_larger_than_declared_is_refused)
{
    ferry_augment_t *a = make("flip=1", 1, 4, 4, 2, 1);
    float x[3 * 16] = {0};
    cr_assert_eq(ferry_augment_batch(a, x, 3, 1, 0, 0, 0), FERRY_ERR_INVALID);
    cr_assert(strstr(ferry_last_error(), "up to 2"), "%s", ferry_last_error());
    ferry_augment_free(a);
    ferry_augment_config cfg = {0};
    cr_assert_eq(ferry_augment_init(&cfg, 0, 4, 4, 2, 1, &a), FERRY_ERR_INVALID);
    cr_assert_null(a);
}

/* ---- the spec ------------------------------------------------------------------------------------------- */

static bool same(const ferry_augment_config *a, const ferry_augment_config *b)
{
    return a->rrc[0] == b->rrc[0] && a->rrc[1] == b->rrc[1] && a->ratio[0] == b->ratio[0] && a->ratio[1] == b->ratio[1] &&
           a->pad == b->pad && a->flip == b->flip && a->rotate == b->rotate && a->scale[0] == b->scale[0] &&
           a->scale[1] == b->scale[1] && a->brightness == b->brightness && a->contrast == b->contrast &&
           a->saturation == b->saturation && a->noise == b->noise;
}

Test(augment, spec_canonical_form)
{
    char a[256], b[256];
    ferry_augment_config x = parse("flip=0.5,crop=4"), y = parse("crop=4,flip=0.5");
    ferry_augment_format(&x, a, sizeof a);
    ferry_augment_format(&y, b, sizeof b);
    cr_assert_str_eq(a, "crop=4,flip=0.5");
    cr_assert_str_eq(b, a);
    ferry_augment_config j = parse("jitter=0.2");
    ferry_augment_format(&j, a, sizeof a);
    cr_assert_str_eq(a, "brightness=0.2,contrast=0.2,saturation=0.2");
    ferry_augment_config r = parse("rrc=0.5:1");
    ferry_augment_format(&r, a, sizeof a);
    cr_assert_str_eq(a, "rrc=0.5:1"); /* the default ratio, 3/4 .. 4/3 */
    cr_assert(r.ratio[0] == 0.75 && r.ratio[1] == 4.0 / 3.0);
    ferry_augment_config r2 = parse("rrc=0.5:1,ratio=0.8:1.25");
    ferry_augment_format(&r2, a, sizeof a);
    cr_assert_str_eq(a, "rrc=0.5:1,ratio=0.8:1.25");
    ferry_augment_config off = {0};
    ferry_augment_format(&off, a, sizeof a);
    cr_assert_str_eq(a, "none");
    /* canonical form round trip */
    ferry_augment_config f = parse(FULL), g;
    ferry_augment_format(&f, a, sizeof a);
    cr_assert_str_eq(a, "rrc=0.5:1,crop=2,flip=0.5,rot=15,scale=0.9:1.1,brightness=0.3,contrast=0.3,saturation=0.3,"
                        "noise=0.05");
    g = parse(a);
    ferry_augment_format(&g, b, sizeof b);
    cr_assert_str_eq(a, b);
    cr_assert(same(&f, &g), "the canonical form reads back as other settings");
    /* numbers keep every digit they need: two specs that differ are never one canonical form */
    ferry_augment_config p1 = parse("rot=12.3456789"), p2 = parse("rot=12.3456788");
    ferry_augment_format(&p1, a, sizeof a);
    ferry_augment_format(&p2, b, sizeof b);
    cr_assert_str_eq(a, "rot=12.3456789");
    cr_assert_str_neq(a, b);
    ferry_augment_config s = parse("scale=1.2");
    cr_assert(s.scale[0] == 1.2 && s.scale[1] == 1.2);
    int full = ferry_augment_format(&f, b, sizeof b);
    cr_assert_eq(ferry_augment_format(&f, a, 4), full); /* snprintf's contract */
    cr_assert_eq(strlen(a), 3);
}

Test(augment, spec_errors_name_the_key)
{
    const struct { const char *spec, *needle; } bad[] = {
        {"foo=1", "unknown key 'foo'"},
        {"rot=abc", "rot expects"},
        {"rot=200", "rot expects"},
        {"flip=1.5", "flip expects"},
        {"flip=-0.1", "flip expects"},
        {"crop=2.5", "crop expects"},
        {"crop=-1", "crop expects"},
        {"scale=1.2:1.1", "scale expects"},
        {"scale=0:1", "scale expects"},
        {"rrc=0:1", "rrc expects"},
        {"rrc=0.5", "rrc expects"},
        {"rrc=0.5:1.5", "rrc expects"},
        {"noise=nan", "noise expects"},
        {"jitter=2", "jitter expects"},
        {"flip", "'flip' is not KEY=VALUE"},
        {"=1", "is not KEY=VALUE"},
        {"flip=0.5,flip=0.2", "flip given twice"},
        {"ratio=1:2", "ratio applies to the random resized crop"},
        {"rot=10,", NULL}, /* a trailing comma is allowed */
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ferry_augment_config c;
        ferry_status s = ferry_augment_parse(bad[k].spec, &c);
        if (!bad[k].needle) {
            cr_assert_eq(s, FERRY_OK, "'%s': %s", bad[k].spec, ferry_last_error());
            continue;
        }
        cr_assert_eq(s, FERRY_ERR_INVALID, "'%s' accepted", bad[k].spec);
        cr_assert(strstr(ferry_last_error(), bad[k].needle), "'%s': %s", bad[k].spec, ferry_last_error());
        cr_assert(!ferry_augment_active(&c), "'%s': a failed parse left settings", bad[k].spec);
    }
}
