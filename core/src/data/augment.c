/* Seeded data augmentation for training batches: the compact spec (parse and canonical form) and
 * the augmenter, which transforms a batch in place without allocating.
 *
 * Randomness is counter-based: image i of a batch gets a key, a hash of (seed, epoch, step, i,
 * view), and its k-th uniform number is a hash of (key, k). Each step of the pipeline reads its own
 * fixed slots k, so turning one step on or off never changes another's draws, and nothing depends
 * on which thread augments which image. */
#include "transform.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the counter-based generator --------------------------------------------------------------------- */

/* SplitMix64's finaliser after its golden-ratio increment: a bijection of 64-bit words. */
static uint64_t mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t image_key(uint64_t seed, int epoch, int64_t step, int index, int view)
{
    uint64_t h = mix64(seed);
    h = mix64(h ^ (uint64_t)(uint32_t)epoch);
    h = mix64(h ^ (uint64_t)step);
    h = mix64(h ^ (uint64_t)(uint32_t)index);
    return mix64(h ^ (uint64_t)(uint32_t)view);
}

/* The uniform number in [0, 1) of slot k: 53 bits of hash(key, k). */
static double uniform(uint64_t key, uint64_t k)
{
    return (double)(mix64(key ^ mix64(k)) >> 11) * 0x1p-53;
}

/* Slots of each step (noise takes two per pair of values from NOISE_SLOT on). */
enum { RRC_AREA, RRC_RATIO, RRC_X, RRC_Y, PAD_X, PAD_Y, FLIP, ROTATE, SCALE, BRIGHTNESS, CONTRAST, SATURATION,
       NOISE_SLOT = 16 };

static double in_range(uint64_t key, int slot, const double r[2]) { return r[0] + (r[1] - r[0]) * uniform(key, slot); }

/* ---- the spec ---------------------------------------------------------------------------------------- */

bool ferry_augment_active(const ferry_augment_config *c)
{
    return c && (c->rrc[1] > 0 || c->pad > 0 || c->flip > 0 || c->rotate > 0 || c->scale[1] > 0 || c->brightness > 0 ||
                 c->contrast > 0 || c->saturation > 0 || c->noise > 0);
}

static const char *const KEYS = "rrc, ratio, crop, flip, rot, scale, jitter, brightness, contrast, saturation, noise";

/* One number of v in [lo, hi], the whole of v. */
static bool number(const char *v, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end || errno || !isfinite(x) || x < lo || x > hi) return false;
    *out = x;
    return true;
}

/* LO:HI with lo_min <= LO <= HI <= hi_max (LO > lo_min when open); one value when single is allowed. */
static bool range(const char *v, double lo_min, bool open, double hi_max, bool single, double out[2])
{
    const char *colon = strchr(v, ':');
    char a[64];
    if (!colon) {
        if (!single || !number(v, lo_min, hi_max, &out[0]) || (open && out[0] <= lo_min)) return false;
        out[1] = out[0];
        return true;
    }
    if ((size_t)(colon - v) >= sizeof a) return false;
    snprintf(a, sizeof a, "%.*s", (int)(colon - v), v);
    return number(a, lo_min, hi_max, &out[0]) && number(colon + 1, lo_min, hi_max, &out[1]) &&
           out[0] <= out[1] && !(open && out[0] <= lo_min);
}

