/* "synthdigits": SynthDigits in the manner of Ganin & Lempitsky (2015), generated on load. Each
 * image is a digit 0–9 drawn with FreeType from one of the fonts below (serif, sans, mono, narrow,
 * bold, italic, script, comic and handwriting faces from ten Debian font packages), with seeded
 * random size, aspect, slant, rotation (±15°), position, stroke weight (FT_Outline_Embolden),
 * Gaussian blur, background gradient and foreground colours of sufficient contrast, luminance
 * noise, and often the edge of a neighbouring digit, as in a crop of a house number.
 * 3×32×32 in [0, 1]; "train" 20,000 and "test" 5,000 images, classes balanced. Image i of a
 * split depends only on the split, i and the font files (each verified by its SHA-256 on every
 * load), so every load gives the same bytes. */
#include "data_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <ft2build.h>
#include FT_FREETYPE_H
#include FT_BBOX_H
#include FT_OUTLINE_H
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#define CLASSES 10
#define SIDE 32
#define PIXELS (SIDE * SIDE)
#define N_FONTS 28
#define TRAIN_N 20000
#define TEST_N 5000
/* Split seeds: the label order uses the seed itself, image i uses seed + 1 + i. */
#define TRAIN_SEED 1000000ul
#define TEST_SEED 2000000ul

/* SHA-256s also in scripts/fetch-data.sh (which names the package and path of each). */
static const struct ferry_data_source font_files[N_FONTS] = {
    {"DejaVuSans.ttf", "abdc775b21b1bc470d50c97e790d276f2054b7504e56e5bd3e64f48d68582322"},
    {"DejaVuSans-Bold.ttf", "0d977336a6d5fba34eab8e3199eb218327161b5143749f802982c2bc34df0c96"},
    {"DejaVuSerif.ttf", "13e61509f5c81d7c3132810f4f903e3523df89c802bf6e0674621e8f659cdfe1"},
    {"DejaVuSansMono.ttf", "0f5db4f1749979d961019838b160bec74abdf7f9eca69553fe1aa856bbff49a4"},
    {"LiberationSans-Regular.ttf", "8d91388f1d3604b3b8ae0e3ee2d140e50cd6122f9214514f4aca772540a4076d"},
    {"LiberationSerif-Italic.ttf", "c1830c433ab41379f1139fac388989d37c9f08c81e1bd643efdcc7946db30753"},
    {"LiberationMono-Bold.ttf", "29534b0aad22fa386843365da6f04102df8d6a076e06a2a5ce270f83dd1bf351"},
    {"C059-Roman.otf", "e00cc7b88f0cf25ae43f0e48de39d0043fe042b55719a3ac32669ab3369542ec"},
    {"C059-BdIta.otf", "60d0ab6a22e4018b1232806d98f4015e04f9a0a569db7a169c40d55e2a9f6252"},
    {"P052-Italic.otf", "1feac6055211cf5c6c812c026e398195070f174064cc4d390f0db01647443b0e"},
    {"URWBookman-Demi.otf", "ab8b2fe57cbea9783c6179188dc013c76cfc5717c22cf59bbf3016ef2d7d93ee"},
    {"URWGothic-Book.otf", "04318316cee29950805110c9c8949eea189ef5575132881f4d4d7e03e5299903"},
    {"NimbusSansNarrow-Bold.otf", "6d7cec07f5a9035e208532dab35a51312aef4a7f26eb524dd614c9fcd97c3264"},
    {"NimbusRoman-Bold.otf", "e0ad81923bc6d85d5426f796217c87963ca1ae3c65e22c87a25b6c6353de299e"},
    {"NimbusMonoPS-Regular.otf", "4f225ca8e13acb16f733ce741693105e527d5f7a5443901b9ecc190fca4e149b"},
    {"Z003-MediumItalic.otf", "a04947e59fc9339ea3c4b34c31fd46764f22af7512afc2c074ce190e79ed7a09"},
    {"Caladea-Regular.ttf", "f1e899278b7b4491aba5b6a8253c4b04c050cc59b21865be5c37559a775153cd"},
    {"Caladea-BoldItalic.ttf", "ccabaa7b7e2fdf253d2b1a5fa699dd8a3df8d835a9eb285ad82631a677eb76c0"},
    {"Carlito-Regular.ttf", "b4ff23ba370cc95a3c349336b73f9c28514a1371210f89832efc85c4b1ea7131"},
    {"Carlito-Bold.ttf", "0f62ab34ad5d079a0a28fac01bcf7c7a724a4db4d6cb99cab9cabff382fbb80f"},
    {"ComicNeue-Regular.otf", "2728ee8f303e31934e62bf27b044fd7657b0613412d51f7444db1078cc3a7cb2"},
    {"ComicNeue-BoldItalic.otf", "317338fd1611f4a18476b5fbbeea367816c6663c6e973e770f1b281fcc90fed4"},
    {"dkg.ttf", "93eb07f57b84f04fa975ebf49ecec43d9b2c85834a9b63864072c6b993efd131"},
    {"dkgBd.ttf", "62b88a2819923a5f0ab3944713122d0a0957a4081c0294d00c3205e225d5c3f2"},
    {"Humor-Sans.ttf", "2ded6a27448c9ed30aaff177744e2bcf1e52e0aab018b2a8be64565df633318f"},
    {"BecauseWeConnect-Regular.otf", "c9c7135605a5c8cd143b611881c93383c6804166c4770810ab0c07dbbff3aac9"},
    {"BecauseWeMentor-Regular.otf", "b71888fd9a79936e44a55baf1bf0bb4e594827be890882c4fc9918409e8c2509"},
    {"Rufscript010.ttf", "99b16515f19ab35d18049235797b0dbe3ec73535d455994442b206c96405050f"},
};
const struct ferry_manifest ferry_synthdigits_manifest = {"synthdigits/fonts", N_FONTS, font_files};

