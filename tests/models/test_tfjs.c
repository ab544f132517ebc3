/* The TF.js layers importer on a small hand-written model: a valid one against a direct NHWC
 * evaluation of the Keras layers in this file, then broken copies, each refused with a message naming
 * the file and the layer or tensor.
 *
 * The model (input 5x5x3):
 *   conv_a  Conv2D 2 filters 3x3 stride 2 "same" (asymmetric TensorFlow padding), bias
 *   relu_a  ReLU max_value 0.5
 *   dw      DepthwiseConv2D 3x3 stride 2 "same", bias             (on the input, a second branch)
 *   cat     Concatenate axis -1                                   (2 + 3 channels)
 *   bn      BatchNormalization eps 1e-3
 *   pool    AveragePooling2D 2x2 stride 1 "same" (padding not counted)
 *   flat    Flatten (3x3x5, Keras' HWC order)
 *   drop    Dropout 0.5
 *   dense_1 Dense 4 softmax                                       (uint8-quantized kernel)
 * The manifest lists the tensors in another order than the layers, over two shards split inside a
 * tensor. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/ferry.h"
#include "ferry/io.h"

/* The weights, in manifest order. */
static float dense_b[4], bn_g[5], bn_b[5], bn_m[5], bn_v[5], conv_k[3 * 3 * 3 * 2], conv_b[2], dw_k[3 * 3 * 3],
    dw_b[3];
static uint8_t dense_q[45 * 4];
static const double q_min = -0.5, q_scale = 1.0 / 255;
static float input[5 * 5 * 3]; /* NHWC */

static uint32_t lcg = 12345;
static float rnd(float lo, float hi)
{
    lcg = lcg * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)(lcg >> 8) / (float)(1u << 24);
}

static void make_weights(void)
{
    lcg = 12345;
    for (int i = 0; i < 45 * 4; i++) dense_q[i] = (uint8_t)rnd(0, 255.99f);
    for (int i = 0; i < 4; i++) dense_b[i] = rnd(-0.2f, 0.2f);
    for (int i = 0; i < 5; i++) {
        bn_g[i] = rnd(0.5f, 1.5f);
        bn_b[i] = rnd(-0.3f, 0.3f);
        bn_m[i] = rnd(-0.2f, 0.2f);
        bn_v[i] = rnd(0.3f, 2.0f);
    }
    for (int i = 0; i < 54; i++) conv_k[i] = rnd(-0.5f, 0.5f);
    for (int i = 0; i < 2; i++) conv_b[i] = rnd(-0.1f, 0.1f);
    for (int i = 0; i < 27; i++) dw_k[i] = rnd(-0.5f, 0.5f);
    for (int i = 0; i < 3; i++) dw_b[i] = rnd(-0.1f, 0.1f);
    for (int i = 0; i < 75; i++) input[i] = rnd(0, 1);
}

/* What a broken copy changes. */
enum fault {
    OK, CYCLE, DANGLING, UNKNOWN_LAYER, SHAPES_SHORT, SHARD_SHORT, SCALE_ZERO, SCALE_NAN_STRING, SCALE_NAN_LITERAL,
    HUGE_SHAPE, KERNEL_SHAPE, UNKNOWN_TENSOR,
};