ferry_status ferry_augment_parse(const char *spec, ferry_augment_config *out)
{
    ferry_augment_config c = {0};
    *out = c;
    if (!spec) spec = "";
    char buf[1024];
    if (strlen(spec) >= sizeof buf) return ferry_error(FERRY_ERR_INVALID, "augment spec '%.60s...' is too long", spec);
    snprintf(buf, sizeof buf, "%s", spec);
    if (!buf[0] || !strcmp(buf, "none")) return FERRY_OK;
    char seen[16][16];
    int n_seen = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok)
            return ferry_error(FERRY_ERR_INVALID, "augment '%s': '%s' is not KEY=VALUE (keys: %s)", spec, tok, KEYS);
        *eq = '\0';
        const char *key = tok, *v = eq + 1;
        for (int i = 0; i < n_seen; i++)
            if (!strcmp(seen[i], key)) return ferry_error(FERRY_ERR_INVALID, "augment '%s': %s given twice", spec, key);
        if (n_seen < 16 && strlen(key) < sizeof seen[0]) snprintf(seen[n_seen++], sizeof seen[0], "%s", key);
        double x = 0;
        bool ok;
        const char *expects;
        if (!strcmp(key, "rrc")) {
            ok = range(v, 0, true, 1, false, c.rrc);
            expects = "an area range LO:HI with 0 < LO <= HI <= 1";
        } else if (!strcmp(key, "ratio")) {
            ok = range(v, 0, true, 100, false, c.ratio);
            expects = "an aspect-ratio range LO:HI with 0 < LO <= HI <= 100";
        } else if (!strcmp(key, "crop")) {
            ok = number(v, 0, 4096, &x) && x == floor(x);
            c.pad = (int)x;
            expects = "a padding in pixels, an integer in [0, 4096]";
        } else if (!strcmp(key, "flip")) {
            ok = number(v, 0, 1, &c.flip);
            expects = "a probability in [0, 1]";
        } else if (!strcmp(key, "rot")) {
            ok = number(v, 0, 180, &c.rotate);
            expects = "a largest angle in degrees, in [0, 180]";
        } else if (!strcmp(key, "scale")) {
            ok = range(v, 0, true, 10, true, c.scale);
            expects = "a zoom range LO:HI (or one factor) with 0 < LO <= HI <= 10";
        } else if (!strcmp(key, "jitter") || !strcmp(key, "brightness") || !strcmp(key, "contrast") ||
                   !strcmp(key, "saturation")) {
            ok = number(v, 0, 1, &x);
            if (key[0] == 'j' || key[0] == 'b') c.brightness = x;
            if (key[0] == 'j' || key[0] == 'c') c.contrast = x;
            if (key[0] == 'j' || key[0] == 's') c.saturation = x;
            expects = "a strength in [0, 1]";
        } else if (!strcmp(key, "noise")) {
            ok = number(v, 0, 1, &c.noise);
            expects = "a standard deviation in [0, 1]";
        } else {
            return ferry_error(FERRY_ERR_INVALID, "augment '%s': unknown key '%s' (keys: %s)", spec, key, KEYS);
        }
        if (!ok) return ferry_error(FERRY_ERR_INVALID, "augment '%s': %s expects %s, not '%s'", spec, key, expects, v);
    }
    if (c.ratio[1] > 0 && !(c.rrc[1] > 0))
        return ferry_error(FERRY_ERR_INVALID, "augment '%s': ratio applies to the random resized crop: give rrc=LO:HI too",
                           spec);
    if (c.rrc[1] > 0 && !(c.ratio[1] > 0)) c.ratio[0] = 3.0 / 4.0, c.ratio[1] = 4.0 / 3.0;
    *out = c;
    return FERRY_OK;
}

/* x in the fewest significant digits (at least 6) that read back as x itself. */
static void put_number(char *out, size_t n, double x)
{
    for (int digits = 6; digits <= 17; digits++) {
        snprintf(out, n, "%.*g", digits, x);
        if (strtod(out, NULL) == x) return;
    }
}