/* The digit outlines of every font, in font units (unhinted), and one scratch outline. */
struct glyphs {
    FT_Library lib;
    FT_Outline digit[N_FONTS][CLASSES];
    FT_BBox box[N_FONTS][CLASSES];
    FT_Outline work;
};

static void outline_free(FT_Outline *o)
{
    free(o->points);
    free(o->tags);
    free(o->contours);
}

static void glyphs_free(struct glyphs *g)
{
    for (int f = 0; f < N_FONTS; f++)
        for (int d = 0; d < CLASSES; d++) outline_free(&g->digit[f][d]);
    outline_free(&g->work);
    if (g->lib) FT_Done_FreeType(g->lib);
}

/* A malloc'd copy of o with room for (at least) n_points / n_contours. */
static bool outline_copy(const FT_Outline *o, int n_points, int n_contours, FT_Outline *out)
{
    *out = *o;
    out->points = malloc((size_t)n_points * sizeof *out->points);
    out->tags = malloc((size_t)n_points * sizeof *out->tags);
    out->contours = malloc((size_t)n_contours * sizeof *out->contours);
    if (!out->points || !out->tags || !out->contours) return false;
    memcpy(out->points, o->points, (size_t)o->n_points * sizeof *o->points);
    memcpy(out->tags, o->tags, (size_t)o->n_points * sizeof *o->tags);
    memcpy(out->contours, o->contours, (size_t)o->n_contours * sizeof *o->contours);
    return true;
}

/* Reads the ten digit outlines of font f (verified first). */
static ferry_status load_font(struct glyphs *g, int f)
{
    char path[4200];
    ferry_status s = ferry_data_file(ferry_synthdigits_manifest.subdir, font_files[f].file,
                                     font_files[f].sha256, path, sizeof path);
    if (s) return s;
    FT_Face face;
    FT_Error e = FT_New_Face(g->lib, path, 0, &face);
    if (e) return ferry_error(FERRY_ERR_FORMAT, "%s: FreeType cannot open the font (error %d)", path, e);
    for (int d = 0; d < CLASSES && !s; d++) {
        FT_UInt gi = FT_Get_Char_Index(face, (FT_ULong)('0' + d));
        if (!gi)
            s = ferry_error(FERRY_ERR_FORMAT, "%s: the font has no glyph for '%d'", path, d);
        else if ((e = FT_Load_Glyph(face, gi, FT_LOAD_NO_SCALE)) != 0 ||
                 face->glyph->format != FT_GLYPH_FORMAT_OUTLINE || face->glyph->outline.n_points == 0)
            s = ferry_error(FERRY_ERR_FORMAT, "%s: cannot load an outline for '%d' (FreeType error %d)", path,
                            d, e);
        else {
            const FT_Outline *o = &face->glyph->outline;
            if (!outline_copy(o, o->n_points, o->n_contours, &g->digit[f][d]))
                s = ferry_error(FERRY_ERR_NOMEM, "%s: out of memory", path);
            else
                FT_Outline_Get_BBox(&g->digit[f][d], &g->box[f][d]);
            if (!s && g->box[f][d].yMax <= g->box[f][d].yMin)
                s = ferry_error(FERRY_ERR_FORMAT, "%s: the glyph for '%d' is empty", path, d);
        }
    }
    FT_Done_Face(face);
    return s;
}