static void write_model(const char *dir, enum fault f)
{
    char path[256];
    const char *conv_in = f == CYCLE ? "bn" : f == DANGLING ? "no_such_layer" : "input_1";
    const char *dw_class = f == UNKNOWN_LAYER ? "LSTM" : "DepthwiseConv2D";
    const char *bias_shape = f == SHAPES_SHORT ? "[1]" : "[2]";
    const char *scale = f == SCALE_ZERO ? "0" : f == SCALE_NAN_STRING ? "\"NaN\"" : f == SCALE_NAN_LITERAL ? "NaN"
                                                                                                           : NULL;
    char scale_buf[64];
    if (!scale) {
        snprintf(scale_buf, sizeof scale_buf, "%.17g", q_scale);
        scale = scale_buf;
    }
    const char *dense_shape = f == HUGE_SHAPE ? "[1000000, 1000000]" : "[45, 4]";
    const char *conv_shape = f == KERNEL_SHAPE ? "[3, 3, 2, 3]" : "[3, 3, 3, 2]";
    const char *dw_bias_name = f == UNKNOWN_TENSOR ? "dw/gamma" : "dw/bias";
    snprintf(path, sizeof path, "%s/model.json", dir);
    FILE *fp = fopen(path, "w");
    cr_assert_not_null(fp);
    fprintf(fp,
            "{\"format\": \"layers-model\", \"modelTopology\": {\"keras_version\": \"2.2.4\", \"model_config\": "
            "{\"class_name\": \"Model\", \"config\": {\"name\": \"tiny\", \"layers\": ["
            "{\"name\": \"input_1\", \"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": [null, 5, 5, 3],"
            " \"dtype\": \"float32\", \"name\": \"input_1\"}, \"inbound_nodes\": []},"
            "{\"name\": \"conv_a\", \"class_name\": \"Conv2D\", \"config\": {\"name\": \"conv_a\", \"trainable\": false,"
            " \"filters\": 2, \"kernel_size\": [3, 3], \"strides\": [2, 2], \"padding\": \"same\", \"data_format\":"
            " \"channels_last\", \"dilation_rate\": [1, 1], \"activation\": \"linear\", \"use_bias\": true},"
            " \"inbound_nodes\": [[[\"%s\", 0, 0, {}]]]},"
            "{\"name\": \"relu_a\", \"class_name\": \"ReLU\", \"config\": {\"name\": \"relu_a\", \"max_value\": 0.5,"
            " \"negative_slope\": 0, \"threshold\": 0}, \"inbound_nodes\": [[[\"conv_a\", 0, 0, {}]]]},"
            "{\"name\": \"dw\", \"class_name\": \"%s\", \"config\": {\"name\": \"dw\", \"kernel_size\": [3, 3],"
            " \"strides\": [2, 2], \"padding\": \"same\", \"depth_multiplier\": 1, \"data_format\": \"channels_last\","
            " \"activation\": \"linear\", \"use_bias\": true}, \"inbound_nodes\": [[[\"input_1\", 0, 0, {}]]]},"
            "{\"name\": \"cat\", \"class_name\": \"Concatenate\", \"config\": {\"name\": \"cat\", \"axis\": -1},"
            " \"inbound_nodes\": [[[\"relu_a\", 0, 0, {}], [\"dw\", 0, 0, {}]]]},"
            "{\"name\": \"bn\", \"class_name\": \"BatchNormalization\", \"config\": {\"name\": \"bn\", \"axis\": 3,"
            " \"momentum\": 0.99, \"epsilon\": 0.001, \"center\": true, \"scale\": true},"
            " \"inbound_nodes\": [[[\"cat\", 0, 0, {}]]]},"
            "{\"name\": \"pool\", \"class_name\": \"AveragePooling2D\", \"config\": {\"name\": \"pool\","
            " \"pool_size\": [2, 2], \"padding\": \"same\", \"strides\": [1, 1], \"data_format\": \"channels_last\"},"
            " \"inbound_nodes\": [[[\"bn\", 0, 0, {}]]]},"
            "{\"name\": \"flat\", \"class_name\": \"Flatten\", \"config\": {\"name\": \"flat\", \"data_format\":"
            " \"channels_last\"}, \"inbound_nodes\": [[[\"pool\", 0, 0, {}]]]},"
            "{\"name\": \"drop\", \"class_name\": \"Dropout\", \"config\": {\"name\": \"drop\", \"rate\": 0.5},"
            " \"inbound_nodes\": [[[\"flat\", 0, 0, {}]]]},"
            "{\"name\": \"dense_1\", \"class_name\": \"Dense\", \"config\": {\"name\": \"dense_1\", \"units\": 4,"
            " \"activation\": \"softmax\", \"use_bias\": true}, \"inbound_nodes\": [[[\"drop\", 0, 0, {}]]]}],"
            " \"input_layers\": [[\"input_1\", 0, 0]], \"output_layers\": [[\"dense_1\", 0, 0]]}}},"
            " \"weightsManifest\": [{\"paths\": [\"group1-shard1of2.bin\", \"group1-shard2of2.bin\"], \"weights\": ["
            "{\"name\": \"dense_1/kernel\", \"shape\": %s, \"dtype\": \"float32\", \"quantization\":"
            " {\"min\": %.17g, \"scale\": %s, \"dtype\": \"uint8\"}},"
            "{\"name\": \"dense_1/bias\", \"shape\": [4], \"dtype\": \"float32\"},"
            "{\"name\": \"bn/gamma\", \"shape\": [5], \"dtype\": \"float32\"},"
            "{\"name\": \"bn/beta\", \"shape\": [5], \"dtype\": \"float32\"},"
            "{\"name\": \"bn/moving_mean\", \"shape\": [5], \"dtype\": \"float32\"},"
            "{\"name\": \"bn/moving_variance\", \"shape\": [5], \"dtype\": \"float32\"},"
            "{\"name\": \"conv_a/kernel\", \"shape\": %s, \"dtype\": \"float32\"},"
            "{\"name\": \"conv_a/bias\", \"shape\": %s, \"dtype\": \"float32\"},"
            "{\"name\": \"dw/depthwise_kernel\", \"shape\": [3, 3, 3, 1], \"dtype\": \"float32\"},"
            "{\"name\": \"%s\", \"shape\": [3], \"dtype\": \"float32\"}]}]}\n",
            conv_in, dw_class, dense_shape, q_min, scale, conv_shape, bias_shape, dw_bias_name);
    fclose(fp);
    /* The bytes, in manifest order, split over two shards at byte 300. */
    uint8_t bytes[620];
    size_t n = 0;
#define APPEND(p, sz) (memcpy(bytes + n, (p), (sz)), n += (sz))
    APPEND(dense_q, sizeof dense_q);
    APPEND(dense_b, sizeof dense_b);
    APPEND(bn_g, sizeof bn_g);
    APPEND(bn_b, sizeof bn_b);
    APPEND(bn_m, sizeof bn_m);
    APPEND(bn_v, sizeof bn_v);
    APPEND(conv_k, sizeof conv_k);
    APPEND(conv_b, sizeof conv_b);
    APPEND(dw_k, sizeof dw_k);
    APPEND(dw_b, sizeof dw_b);
#undef APPEND
    cr_assert_eq(n, sizeof bytes);
    size_t total = f == SHARD_SHORT ? n - 10 : n;
    snprintf(path, sizeof path, "%s/group1-shard1of2.bin", dir);
    cr_assert_eq(ferry_write_file_atomic(path, bytes, 300), FERRY_OK);
    snprintf(path, sizeof path, "%s/group1-shard2of2.bin", dir);
    cr_assert_eq(ferry_write_file_atomic(path, bytes + 300, total - 300), FERRY_OK);
}