int ferry_augment_format(const ferry_augment_config *c, char *out, size_t out_size)
{
    char b[512] = "", x[32], y[32];
    size_t l = 0;
#define PUT(...) l += (size_t)snprintf(b + l, l < sizeof b ? sizeof b - l : 0, __VA_ARGS__)
#define SEP (l ? "," : "")
#define ONE(key, v) do { put_number(x, sizeof x, (v)); PUT("%s" key "=%s", SEP, x); } while (0)
#define TWO(key, r)                                                                                   \
    do {                                                                                              \
        put_number(x, sizeof x, (r)[0]);                                                              \
        put_number(y, sizeof y, (r)[1]);                                                              \
        PUT("%s" key "=%s:%s", SEP, x, y);                                                            \
    } while (0)
    if (c->rrc[1] > 0) {
        TWO("rrc", c->rrc);
        if (c->ratio[1] > 0 && !(c->ratio[0] == 3.0 / 4.0 && c->ratio[1] == 4.0 / 3.0)) TWO("ratio", c->ratio);
    }
    if (c->pad > 0) PUT("%scrop=%d", SEP, c->pad);
    if (c->flip > 0) ONE("flip", c->flip);
    if (c->rotate > 0) ONE("rot", c->rotate);
    if (c->scale[1] > 0) {
        if (c->scale[0] == c->scale[1]) ONE("scale", c->scale[0]);
        else TWO("scale", c->scale);
    }
    if (c->brightness > 0) ONE("brightness", c->brightness);
    if (c->contrast > 0) ONE("contrast", c->contrast);
    if (c->saturation > 0) ONE("saturation", c->saturation);
    if (c->noise > 0) ONE("noise", c->noise);
#undef TWO
#undef ONE
#undef SEP
#undef PUT
    return snprintf(out, out_size, "%s", l ? b : "none");
}

/* ---- the augmenter ------------------------------------------------------------------------------------- */

struct ferry_augment {
    ferry_augment_config cfg;
    int c, h, w, max_batch, threads;
    bool geometry, colour;
    float *scratch; /* threads × c·h·w: an image's geometry is sampled here, then copied back */
};

ferry_status ferry_augment_init(const ferry_augment_config *cfg, int c, int h, int w, int max_batch, int threads,
                                ferry_augment_t **out)
{
    *out = NULL;
    if (!cfg || c < 1 || h < 1 || w < 1 || max_batch < 1)
        return ferry_error(FERRY_ERR_INVALID, "augment: cannot augment batches of %d %dx%dx%d images", max_batch, c, h,
                           w);
    ferry_augment_t *a = calloc(1, sizeof *a);
    if (!a) return ferry_error(FERRY_ERR_NOMEM, "augment: out of memory");
    a->cfg = *cfg;
    if (a->cfg.rrc[1] > 0 && !(a->cfg.ratio[1] > 0)) a->cfg.ratio[0] = 3.0 / 4.0, a->cfg.ratio[1] = 4.0 / 3.0;
    a->c = c, a->h = h, a->w = w, a->max_batch = max_batch;
    a->threads = threads > 1 ? threads : 1;
    const ferry_augment_config *k = &a->cfg;
    a->geometry = k->rrc[1] > 0 || k->pad > 0 || k->flip > 0 || k->rotate > 0 || k->scale[1] > 0;
    a->colour = k->brightness > 0 || k->contrast > 0 || (k->saturation > 0 && c == 3) || k->noise > 0;
    if (a->geometry && !(a->scratch = malloc((size_t)a->threads * c * h * w * sizeof *a->scratch))) {
        free(a);
        return ferry_error(FERRY_ERR_NOMEM, "augment: out of memory for %d %dx%dx%d scratch images", threads, c, h, w);
    }
    *out = a;
    return FERRY_OK;
}

void ferry_augment_free(ferry_augment_t *a)
{
    if (!a) return;
    free(a->scratch);
    free(a);
}

/* m = m · t for 2×3 affine maps (the third row 0 0 1). */
static void compose(double m[6], const double t[6])
{
    double r[6] = {m[0] * t[0] + m[1] * t[3], m[0] * t[1] + m[1] * t[4], m[0] * t[2] + m[1] * t[5] + m[2],
                   m[3] * t[0] + m[4] * t[3], m[3] * t[1] + m[4] * t[4], m[3] * t[2] + m[4] * t[5] + m[5]};
    memcpy(m, r, sizeof r);
}

/* Exact sine and cosine at 0 (a drawn angle of exactly 0 leaves the map exact). */
static void sin_cos_degrees(double d, double *sn, double *cs)
{
    if (d == 0.0) *sn = 0, *cs = 1;
    else *sn = sin(d * M_PI / 180.0), *cs = cos(d * M_PI / 180.0);
}

