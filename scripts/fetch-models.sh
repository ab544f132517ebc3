#!/usr/bin/env bash
# Fetches the pretrained models Ferry imports, the photographs their test runs and the JavaScript
# runtime that made the test's reference, into the cache directory, and checks their SHA-256s.
#
#   scripts/fetch-models.sh [all | nsfwjs | photos | tfjs ...]          (default: all)
#
# Cache: $FERRY_DATA, else $XDG_CACHE_HOME/ferry, else $HOME/.cache/ferry (as scripts/fetch-data.sh).
#   nsfwjs : npm package nsfwjs@4.4.0 (npm checks the registry's integrity hash). Its two TF.js layers
#            models ship as JavaScript modules: node require()s dist/models/NAME/model.min.js
#            ({modelTopology, weightsManifest}) and each group1-shardKofN.min.js (a base64 string),
#            and they are written as a standard TF.js model: $CACHE/models/nsfwjs/NAME/model.json
#            (shard paths renamed to group1-shardKofN.bin) and the decoded binary shards.
#            NAME: inception_v3, mobilenet_v2 (mobilenet_v2_mid is a graph model: not taken).
#   photos : 21 colour photographs from Debian packages (apt-get download + dpkg -x; not installed):
#            mate-backgrounds (12, nature/), python3-skimage (8), python-matplotlib-data (1)
#            -> $CACHE/photos/
#   tfjs   : npm @tensorflow/tfjs@4.22.0 (pure JavaScript) -> $CACHE/node/node_modules: the reference
#            runtime of tests/models/nsfwjs_ref.js (only needed to regenerate tests/models/nsfwjs_ref.json)
# Idempotent and offline once everything is cached. The model checksums are also in the loader's
# manifest (core/src/nn/tfjs.c), which verifies them on every load.
set -euo pipefail

# shellcheck source=fetch-data.sh
source "$(dirname "${BASH_SOURCE[0]}")/fetch-data.sh"
say() { printf 'fetch-models: %s\n' "$*"; }
die() { printf 'fetch-models: error: %s\n' "$*" >&2; exit 1; }

NSFWJS_VERSION=4.4.0
TFJS_VERSION=4.22.0

INCEPTION_SUMS='7a3a4c075cfcaa7f0b095f55b2ba54a288c2f770e504c8537394efda9545994b  group1-shard1of6.bin
8826da12bda0db9415aef0e6a8d1f178a0d950deab28c4e79b9da994748702a4  group1-shard2of6.bin
4557a96cf87ceb8df6c9647b647ac9843251a4455457cb40f35c02250a63e51c  group1-shard3of6.bin
399b99397ccd64351b59f04cdabe30000a15494c82f75c1e2ccb41c9b6338b7d  group1-shard4of6.bin
994515b0f73407d71740301e9877511b086609dbdc7ead1b31bcb82b3397ae74  group1-shard5of6.bin
cfb856c9d8fcefacca87b6063ed4949adf69f0372407d6edca8cec0c1694a28b  group1-shard6of6.bin
1861ed271e2c08bfbb62c638b5914b91cb776842b47a3f0491b7152685b9edd6  model.json'
MOBILENET_SUMS='8e7dddbb16acacc1bf1601b1b8a761e730ff934b7f2d7771312b2f000e5f5f13  group1-shard1of1.bin
0162c427f84b06ff17764ade0090c88a0192434f35722128ae7cb5819712d4f1  model.json'