/* The same network evaluated directly in NHWC from the weights above (double precision). */
static void reference(double feat[45], double logits[4])
{
    double a[3][3][5];
    for (int oh = 0; oh < 3; oh++)
        for (int ow = 0; ow < 3; ow++) {
            /* "same", stride 2 on 5: total padding (3-1)·2 + 3 - 5 = 2, one before */
            for (int o = 0; o < 2; o++) {
                double s = conv_b[o];
                for (int i = 0; i < 3; i++)
                    for (int j = 0; j < 3; j++) {
                        int y = oh * 2 + i - 1, x = ow * 2 + j - 1;
                        if (y < 0 || y >= 5 || x < 0 || x >= 5) continue;
                        for (int c = 0; c < 3; c++) s += input[(y * 5 + x) * 3 + c] * conv_k[((i * 3 + j) * 3 + c) * 2 + o];
                    }
                a[oh][ow][o] = s < 0 ? 0 : s > 0.5 ? 0.5 : s;
            }
            for (int c = 0; c < 3; c++) {
                double s = dw_b[c];
                for (int i = 0; i < 3; i++)
                    for (int j = 0; j < 3; j++) {
                        int y = oh * 2 + i - 1, x = ow * 2 + j - 1;
                        if (y < 0 || y >= 5 || x < 0 || x >= 5) continue;
                        s += input[(y * 5 + x) * 3 + c] * dw_k[(i * 3 + j) * 3 + c];
                    }
                a[oh][ow][2 + c] = s;
            }
            for (int c = 0; c < 5; c++)
                a[oh][ow][c] = (a[oh][ow][c] - bn_m[c]) / sqrt(bn_v[c] + 1e-3) * bn_g[c] + bn_b[c];
        }
    /* 2x2 stride 1 "same" on 3: one padding row/column after, not counted */
    for (int oh = 0; oh < 3; oh++)
        for (int ow = 0; ow < 3; ow++)
            for (int c = 0; c < 5; c++) {
                double s = 0;
                int cnt = 0;
                for (int i = 0; i < 2; i++)
                    for (int j = 0; j < 2; j++)
                        if (oh + i < 3 && ow + j < 3) {
                            s += a[oh + i][ow + j][c];
                            cnt++;
                        }
                feat[(oh * 3 + ow) * 5 + c] = s / cnt;
            }
    for (int o = 0; o < 4; o++) {
        double s = dense_b[o];
        for (int i = 0; i < 45; i++) s += feat[i] * (q_min + q_scale * dense_q[i * 4 + o]);
        logits[o] = s;
    }
}

static char dir[64];