/* The map from each output pixel (x, y) to the source point it samples: the inverse of the forward
 * chain crop -> pad-crop -> flip -> rotate/scale, so the output side's step is applied first. */
static void geometry_map(const ferry_augment_t *a, uint64_t key, double m[6])
{
    const ferry_augment_config *k = &a->cfg;
    const double W = a->w, H = a->h, cx = (W - 1) / 2.0, cy = (H - 1) / 2.0;
    double id[6] = {1, 0, 0, 0, 1, 0};
    memcpy(m, id, sizeof id);
    if (k->rrc[1] > 0) { /* a crop of cw × ch at (x0, y0), its pixel centres stretched over the output's */
        double area = in_range(key, RRC_AREA, k->rrc);
        double lr[2] = {log(k->ratio[0]), log(k->ratio[1])}, ratio = exp(in_range(key, RRC_RATIO, lr));
        double fw = fmin(1.0, sqrt(area * ratio)), fh = fmin(1.0, sqrt(area / ratio));
        double cw = fw * W, ch = fh * H, x0 = (W - cw) * uniform(key, RRC_X), y0 = (H - ch) * uniform(key, RRC_Y);
        const double t[6] = {fw, 0, x0 + 0.5 * fw - 0.5, 0, fh, y0 + 0.5 * fh - 0.5};
        compose(m, t);
    }
    if (k->pad > 0) { /* pad, then crop at an integer offset: a shift by -pad .. pad */
        int span = 2 * k->pad + 1;
        int ox = (int)(uniform(key, PAD_X) * span) - k->pad, oy = (int)(uniform(key, PAD_Y) * span) - k->pad;
        const double t[6] = {1, 0, ox, 0, 1, oy};
        compose(m, t);
    }
    if (k->flip > 0 && uniform(key, FLIP) < k->flip) {
        const double t[6] = {-1, 0, W - 1, 0, 1, 0};
        compose(m, t);
    }
    if (k->rotate > 0 || k->scale[1] > 0) {
        /* As ferry_dataset_rotate: a counter-clockwise turn by t (y pointing down) takes its source
         * at offset (dx cos t - dy sin t, dx sin t + dy cos t) from the centre; a zoom by s at 1/s. */
        double deg = k->rotate > 0 ? k->rotate * (2 * uniform(key, ROTATE) - 1) : 0;
        double s = k->scale[1] > 0 ? in_range(key, SCALE, k->scale) : 1, sn, cs;
        sin_cos_degrees(deg, &sn, &cs);
        double a11 = cs / s, a12 = -sn / s, a21 = sn / s, a22 = cs / s;
        const double t[6] = {a11, a12, cx - a11 * cx - a12 * cy, a21, a22, cy - a21 * cx - a22 * cy};
        compose(m, t);
    }
}

/* Samples every plane of img through map m into dst: bilinear between the 4 neighbours, zero outside. */
static void sample(const ferry_augment_t *a, const float *img, const double m[6], float *dst)
{
    const int h = a->h, w = a->w;
    const size_t plane = (size_t)h * (size_t)w;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double sx = m[0] * x + m[1] * y + m[2], sy = m[3] * x + m[4] * y + m[5];
            double fx0 = floor(sx), fy0 = floor(sy), wt[4];
            size_t at[4], o = (size_t)y * (size_t)w + (size_t)x;
            int k = 0;
            if (fx0 >= -1 && fx0 < w && fy0 >= -1 && fy0 < h) {
                int x0 = (int)fx0, y0 = (int)fy0;
                double ax = sx - fx0, ay = sy - fy0;
                for (int j = 0; j < 2; j++)
                    for (int i = 0; i < 2; i++) {
                        int xi = x0 + i, yj = y0 + j;
                        double v = (i ? ax : 1 - ax) * (j ? ay : 1 - ay);
                        if (v == 0 || xi < 0 || xi >= w || yj < 0 || yj >= h) continue;
                        wt[k] = v;
                        at[k++] = (size_t)yj * (size_t)w + (size_t)xi;
                    }
            }
            for (int ch = 0; ch < a->c; ch++) {
                const float *p = img + (size_t)ch * plane;
                double v = 0;
                for (int q = 0; q < k; q++) v += wt[q] * p[at[q]];
                dst[(size_t)ch * plane + o] = (float)v;
            }
        }
}

