// The reference for tests/models/test_nsfwjs.c: nsfwjs' two models on TF.js's pure-JavaScript CPU
// backend (npm @tensorflow/tfjs, as scripts/fetch-models.sh installs it into the cache), run on the
// inputs Ferry prepared (FERRY_NSFWJS_DUMP=DIR test_nsfwjs writes DIR/NAME.f32, [N, 3, S, S] floats,
// and DIR/NAME.json). Prints the reference JSON:
//
//   node tests/models/nsfwjs_ref.js DIR > tests/models/nsfwjs_ref.json
//
// The models are loaded from the same model.json + shards Ferry imports, through tf.io.fromMemory.
'use strict';
const fs = require('fs');
const path = require('path');
const os = require('os');

const cache = process.env.FERRY_DATA ||
    (process.env.XDG_CACHE_HOME ? path.join(process.env.XDG_CACHE_HOME, 'ferry') : path.join(os.homedir(), '.cache', 'ferry'));
const tf = require(path.join(cache, 'node', 'node_modules', '@tensorflow', 'tfjs'));

async function run(dir, key) {
    const meta = JSON.parse(fs.readFileSync(path.join(dir, `${key}.json`), 'utf8'));
    const [n, c, h, w] = meta.shape;
    const raw = fs.readFileSync(path.join(dir, `${key}.f32`));
    const nchw = new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4);
    if (nchw.length !== n * c * h * w) throw new Error(`${key}.f32: ${nchw.length} floats, not ${n}x${c}x${h}x${w}`);
    const json = JSON.parse(fs.readFileSync(path.join(meta.model, 'model.json'), 'utf8'));
    const group = json.weightsManifest[0];
    const weightData = Buffer.concat(group.paths.map((p) => fs.readFileSync(path.join(meta.model, p))));
    const model = await tf.loadLayersModel(tf.io.fromMemory({
        modelTopology: json.modelTopology,
        weightSpecs: group.weights,
        weightData: weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.length),
    }));
    const probabilities = [];
    const img = c * h * w;
    for (let i = 0; i < n; i++) {
        const nhwc = new Float32Array(img);
        for (let ch = 0; ch < c; ch++)
            for (let p = 0; p < h * w; p++) nhwc[p * c + ch] = nchw[i * img + ch * h * w + p];
        const x = tf.tensor4d(nhwc, [1, h, w, c]);
        const y = model.predict(x);
        const p = Array.from(await y.data()).map((v) => Number(v.toPrecision(9)));
        tf.dispose([x, y]);
        probabilities.push([meta.photos[i][0], p]);
        process.stderr.write(`${key} ${meta.photos[i][0]}: ${p.map((v) => v.toFixed(6)).join(' ')}\n`);
    }
    return { arch: meta.arch, input_shape: meta.shape, input_sha256: meta.input_sha256, photos: meta.photos, probabilities };
}

// One line per photograph, so a regenerated file diffs by photograph.
function format(out) {
    const j = JSON.stringify;
    const models = Object.keys(out).filter((k) => k !== 'comment').map((k) => {
        const m = out[k];
        return ` ${j(k)}: {\n  "arch": ${j(m.arch)},\n  "input_shape": ${j(m.input_shape).replace(/,/g, ', ')},\n` +
            `  "input_sha256": ${j(m.input_sha256)},\n` +
            `  "photos": [\n${m.photos.map((p) => '   ' + j(p).replace(/,/g, ', ')).join(',\n')}\n  ],\n` +
            `  "probabilities": [\n${m.probabilities.map((p) => '   ' + j(p).replace(/,/g, ', ')).join(',\n')}\n  ]\n }`;
    });
    return `{\n "comment": ${j(out.comment)},\n${models.join(',\n')}\n}\n`;
}

(async () => {
    const dir = process.argv[2];
    if (!dir) throw new Error('usage: node tests/models/nsfwjs_ref.js DIR');
    await tf.setBackend('cpu');
    const out = {
        comment: 'nsfwjs 4.4.0 on @tensorflow/tfjs ' + tf.version.tfjs + ' (' + tf.getBackend() + ' backend, node ' +
            process.version + '): softmax probabilities on the inputs Ferry prepared; regenerate as ' +
            'tests/models/test_nsfwjs.c says',
    };
    for (const key of ['mobilenet_v2', 'inception_v3']) out[key] = await run(dir, key);
    process.stdout.write(format(out));
})().catch((e) => {
    process.stderr.write(`nsfwjs_ref.js: ${e.stack || e}\n`);
    process.exit(1);
});