static void setup_dir(void)
{
    make_weights();
    snprintf(dir, sizeof dir, "/tmp/ferry-tfjs-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void cleanup_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) cr_log_warn("could not remove %s", dir);
}

TestSuite(tfjs, .init = setup_dir, .fini = cleanup_dir);

/* Creates "tfjs:DIR/model.json" with `classes`; returns the status (the model in *out when OK). */
static ferry_status create_on(const char *device, int classes, ferry_backend_t **be, ferry_store_t **st,
                              ferry_model_t **out)
{
    char arch[128];
    snprintf(arch, sizeof arch, "tfjs:%s/model.json", dir);
    ferry_rng_t *rng;
    ferry_status bs = ferry_backend_init_device(device, 1, be);
    const char *req = getenv("FERRY_REQUIRE_VULKAN");
    if (bs == FERRY_ERR_UNSUPPORTED && strncmp(device, "vulkan", 6) == 0 && !(req && strcmp(req, "1") == 0))
        cr_skip_test("no Vulkan: %s", ferry_last_error());
    cr_assert_eq(bs, FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_store_init(*be, st), FERRY_OK);
    cr_assert_eq(ferry_rng_init(3, &rng), FERRY_OK);
    ferry_status s = ferry_model_init(arch, 1, 28, 28, classes, *st, rng, out);
    ferry_rng_free(rng);
    return s;
}

static ferry_status create(int classes, ferry_backend_t **be, ferry_store_t **st, ferry_model_t **out)
{
    return create_on("cpu", classes, be, st, out);
}

static void release(ferry_backend_t *be, ferry_store_t *st, ferry_model_t *m)
{
    ferry_model_free(m);
    ferry_store_free(st);
    ferry_backend_free(be);
}

static void tiny_model_on(const char *device)
{
    write_model(dir, OK);
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_model_t *m;
    cr_assert_eq(create_on(device, 4, &be, &st, &m), FERRY_OK, "%s", ferry_last_error());
    int c, h, w;
    ferry_model_input(m, &c, &h, &w);
    cr_expect(c == 3 && h == 5 && w == 5, "input %dx%dx%d, the file declares 5x5x3", c, h, w);
    cr_expect_eq(ferry_model_feature_dim(m), 45);
    cr_expect(ferry_model_is_backbone(m, "conv_a.weight") && ferry_model_is_backbone(m, "bn.running_var"));
    cr_expect(!ferry_model_is_backbone(m, "dense_1.weight") && !ferry_model_is_backbone(m, "dense_1.bias"));
    /* Keras' trainable: false is information only: every weight is trainable. */
    cr_expect(ferry_store_trainable(st, ferry_store_find(st, "conv_a.weight")));
    /* Two images: the input (NHWC above, NCHW here) and its mirror image. */
    float x[2 * 75];
    for (int k = 0; k < 2; k++)
        for (int ch = 0; ch < 3; ch++)
            for (int y = 0; y < 5; y++)
                for (int xx = 0; xx < 5; xx++)
                    x[k * 75 + ch * 25 + y * 5 + xx] = input[(y * 5 + (k ? 4 - xx : xx)) * 3 + ch];
    float feat[2 * 45], logits[2 * 4];
    cr_assert_eq(ferry_model_infer(m, be, x, 2, 2, feat, logits), FERRY_OK, "%s", ferry_last_error());
    double rf[45], rl[4], worst = 0;
    reference(rf, rl);
    for (int i = 0; i < 45; i++) worst = fmax(worst, fabs(feat[i] - rf[i]));
    for (int o = 0; o < 4; o++) worst = fmax(worst, fabs(logits[o] - rl[o]));
    cr_log_info("tiny model on %s: max |d| %.3g against the direct evaluation", device, worst);
    cr_expect(worst < 1e-5, "Ferry's import differs from the direct evaluation by %g", worst);
    /* The mirror image gives other values (so the comparison above is not of a constant). */
    double other = 0;
    for (int o = 0; o < 4; o++) other = fmax(other, fabs(logits[4 + o] - logits[o]));
    cr_expect(other > 1e-3);
    release(be, st, m);
}

Test(tfjs, tiny_model_matches_a_direct_evaluation) { tiny_model_on("cpu"); }
Test(tfjs, tiny_model_on_vulkan) { tiny_model_on("vulkan:0"); } /* lavapipe included */

Test(tfjs, another_class_count_draws_a_new_classifier)
{
    write_model(dir, OK);
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_model_t *m;
    cr_assert_eq(create(7, &be, &st, &m), FERRY_OK, "%s", ferry_last_error());
    int i = ferry_store_find(st, "dense_1.weight");
    cr_assert_geq(i, 0);
    cr_expect(ferry_store_shape(st, i)[0] == 7 && ferry_store_shape(st, i)[1] == 45);
    cr_expect_eq(ferry_model_classes(m), 7);
    /* The backbone is still the file's. */
    float v[5];
    cr_assert_eq(ferry_store_get(st, ferry_store_find(st, "bn.running_mean"), v, sizeof v), FERRY_OK);
    cr_expect_eq(memcmp(v, bn_m, sizeof v), 0);
    release(be, st, m);
}

Test(tfjs, fixed_size_refuses_another_input)
{
    write_model(dir, OK);
    char arch[128];
    snprintf(arch, sizeof arch, "tfjs:%s/model.json", dir);
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_rng_t *rng;
    ferry_model_t *m = NULL;
    cr_assert_eq(ferry_backend_init_device("cpu", 1, &be), FERRY_OK);
    cr_assert_eq(ferry_store_init(be, &st), FERRY_OK);
    cr_assert_eq(ferry_rng_init(3, &rng), FERRY_OK);
    ferry_model_opts o = {.input_size = 7};
    cr_expect_neq(ferry_model_init_ex(arch, 3, 7, 7, 4, &o, st, rng, &m), FERRY_OK);
    cr_expect_null(m);
    cr_expect(strstr(ferry_last_error(), "5x5 input only"), "%s", ferry_last_error());
    ferry_rng_free(rng);
    release(be, st, NULL);
}

/* A broken copy is refused with a message naming the file and `what` (a layer or tensor, or text). */
static void refused(enum fault f, const char *what)
{
    write_model(dir, f);
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_model_t *m = NULL;
    ferry_status s = create(4, &be, &st, &m);
    const char *msg = ferry_last_error();
    cr_log_info("refused: %s", msg);
    cr_expect_neq(s, FERRY_OK, "a broken model (fault %d) was accepted", (int)f);
    cr_expect_null(m);
    cr_expect(strstr(msg, dir) && strstr(msg, "model.json"), "the message does not name the file: %s", msg);
    cr_expect(strstr(msg, what), "the message does not say '%s': %s", what, msg);
    release(be, st, m);
}

Test(tfjs, refuses_a_cycle) { refused(CYCLE, "cycle"); }
Test(tfjs, refuses_a_dangling_inbound_node) { refused(DANGLING, "no_such_layer"); }
Test(tfjs, refuses_an_unknown_layer) { refused(UNKNOWN_LAYER, "'dw' has the unsupported type LSTM"); }
Test(tfjs, refuses_shapes_that_do_not_add_up) { refused(SHAPES_SHORT, "add up to 616 bytes but the shards hold 620"); }
Test(tfjs, refuses_a_short_shard) { refused(SHARD_SHORT, "'dw/bias'"); }
Test(tfjs, refuses_a_zero_scale) { refused(SCALE_ZERO, "'dense_1/kernel': quantization scale 0"); }
Test(tfjs, refuses_a_nan_scale) { refused(SCALE_NAN_STRING, "'dense_1/kernel': quantization scale nan"); }
Test(tfjs, refuses_a_nan_literal) { refused(SCALE_NAN_LITERAL, "not JSON"); }
Test(tfjs, refuses_a_huge_shape) { refused(HUGE_SHAPE, "'dense_1/kernel'"); }
Test(tfjs, refuses_a_kernel_of_another_shape) { refused(KERNEL_SHAPE, "'conv_a/kernel' has shape 3x3x2x3"); }
Test(tfjs, refuses_an_unknown_tensor) { refused(UNKNOWN_TENSOR, "'dw/gamma' is not a weight of layer 'dw'"); }

Test(tfjs, missing_file_is_not_found)
{
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_model_t *m = NULL;
    cr_expect_eq(create(4, &be, &st, &m), FERRY_ERR_NOT_FOUND);
    cr_expect(strstr(ferry_last_error(), dir), "%s", ferry_last_error());
    release(be, st, m);
}

/* The registered models: missing from the cache -> the fetch script named; corrupted -> checksum. */
Test(tfjs, nsfwjs_missing_or_corrupted_in_the_cache)
{
    char *old = getenv("FERRY_DATA") ? strdup(getenv("FERRY_DATA")) : NULL;
    setenv("FERRY_DATA", dir, 1);
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_rng_t *rng;
    ferry_model_t *m = NULL;
    cr_assert_eq(ferry_backend_init_device("cpu", 1, &be), FERRY_OK);
    cr_assert_eq(ferry_store_init(be, &st), FERRY_OK);
    cr_assert_eq(ferry_rng_init(3, &rng), FERRY_OK);
    cr_expect_eq(ferry_model_init("mobilenet_v2@nsfwjs", 3, 32, 32, 5, st, rng, &m), FERRY_ERR_NOT_FOUND);
    cr_expect(strstr(ferry_last_error(), "scripts/fetch-data.sh"), "%s", ferry_last_error());
    char path[256];
    snprintf(path, sizeof path, "mkdir -p %s/models/nsfwjs/mobilenet_v2 && echo '{}' > %s/models/nsfwjs/mobilenet_v2/model.json",
             dir, dir);
    cr_assert_eq(system(path), 0);
    cr_expect_eq(ferry_model_init("mobilenet_v2@nsfwjs", 3, 32, 32, 5, st, rng, &m), FERRY_ERR_CHECKSUM);
    cr_expect(strstr(ferry_last_error(), "model.json"), "%s", ferry_last_error());
    cr_expect_null(m);
    if (old) setenv("FERRY_DATA", old, 1);
    else unsetenv("FERRY_DATA");
    free(old);
    ferry_rng_free(rng);
    release(be, st, NULL);
}

/* The imported model trains (gradients through the concatenation, batch norm, pooling and Keras-order
 * Flatten), then saves and reloads into a fresh import bit for bit. */
Test(tfjs, trains_saves_and_reloads)
{
    write_model(dir, OK);
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_model_t *m;
    cr_assert_eq(create(4, &be, &st, &m), FERRY_OK, "%s", ferry_last_error());
    float before[54];
    cr_assert_eq(ferry_store_get(st, ferry_store_find(st, "conv_a.weight"), before, sizeof before), FERRY_OK);
    ferry_ctx_t *ctx;
    cr_assert_eq(ferry_ctx_init(&ctx), FERRY_OK);
    ferry_tensor_t *x = ferry_input(ctx, "x", FERRY_F32, 4, (int64_t[]){4, 3, 5, 5});
    ferry_tensor_t *y = ferry_input(ctx, "y", FERRY_I32, 1, (int64_t[]){4});
    ferry_tensor_t *seed = ferry_input(ctx, "seed", FERRY_I32, 1, (int64_t[]){1});
    ferry_forward_opts fo = {.train = true, .seed = seed};
    ferry_tensor_t *loss = ferry_cross_entropy(ctx, ferry_model_classifier(m, ctx, ferry_model_features(m, ctx, x, &fo), &fo),
                                               y, 0.0f);
    cr_assert_not_null(loss, "%s", ferry_last_error());
    ferry_tensor_set_output(loss);
    ferry_optim_config oc = ferry_optim_defaults(FERRY_ADAM);
    ferry_optim_t *opt;
    ferry_graph_t *g;
    cr_assert_eq(ferry_backward(ctx, loss), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_optim_init(&oc, st, &opt), FERRY_OK);
    cr_assert_eq(ferry_optim_record(opt, ctx), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_graph_init(ctx, be, &g), FERRY_OK, "%s", ferry_last_error());
    float xv[4 * 75];
    int32_t yv[4] = {0, 1, 2, 3};
    for (int i = 0; i < 4 * 75; i++) xv[i] = rnd(0, 1);
    ferry_tensor_set(g, x, xv, sizeof xv);
    ferry_tensor_set(g, y, yv, sizeof yv);
    float first = 0, last = 0;
    for (int s = 0; s < 40; s++) {
        int32_t sd = s;
        if (ferry_graph_uses(g, seed)) ferry_tensor_set(g, seed, &sd, sizeof sd);
        cr_assert_eq(ferry_optim_prepare_step(opt, g, s / 40.0), FERRY_OK);
        cr_assert_eq(ferry_graph_compute(g), FERRY_OK, "%s", ferry_last_error());
        last = ferry_tensor_get_scalar(g, loss);
        if (s == 0) first = last;
    }
    cr_log_info("tiny model training: loss %.4f -> %.4f", first, last);
    cr_expect(last < first * 0.7f, "loss %g -> %g", first, last);
    float after[54];
    cr_assert_eq(ferry_store_get(st, ferry_store_find(st, "conv_a.weight"), after, sizeof after), FERRY_OK);
    cr_expect_neq(memcmp(before, after, sizeof after), 0, "the backbone's first convolution did not train");
    ferry_graph_free(g);
    ferry_optim_free(opt);
    ferry_ctx_free(ctx);

    char path[128];
    snprintf(path, sizeof path, "%s/tuned.safetensors", dir);
    cr_assert_eq(ferry_store_save(st, path, false), FERRY_OK, "%s", ferry_last_error());
    float l1[4 * 4], l2[4 * 4];
    cr_assert_eq(ferry_model_infer(m, be, xv, 4, 4, NULL, l1), FERRY_OK, "%s", ferry_last_error());
    ferry_backend_t *be2;
    ferry_store_t *st2;
    ferry_model_t *m2;
    cr_assert_eq(create(4, &be2, &st2, &m2), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_model_load_weights(m2, path, false), FERRY_OK, "%s", ferry_last_error());
    cr_assert_eq(ferry_model_infer(m2, be2, xv, 4, 4, NULL, l2), FERRY_OK, "%s", ferry_last_error());
    cr_expect_eq(memcmp(l1, l2, sizeof l1), 0, "the reloaded model gives other logits");
    release(be2, st2, m2);
    release(be, st, m);
}

/* ---- a second model: the other layer types --------------------------------------------------------
 *   zp    ZeroPadding2D ((0,1),(0,1))                       6x6x3 -> 7x7x3
 *   sep   SeparableConv2D 4 filters 3x3 stride 2 valid, depth_multiplier 2, bias, swish
 *   mp    MaxPooling2D 2x2 stride 1 "same"
 *   gap   GlobalAveragePooling2D -> se Dense 4 sigmoid -> se_r Reshape (1, 1, 4)
 *   mul   Multiply [mp, se_r] (a squeeze-and-excitation gate);  add  Add [mul, mp]
 *   act   Activation tanh -> gap2 GlobalAveragePooling2D -> out Dense 3 softmax */
static float b_dk[3 * 3 * 3 * 2], b_pk[6 * 4], b_sb[4], b_sek[16], b_seb[4], b_ok[12], b_ob[3], b_in[6 * 6 * 3];

static void write_model_b(const char *d)
{
    lcg = 777;
    float *all[] = {b_dk, b_pk, b_sb, b_sek, b_seb, b_ok, b_ob, b_in};
    size_t sizes[] = {54, 24, 4, 16, 4, 12, 3, 108};
    for (int k = 0; k < 8; k++)
        for (size_t i = 0; i < sizes[k]; i++) all[k][i] = k == 7 ? rnd(0, 1) : rnd(-0.6f, 0.6f);
    char path[256];
    snprintf(path, sizeof path, "%s/model.json", d);
    FILE *fp = fopen(path, "w");
    cr_assert_not_null(fp);
    fputs("{\"modelTopology\": {\"class_name\": \"Functional\", \"config\": {\"name\": \"b\", \"layers\": ["
          "{\"name\": \"in\", \"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": [null, 6, 6, 3]},"
          " \"inbound_nodes\": []},"
          "{\"name\": \"zp\", \"class_name\": \"ZeroPadding2D\", \"config\": {\"padding\": [[0, 1], [0, 1]]},"
          " \"inbound_nodes\": [[[\"in\", 0, 0, {}]]]},"
          "{\"name\": \"sep\", \"class_name\": \"SeparableConv2D\", \"config\": {\"filters\": 4, \"kernel_size\": 3,"
          " \"strides\": 2, \"padding\": \"valid\", \"depth_multiplier\": 2, \"activation\": \"swish\", \"use_bias\": true},"
          " \"inbound_nodes\": [[[\"zp\", 0, 0, {}]]]},"
          "{\"name\": \"mp\", \"class_name\": \"MaxPooling2D\", \"config\": {\"pool_size\": [2, 2], \"strides\": [1, 1],"
          " \"padding\": \"same\"}, \"inbound_nodes\": [[[\"sep\", 0, 0, {}]]]},"
          "{\"name\": \"gap\", \"class_name\": \"GlobalAveragePooling2D\", \"config\": {},"
          " \"inbound_nodes\": [[[\"mp\", 0, 0, {}]]]},"
          "{\"name\": \"se\", \"class_name\": \"Dense\", \"config\": {\"units\": 4, \"activation\": \"sigmoid\"},"
          " \"inbound_nodes\": [[[\"gap\", 0, 0, {}]]]},"
          "{\"name\": \"se_r\", \"class_name\": \"Reshape\", \"config\": {\"target_shape\": [1, 1, 4]},"
          " \"inbound_nodes\": [[[\"se\", 0, 0, {}]]]},"
          "{\"name\": \"mul\", \"class_name\": \"Multiply\", \"config\": {},"
          " \"inbound_nodes\": [[[\"mp\", 0, 0, {}], [\"se_r\", 0, 0, {}]]]},"
          "{\"name\": \"add\", \"class_name\": \"Add\", \"config\": {},"
          " \"inbound_nodes\": [[[\"mul\", 0, 0, {}], [\"mp\", 0, 0, {}]]]},"
          "{\"name\": \"act\", \"class_name\": \"Activation\", \"config\": {\"activation\": \"tanh\"},"
          " \"inbound_nodes\": [[[\"add\", 0, 0, {}]]]},"
          "{\"name\": \"gap2\", \"class_name\": \"GlobalAveragePooling2D\", \"config\": {},"
          " \"inbound_nodes\": [[[\"act\", 0, 0, {}]]]},"
          "{\"name\": \"out\", \"class_name\": \"Dense\", \"config\": {\"units\": 3, \"activation\": \"softmax\"},"
          " \"inbound_nodes\": [[[\"gap2\", 0, 0, {}]]]}],"
          " \"input_layers\": [[\"in\", 0, 0]], \"output_layers\": [[\"out\", 0, 0]]}},"
          " \"weightsManifest\": [{\"paths\": [\"w.bin\"], \"weights\": ["
          "{\"name\": \"sep/depthwise_kernel\", \"shape\": [3, 3, 3, 2], \"dtype\": \"float32\"},"
          "{\"name\": \"sep/pointwise_kernel\", \"shape\": [1, 1, 6, 4], \"dtype\": \"float32\"},"
          "{\"name\": \"sep/bias\", \"shape\": [4], \"dtype\": \"float32\"},"
          "{\"name\": \"se/kernel\", \"shape\": [4, 4], \"dtype\": \"float32\"},"
          "{\"name\": \"se/bias\", \"shape\": [4], \"dtype\": \"float32\"},"
          "{\"name\": \"out/kernel\", \"shape\": [4, 3], \"dtype\": \"float32\"},"
          "{\"name\": \"out/bias\", \"shape\": [3], \"dtype\": \"float32\"}]}]}\n",
          fp);
    fclose(fp);
    float bytes[54 + 24 + 4 + 16 + 4 + 12 + 3];
    size_t n = 0;
    for (int k = 0; k < 7; k++) {
        memcpy(bytes + n, all[k], sizes[k] * sizeof(float));
        n += sizes[k];
    }
    snprintf(path, sizeof path, "%s/w.bin", d);
    cr_assert_eq(ferry_write_file_atomic(path, bytes, sizeof bytes), FERRY_OK);
}