static ferry_status glyphs_load(struct glyphs *g)
{
    memset(g, 0, sizeof *g);
    FT_Error e = FT_Init_FreeType(&g->lib);
    if (e) {
        g->lib = NULL;
        return ferry_error(FERRY_ERR_DEVICE, "synthdigits: FreeType initialisation failed (error %d)", e);
    }
    ferry_status s = FERRY_OK;
    int max_points = 0, max_contours = 0;
    for (int f = 0; f < N_FONTS && !s; f++) {
        s = load_font(g, f);
        for (int d = 0; d < CLASSES && !s; d++) {
            if (g->digit[f][d].n_points > max_points) max_points = g->digit[f][d].n_points;
            if (g->digit[f][d].n_contours > max_contours) max_contours = g->digit[f][d].n_contours;
        }
    }
    if (!s && !outline_copy(&g->digit[0][0], max_points, max_contours, &g->work))
        s = ferry_error(FERRY_ERR_NOMEM, "synthdigits: out of memory");
    return s;
}

/* ---- one image ------------------------------------------------------------------------------ */

/* How one image is drawn (all drawn from the image's own random stream). */
struct style {
    int font;
    double height;     /* digit height in pixels before rotation */
    double aspect;     /* horizontal / vertical scale */
    double slant;      /* horizontal shear */
    double angle;      /* radians, counter-clockwise */
    double stroke;     /* emboldening in pixels (outline grows by half of it on each side) */
    double cx, cy;     /* centre of the digit, pixels from the left and from the bottom */
    int neighbour;     /* a digit at the left (-1) or right (+1) edge, or none (0) */
    int neighbour_digit;
    double gap;        /* pixels between the digit and its neighbour */
    double blur;       /* Gaussian sigma in pixels (0: none) */
    float fg[3], bg[3], bg2[3];
    double grad_x, grad_y; /* direction of the background gradient */
    double noise;      /* luminance noise amplitude */
};

static double uniform(gsl_rng *r, double a, double b) { return a + (b - a) * gsl_rng_uniform(r); }

static float luminance(const float c[3]) { return 0.299f * c[0] + 0.587f * c[1] + 0.114f * c[2]; }

/* A colour of random brightness and saturation (grey to fully saturated). */
static void random_colour(gsl_rng *r, float c[3])
{
    float grey = (float)gsl_rng_uniform(r), sat = (float)uniform(r, 0.1, 1);
    for (int i = 0; i < 3; i++) c[i] = grey + sat * ((float)gsl_rng_uniform(r) - grey);
}