# Photographs (no renderings, test patterns or textures): "sum  name" and "name  package  path".
PHOTOS_SUMS='5c30118205982da441bf7e6a1ada636a8a0be879408140b3148280c665ed6bce  Aqua.jpg
f7aac0dcc2e06d0491643e84df3da1d9db7c4610f58806a880d56e074799f600  Blinds.jpg
8a67c2cb0be8c46b70c237311a4fa4d2b4ac7d39568135384787801fa5cc9a91  Dune.jpg
972b0a0c4e5e3fa93f4f244fc84bc64b121a5eac3aaa5856f1308c1f38a02f8e  FreshFlower.jpg
d3095ee09d425ef23d27155412136cf14fc3c9af76ca58b452f55e23da324e78  Garden.jpg
8fa0de0aa4089f7319c9fb7a6d006d4cab6023e8c8853731557cff53567b4832  GreenMeadow.jpg
e35a9a4126ef969c90b29c038058c5a575a20eadd84106a37bf1fa9931e7b61d  LadyBird.jpg
3e4ea9671c28c90a86cf67b3db9daf18c4741587c596333a7529ca589aaa0c16  RainDrops.jpg
77ca53077831d3237f73393a91fc879158abc046d852941c26e90de336356957  Storm.jpg
665e5abf8a5399070a91a9a8e455fe071e5b61697ff78fdeda4e9843ef545aeb  TwoWings.jpg
19c78500ac00a622e19907ab9cc7d06d46fe08c4a6142759a84195696150ec07  Wood.jpg
254da96256acb7add685679775a04d1e4a5bc8cd13e5a5a3d61351ce198a5306  YellowFlower.jpg
a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130  grace_hopper.jpg
88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5  astronaut.png
596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb  chelsea.png
cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7  coffee.png
db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179  motorcycle_left.png
5fc913ae870e42a4b662314bc904d1786bcad8e2f0b9b67dba5a229406357797  motorcycle_right.png
c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c  rocket.jpg
3a19c5dd8a927a9334bb1229a6d63711b1c0c767fb27e2286e7c84a3e2c2f5f4  hubble_deep_field.jpg
38a07f36f27f095e818aea7b96d34202c05176d30253c66733f2e00379e9e0e6  retina.jpg'
MATE=usr/share/backgrounds/mate/nature
SKIMAGE=usr/lib/python3/dist-packages/skimage/data
PHOTOS_FILES="Aqua.jpg  mate-backgrounds  $MATE/Aqua.jpg
Blinds.jpg  mate-backgrounds  $MATE/Blinds.jpg
Dune.jpg  mate-backgrounds  $MATE/Dune.jpg
FreshFlower.jpg  mate-backgrounds  $MATE/FreshFlower.jpg
Garden.jpg  mate-backgrounds  $MATE/Garden.jpg
GreenMeadow.jpg  mate-backgrounds  $MATE/GreenMeadow.jpg
LadyBird.jpg  mate-backgrounds  $MATE/LadyBird.jpg
RainDrops.jpg  mate-backgrounds  $MATE/RainDrops.jpg
Storm.jpg  mate-backgrounds  $MATE/Storm.jpg
TwoWings.jpg  mate-backgrounds  $MATE/TwoWings.jpg
Wood.jpg  mate-backgrounds  $MATE/Wood.jpg
YellowFlower.jpg  mate-backgrounds  $MATE/YellowFlower.jpg
grace_hopper.jpg  python-matplotlib-data  usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg
astronaut.png  python3-skimage  $SKIMAGE/astronaut.png
chelsea.png  python3-skimage  $SKIMAGE/chelsea.png
coffee.png  python3-skimage  $SKIMAGE/coffee.png
motorcycle_left.png  python3-skimage  $SKIMAGE/motorcycle_left.png
motorcycle_right.png  python3-skimage  $SKIMAGE/motorcycle_right.png
rocket.jpg  python3-skimage  $SKIMAGE/rocket.jpg
hubble_deep_field.jpg  python3-skimage  $SKIMAGE/hubble_deep_field.jpg
retina.jpg  python3-skimage  $SKIMAGE/retina.jpg"

need_npm() {
    command -v npm > /dev/null && command -v node > /dev/null ||
        die "node/npm not found: install Node.js and npm first (Debian: apt-get install nodejs npm; scripts/setup.sh does this)"
}