static double sigm(double v) { return 1 / (1 + exp(-v)); }

static void reference_b(double feat[4], double logits[3])
{
    double p[3][3][4], mp[3][3][4], gap[4] = {0}, se[4], f[4] = {0};
    for (int oh = 0; oh < 3; oh++)
        for (int ow = 0; ow < 3; ow++) {
            double dwv[6];
            for (int c = 0; c < 3; c++)
                for (int j = 0; j < 2; j++) {
                    double s = 0;
                    for (int i = 0; i < 3; i++)
                        for (int k = 0; k < 3; k++) {
                            int y = oh * 2 + i, x = ow * 2 + k; /* padded 7x7: row/column 6 is zero */
                            if (y < 6 && x < 6) s += b_in[(y * 6 + x) * 3 + c] * b_dk[((i * 3 + k) * 3 + c) * 2 + j];
                        }
                    dwv[c * 2 + j] = s;
                }
            for (int o = 0; o < 4; o++) {
                double s = b_sb[o];
                for (int q = 0; q < 6; q++) s += dwv[q] * b_pk[q * 4 + o];
                p[oh][ow][o] = s * sigm(s);
            }
        }
    for (int oh = 0; oh < 3; oh++)
        for (int ow = 0; ow < 3; ow++)
            for (int c = 0; c < 4; c++) {
                double m = -INFINITY;
                for (int i = 0; i < 2; i++)
                    for (int j = 0; j < 2; j++)
                        if (oh + i < 3 && ow + j < 3) m = fmax(m, p[oh + i][ow + j][c]);
                mp[oh][ow][c] = m;
                gap[c] += m / 9;
            }
    for (int o = 0; o < 4; o++) {
        double s = b_seb[o];
        for (int i = 0; i < 4; i++) s += gap[i] * b_sek[i * 4 + o];
        se[o] = sigm(s);
    }
    for (int oh = 0; oh < 3; oh++)
        for (int ow = 0; ow < 3; ow++)
            for (int c = 0; c < 4; c++) f[c] += tanh(mp[oh][ow][c] * se[c] + mp[oh][ow][c]) / 9;
    for (int c = 0; c < 4; c++) feat[c] = f[c];
    for (int o = 0; o < 3; o++) {
        double s = b_ob[o];
        for (int i = 0; i < 4; i++) s += f[i] * b_ok[i * 3 + o];
        logits[o] = s;
    }
}