static void draw_style(gsl_rng *r, struct style *st)
{
    st->font = (int)gsl_rng_uniform_int(r, N_FONTS);
    st->height = uniform(r, 15, 25);
    st->aspect = uniform(r, 0.8, 1.25);
    st->slant = gsl_rng_uniform(r) < 0.3 ? uniform(r, -0.25, 0.25) : 0;
    st->angle = uniform(r, -15, 15) * M_PI / 180;
    st->stroke = gsl_rng_uniform(r) < 0.25 ? 0 : uniform(r, -0.2, 1.6);
    st->cx = SIDE / 2.0 + uniform(r, -2.5, 2.5);
    st->cy = SIDE / 2.0 + uniform(r, -2.5, 2.5);
    double u = gsl_rng_uniform(r);
    st->neighbour = u < 0.3 ? -1 : u < 0.6 ? 1 : 0;
    st->neighbour_digit = (int)gsl_rng_uniform_int(r, CLASSES);
    st->gap = uniform(r, 0.5, 4);
    st->blur = gsl_rng_uniform(r) < 0.3 ? 0 : uniform(r, 0.3, 1.1);
    do {
        random_colour(r, st->fg);
        random_colour(r, st->bg);
    } while (fabsf(luminance(st->fg) - luminance(st->bg)) < 0.35f);
    for (int c = 0; c < 3; c++) {
        float v = st->bg[c] + (float)uniform(r, -0.15, 0.15);
        st->bg2[c] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
    double a = uniform(r, 0, 2 * M_PI);
    st->grad_x = cos(a), st->grad_y = sin(a);
    st->noise = gsl_rng_uniform(r) < 0.5 ? 0 : uniform(r, 0, 0.06);
}

/* Puts digit d of the style's font, transformed and emboldened, into g->work (26.6 pixels) and
 * returns its exact bounding box. */
static FT_BBox place(struct glyphs *g, const struct style *st, int d)
{
    const FT_Outline *src = &g->digit[st->font][d];
    const FT_BBox *b = &g->box[st->font][d];
    FT_Outline *o = &g->work;
    o->n_points = src->n_points;
    o->n_contours = src->n_contours;
    o->flags = src->flags;
    memcpy(o->points, src->points, (size_t)src->n_points * sizeof *src->points);
    memcpy(o->tags, src->tags, (size_t)src->n_points * sizeof *src->tags);
    memcpy(o->contours, src->contours, (size_t)src->n_contours * sizeof *src->contours);
    /* font units -> 26.6 pixels: scale (with aspect), then slant, then rotate */
    double sy = st->height * 64 / (double)(b->yMax - b->yMin), sx = sy * st->aspect;
    double c = cos(st->angle), s = sin(st->angle);
    /* R · [[1, slant], [0, 1]] · diag(sx, sy) */
    double m00 = c * sx, m01 = (c * st->slant - s) * sy, m10 = s * sx, m11 = (s * st->slant + c) * sy;
    FT_Matrix m = {lround(m00 * 65536), lround(m01 * 65536), lround(m10 * 65536), lround(m11 * 65536)};
    FT_Outline_Transform(o, &m);
    if (st->stroke != 0) FT_Outline_Embolden(o, lround(st->stroke * 64));
    FT_BBox box;
    FT_Outline_Get_BBox(o, &box);
    return box;
}

/* Rasterises g->work, moved by (dx, dy) 26.6 pixels, as coverage into cov (SIDE × SIDE, top row
 * first). */
static void raster(struct glyphs *g, FT_Pos dx, FT_Pos dy, unsigned char *cov)
{
    FT_Outline_Translate(&g->work, dx, dy);
    memset(cov, 0, PIXELS);
    FT_Bitmap bm = {0};
    bm.rows = SIDE;
    bm.width = SIDE;
    bm.pitch = SIDE;
    bm.buffer = cov;
    bm.num_grays = 256;
    bm.pixel_mode = FT_PIXEL_MODE_GRAY;
    FT_Outline_Get_Bitmap(g->lib, &g->work, &bm);
}

/* Separable Gaussian blur of a SIDE × SIDE float image (edges clamped). */
static void blur(float *a, double sigma)
{
    enum { R = 3 };
    float k[2 * R + 1], sum = 0, tmp[PIXELS];
    for (int i = -R; i <= R; i++) sum += k[i + R] = (float)exp(-0.5 * i * i / (sigma * sigma));
    for (int i = 0; i <= 2 * R; i++) k[i] /= sum;
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            float v = 0;
            for (int i = -R; i <= R; i++) {
                int xx = x + i < 0 ? 0 : x + i >= SIDE ? SIDE - 1 : x + i;
                v += k[i + R] * a[y * SIDE + xx];
            }
            tmp[y * SIDE + x] = v;
        }
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            float v = 0;
            for (int i = -R; i <= R; i++) {
                int yy = y + i < 0 ? 0 : y + i >= SIDE ? SIDE - 1 : y + i;
                v += k[i + R] * tmp[yy * SIDE + x];
            }
            a[y * SIDE + x] = v;
        }
}