static float clamp01(float v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

static double luminance_mean(const float *img, int c, size_t plane)
{
    double sum = 0;
    for (size_t p = 0; p < plane; p++)
        sum += c == 3 ? ferry_luminance(img[p], img[plane + p], img[2 * plane + p]) : img[p];
    return sum / (double)plane;
}

static void colour(const ferry_augment_t *a, float *img, uint64_t key)
{
    const ferry_augment_config *k = &a->cfg;
    const size_t plane = (size_t)a->h * (size_t)a->w, n = (size_t)a->c * plane;
    if (k->brightness > 0) {
        float b = (float)(1 + k->brightness * (2 * uniform(key, BRIGHTNESS) - 1));
        for (size_t i = 0; i < n; i++) img[i] = clamp01(img[i] * b);
    }
    if (k->contrast > 0) {
        float f = (float)(1 + k->contrast * (2 * uniform(key, CONTRAST) - 1)), mean = (float)luminance_mean(img, a->c, plane);
        for (size_t i = 0; i < n; i++) img[i] = clamp01((img[i] - mean) * f + mean);
    }
    if (k->saturation > 0 && a->c == 3) {
        float f = (float)(1 + k->saturation * (2 * uniform(key, SATURATION) - 1));
        for (size_t p = 0; p < plane; p++) {
            float g = ferry_luminance(img[p], img[plane + p], img[2 * plane + p]);
            for (int ch = 0; ch < 3; ch++) img[ch * plane + p] = clamp01(g + (img[ch * plane + p] - g) * f);
        }
    }
    if (k->noise > 0) /* Box-Muller: values 2j and 2j + 1 from slots NOISE_SLOT + 2j, + 2j + 1 */
        for (size_t j = 0; 2 * j < n; j++) {
            double u1 = uniform(key, NOISE_SLOT + 2 * j), u2 = uniform(key, NOISE_SLOT + 2 * j + 1);
            double r = sqrt(-2.0 * log(1.0 - u1)) * k->noise, t = 2 * M_PI * u2;
            img[2 * j] = clamp01((float)(img[2 * j] + r * cos(t)));
            if (2 * j + 1 < n) img[2 * j + 1] = clamp01((float)(img[2 * j + 1] + r * sin(t)));
        }
}

static void augment_image(const ferry_augment_t *a, float *img, uint64_t key, float *scratch)
{
    if (a->geometry) {
        double m[6];
        geometry_map(a, key, m);
        sample(a, img, m, scratch);
        const size_t n = (size_t)a->c * a->h * a->w;
        for (size_t i = 0; i < n; i++) img[i] = clamp01(scratch[i]); /* rounding may pass 1 by an ulp */
    }
    if (a->colour) colour(a, img, key);
}

ferry_status ferry_augment_batch(ferry_augment_t *a, float *x, int n, uint64_t seed, int epoch, int64_t step, int view)
{
    if (!a || n < 0 || n > a->max_batch || (n > 0 && !x))
        return ferry_error(FERRY_ERR_INVALID, "augment: a batch of %d images (the augmenter takes up to %d)", n,
                           a ? a->max_batch : 0);
    if (!a->geometry && !a->colour) return FERRY_OK;
    const size_t img = (size_t)a->c * a->h * a->w;
    const int nt = a->threads;
    if (nt > 1) { /* a region of exactly the augmenter's thread count: libgomp reuses its team */
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int i = 0; i < n; i++)
            augment_image(a, x + (size_t)i * img, image_key(seed, epoch, step, i, view),
                          a->geometry ? a->scratch + (size_t)omp_get_thread_num() * img : NULL);
    } else {
        for (int i = 0; i < n; i++) augment_image(a, x + (size_t)i * img, image_key(seed, epoch, step, i, view), a->scratch);
    }
    return FERRY_OK;
}