Test(tfjs, second_model_matches_a_direct_evaluation)
{
    write_model_b(dir);
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_model_t *m;
    cr_assert_eq(create(3, &be, &st, &m), FERRY_OK, "%s", ferry_last_error());
    cr_expect_eq(ferry_model_feature_dim(m), 4);
    cr_expect(ferry_model_is_backbone(m, "se.weight") && !ferry_model_is_backbone(m, "out.weight"));
    cr_expect_geq(ferry_store_find(st, "sep.depthwise.weight"), 0);
    cr_expect_geq(ferry_store_find(st, "sep.pointwise.bias"), 0);
    float x[108], feat[4], logits[3];
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 36; p++) x[c * 36 + p] = b_in[p * 3 + c];
    cr_assert_eq(ferry_model_infer(m, be, x, 1, 1, feat, logits), FERRY_OK, "%s", ferry_last_error());
    double rf[4], rl[3], worst = 0;
    reference_b(rf, rl);
    for (int i = 0; i < 4; i++) worst = fmax(worst, fabs(feat[i] - rf[i]));
    for (int i = 0; i < 3; i++) worst = fmax(worst, fabs(logits[i] - rl[i]));
    cr_log_info("second model: max |d| %.3g against the direct evaluation", worst);
    cr_expect(worst < 1e-5, "Ferry's import differs from the direct evaluation by %g", worst);
    release(be, st, m);
}