/* Draws digit d in style st into out (3 × SIDE × SIDE). */
static void draw(struct glyphs *g, gsl_rng *r, const struct style *st, int d, float *out)
{
    unsigned char cov[PIXELS], cov2[PIXELS];
    float alpha[PIXELS];
    FT_BBox b = place(g, st, d);
    FT_Pos dx = lround(st->cx * 64) - (b.xMin + b.xMax) / 2, dy = lround(st->cy * 64) - (b.yMin + b.yMax) / 2;
    raster(g, dx, dy, cov);
    for (int i = 0; i < PIXELS; i++) alpha[i] = cov[i] / 255.0f;
    if (st->neighbour) {
        FT_Pos half = (b.xMax - b.xMin) / 2, gap = lround(st->gap * 64);
        FT_BBox n = place(g, st, st->neighbour_digit);
        FT_Pos half2 = (n.xMax - n.xMin) / 2;
        /* beside the digit, but with at most 40% of its width inside the image */
        FT_Pos ncx = lround(st->cx * 64) + st->neighbour * (half + gap + half2);
        FT_Pos far = SIDE * 64 + half2 / 5; /* centre of a neighbour 40% inside at the right */
        if (st->neighbour > 0 && ncx < far) ncx = far;
        if (st->neighbour < 0 && ncx > SIDE * 64 - far) ncx = SIDE * 64 - far;
        raster(g, ncx - (n.xMin + n.xMax) / 2, lround(st->cy * 64) - (n.yMin + n.yMax) / 2, cov2);
        for (int i = 0; i < PIXELS; i++)
            if (cov2[i] / 255.0f > alpha[i]) alpha[i] = cov2[i] / 255.0f;
    }
    if (st->blur > 0) blur(alpha, st->blur);
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            int i = y * SIDE + x;
            /* background: a linear gradient from bg to bg2 along (grad_x, grad_y) */
            float t = (float)(0.5 + ((x - SIDE / 2.0) * st->grad_x - (y - SIDE / 2.0) * st->grad_y) / SIDE);
            float a = alpha[i];
            float n = st->noise > 0 ? (float)(st->noise * (2 * gsl_rng_uniform(r) - 1)) : 0;
            for (int c = 0; c < 3; c++) {
                float bg = st->bg[c] + t * (st->bg2[c] - st->bg[c]);
                float v = bg + a * (st->fg[c] - bg) + n;
                out[c * PIXELS + i] = v < 0 ? 0 : v > 1 ? 1 : v;
            }
        }
}

ferry_status ferry_load_synthdigits(const char *split, ferry_dataset_t **out)
{
    *out = NULL;
    bool train = strcmp(split, "train") == 0;
    int64_t n = train ? TRAIN_N : TEST_N;
    unsigned long seed = train ? TRAIN_SEED : TEST_SEED;
    struct glyphs g;
    ferry_dataset_t *ds = NULL;
    gsl_rng *r = NULL;
    ferry_status s = glyphs_load(&g);
    if (!s) s = ferry_dataset_alloc("synthdigits", n, 3, SIDE, SIDE, CLASSES, &ds);
    if (!s && !(r = gsl_rng_alloc(gsl_rng_mt19937)))
        s = ferry_error(FERRY_ERR_NOMEM, "synthdigits: out of memory");
    if (!s) {
        /* balanced labels in a seeded order */
        for (int64_t i = 0; i < n; i++) ds->labels[i] = (int32_t)(i % CLASSES);
        gsl_rng_set(r, seed);
        gsl_ran_shuffle(r, ds->labels, (size_t)n, sizeof *ds->labels);
        for (int64_t i = 0; i < n; i++) {
            struct style st;
            gsl_rng_set(r, seed + 1 + (unsigned long)i);
            draw_style(r, &st);
            draw(&g, r, &st, ds->labels[i], ds->images + i * 3 * PIXELS);
        }
    }
    gsl_rng_free(r);
    glyphs_free(&g);
    if (s) {
        ferry_dataset_free(ds);
        return s;
    }
    *out = ds;
    return FERRY_OK;
}