# Writes model.json and the binary shards of dist/models/$2 (package unpacked in $1) into $3.
unwrap_model() {
    node - "$1/package/dist/models/$2" "$3" << 'EOF'
const fs = require('fs'), path = require('path');
const [src, dst] = process.argv.slice(2);
const { modelTopology, weightsManifest } = require(path.join(src, 'model.min.js'));
if (!modelTopology || !Array.isArray(weightsManifest)) throw new Error(`${src}/model.min.js: no TF.js model in it`);
const manifest = weightsManifest.map((group) => {
    const paths = group.paths.map((p) => {
        const data = Buffer.from(require(path.join(src, `${p}.min.js`)), 'base64');
        fs.writeFileSync(path.join(dst, `${p}.bin.tmp`), data);
        fs.renameSync(path.join(dst, `${p}.bin.tmp`), path.join(dst, `${p}.bin`));
        return `${p}.bin`;
    });
    return { paths, weights: group.weights };
});
const json = JSON.stringify({ format: 'layers-model', modelTopology, weightsManifest: manifest });
fs.writeFileSync(path.join(dst, 'model.json.tmp'), json);
fs.renameSync(path.join(dst, 'model.json.tmp'), path.join(dst, 'model.json'));
EOF
}

fetch_nsfwjs() {
    local name sums dst stale=() k
    local -A want=([inception_v3]="$INCEPTION_SUMS" [mobilenet_v2]="$MOBILENET_SUMS")
    for name in inception_v3 mobilenet_v2; do
        mkdir -p "$CACHE/models/nsfwjs/$name"
        if [[ -n "$(stale_files "$CACHE/models/nsfwjs/$name" "${want[$name]}")" ]]; then stale+=("$name"); fi
    done
    if ((${#stale[@]} == 0)); then
        say "nsfwjs: both models present and verified in $CACHE/models/nsfwjs, nothing to do"
        return
    fi
    say "nsfwjs: missing or failing its checksum: ${stale[*]}"
    need_npm
    new_workdir
    say "nsfwjs: npm pack nsfwjs@$NSFWJS_VERSION in $WORK"
    (cd "$WORK" && npm pack --silent "nsfwjs@$NSFWJS_VERSION" > /dev/null) || die "npm pack nsfwjs@$NSFWJS_VERSION failed"
    tar -xzf "$WORK/nsfwjs-$NSFWJS_VERSION.tgz" -C "$WORK"
    for name in "${stale[@]}"; do
        dst="$CACHE/models/nsfwjs/$name"
        unwrap_model "$WORK" "$name" "$dst" || die "nsfwjs: could not unwrap dist/models/$name"
        say "installed $dst ($(ls "$dst" | wc -l) files)"
        verify_dir "$dst" "${want[$name]}"
    done
    done_workdir
}

fetch_tfjs() {
    local dst="$CACHE/node" pkg
    pkg="$dst/node_modules/@tensorflow/tfjs/package.json"
    if [[ -f "$pkg" ]] && node -e "process.exit(require('$pkg').version === '$TFJS_VERSION' ? 0 : 1)" 2> /dev/null; then
        say "tfjs: @tensorflow/tfjs@$TFJS_VERSION present in $dst, nothing to do"
        return
    fi
    need_npm
    mkdir -p "$dst"
    say "tfjs: npm install @tensorflow/tfjs@$TFJS_VERSION in $dst"
    npm install --prefix "$dst" --no-audit --no-fund --silent "@tensorflow/tfjs@$TFJS_VERSION" ||
        die "npm install @tensorflow/tfjs@$TFJS_VERSION failed"
}

models_main() {
    local sets=() s
    ((${#@} > 0)) || set -- all
    for s in "$@"; do
        if [[ "$s" == all ]]; then sets+=(nsfwjs photos tfjs); else sets+=("$s"); fi
    done
    say "cache directory: $CACHE"
    for s in "${sets[@]}"; do
        case "$s" in
        nsfwjs) fetch_nsfwjs ;;
        photos) fetch_debs photos "$CACHE/photos" "$PHOTOS_SUMS" "$PHOTOS_FILES" ;;
        tfjs) fetch_tfjs ;;
        *) die "unknown set '$s' (known: all, nsfwjs, photos, tfjs)" ;;
        esac
    done
    say "models done"
}

models_main "$@"