/* A small model (input HxWx1, conv `conv` 2 filters with `conv_cfg`, Flatten, Dense 3) with its
 * weights in one shard; for the refusals below (found by fuzzing the importer). */
static void write_small(const char *hw, const char *conv_cfg)
{
    char path[256];
    snprintf(path, sizeof path, "%s/model.json", dir);
    FILE *fp = fopen(path, "w");
    cr_assert_not_null(fp);
    fprintf(fp,
            "{\"format\": \"layers-model\", \"modelTopology\": {\"model_config\": {\"class_name\": \"Model\", \"config\": "
            "{\"layers\": [{\"name\": \"input_1\", \"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": "
            "[null, %s, 1]}, \"inbound_nodes\": []}, {\"name\": \"conv\", \"class_name\": \"Conv2D\", \"config\": "
            "{\"filters\": 2, %s, \"use_bias\": false}, \"inbound_nodes\": [[[\"input_1\", 0, 0, {}]]]}, {\"name\": \"flat\", "
            "\"class_name\": \"Flatten\", \"config\": {}, \"inbound_nodes\": [[[\"conv\", 0, 0, {}]]]}, {\"name\": \"dense\", "
            "\"class_name\": \"Dense\", \"config\": {\"units\": 3, \"use_bias\": false}, \"inbound_nodes\": [[[\"flat\", 0, 0, "
            "{}]]]}], \"input_layers\": [[\"input_1\", 0, 0]], \"output_layers\": [[\"dense\", 0, 0]]}}}, \"weightsManifest\": "
            "[{\"paths\": [\"w.bin\"], \"weights\": [{\"name\": \"conv/kernel\", \"shape\": [1, 1, 1, 2], \"dtype\": \"float32\"}, "
            "{\"name\": \"dense/kernel\", \"shape\": [8, 3], \"dtype\": \"float32\"}]}]}\n",
            hw, conv_cfg);
    fclose(fp);
    float w[2 + 24] = {0.5f, -0.5f};
    snprintf(path, sizeof path, "%s/w.bin", dir);
    cr_assert_eq(ferry_write_file_atomic(path, w, sizeof w), FERRY_OK);
}

static void small_refused(const char *hw, const char *conv_cfg, int classes, const char *what)
{
    write_small(hw, conv_cfg);
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_model_t *m = NULL;
    ferry_status s = create(classes, &be, &st, &m);
    const char *msg = ferry_last_error();
    cr_expect_neq(s, FERRY_OK, "accepted: %s / %s", hw, conv_cfg);
    cr_expect_null(m);
    cr_expect(strstr(msg, dir) && strstr(msg, "model.json"), "the message does not name the file: %s", msg);
    cr_expect(strstr(msg, what), "the message does not say '%s': %s", what, msg);
    release(be, st, m);
}

Test(tfjs, small_model_loads)
{
    write_small("2, 2", "\"kernel_size\": 1");
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_model_t *m = NULL;
    cr_assert_eq(create(3, &be, &st, &m), FERRY_OK, "%s", ferry_last_error());
    cr_expect_eq(ferry_model_feature_dim(m), 8);
    release(be, st, m);
}

/* A dilated kernel's extent overflowed an int while the importer worked out the map sizes. */
Test(tfjs, refuses_a_dilated_kernel_beyond_65536)
{
    small_refused("4, 4", "\"kernel_size\": [40000, 3], \"dilation_rate\": [65536, 1]", 3,
                  "layer 'conv': kernel 40000x3 dilated 65536x1 spans more than 65536 pixels");
}

/* A Flatten of a 65536x65536 map: its size overflowed an int, and a classifier drawn afresh over its
 * 8.6e9 features would have asked for 137 GB. */
Test(tfjs, refuses_a_classifier_over_too_many_features)
{
    small_refused("65536, 65536", "\"kernel_size\": 1", 4, "layer 'dense' (Dense) on 8589934592 features");
}

/* Sizes are checked as the file gives them, before they are narrowed to int (4294967299 passed as 3),
 * and a Reshape's sizes may not multiply past 2^31 (three of 2^30 overflowed). */
Test(tfjs, refuses_sizes_beyond_int_and_reshapes_beyond_2_31)
{
    small_refused("4, 4", "\"kernel_size\": [4294967299, 1]", 3, "layer 'conv': 'kernel_size' (4294967299, 1) out of range");
    small_refused("4, 4", "\"kernel_size\": 1, \"strides\": -4294967295", 3, "'strides' (-4294967295, -4294967295) out of range");
    char path[256];
    write_small("2, 2", "\"kernel_size\": 1");
    snprintf(path, sizeof path, "cd '%s' && sed -i 's/\"class_name\": \"Flatten\", \"config\": {}/\"class_name\": \"Reshape\", "
             "\"config\": {\"target_shape\": [1073741824, 1073741824, 1073741824]}/' model.json", dir);
    cr_assert_eq(system(path), 0);
    ferry_backend_t *be;
    ferry_store_t *st;
    ferry_model_t *m = NULL;
    cr_expect_neq(create(3, &be, &st, &m), FERRY_OK);
    cr_expect(strstr(ferry_last_error(), "model.json") && strstr(ferry_last_error(), "layer 'flat': bad target_shape"), "%s",
              ferry_last_error());
    release(be, st, m);
}
