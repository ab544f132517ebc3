#!/usr/bin/env bash
# An outside author's path: install Ferry's plugin header and pkg-config file (into a temporary
# DESTDIR), build plugins/template with the Makefile through pkg-config, out of the source tree, and
# use the plugin: `ferry methods` lists it from FERRY_PLUGIN_PATH and `ferry train` trains with it.
# usage: test_oot.sh BUILD_DIR SOURCE_DIR FERRY
set -uo pipefail
build=$1
src=$2
ferry=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
pass=0
check() {
    local what=$1
    shift
    if "$@"; then pass=$((pass + 1)); else echo "FAIL: $what"; fails=$((fails + 1)); fi
}

meson install -C "$build" --no-rebuild --destdir "$tmp/root" --tags devel > "$tmp/install.log" 2>&1
check "meson install (headers, pkg-config file)" test $? -eq 0
pc=$(find "$tmp/root" -name ferry-plugin.pc | head -n 1)
check "ferry-plugin.pc installed" test -n "$pc"
export PKG_CONFIG_PATH=$(dirname "$pc")
# the staged install lives under DESTDIR: point pkg-config's prefix there
prefix=$(pkg-config --variable=prefix ferry-plugin)
pkgconf="pkg-config --define-variable=prefix=$tmp/root$prefix"
cflags=$($pkgconf --cflags ferry-plugin)
check "pkg-config points into the install ($cflags)" bash -c "grep -q '$tmp/root' <<< '$cflags'"
inc=$(echo $cflags)
check "the header is where pkg-config says" test -f "${inc#-I}/ferry/plugin.h"

mkdir -p "$tmp/author"
cp "$src/plugins/template/template.c" "$src/plugins/template/Makefile" "$tmp/author/"
make -C "$tmp/author" PKG_CONFIG="$pkgconf" CFLAGS="-O2 -Wall -Wextra -Werror" > "$tmp/make.log" 2>&1
check "the template builds out of tree via pkg-config" test -f "$tmp/author/template.so"
check "the plugin exports one symbol" bash -c "[ \"\$(nm -D --defined-only '$tmp/author/template.so' | grep -c ' T ')\" = 1 ]"
check "ferry methods lists it" bash -c "FERRY_PLUGIN_PATH='$tmp/author' '$ferry' methods template | grep -q '^template'"

if [ ! -f "${FERRY_DATA:-${XDG_CACHE_HOME:-$HOME/.cache}/ferry}/mnist/0.json" ] && [ -z "${FERRY_REQUIRE_DATA:-}" ]; then
    echo "MNIST not fetched: skipping the training check"
else
    out=$(FERRY_PLUGIN_PATH="$tmp/author" "$ferry" train --task 'mnist->optdigits' --method template \
          --set template.weight=0.5 --epochs 1 --batch 128 --device cpu 2>/dev/null | tail -n 1)
    check "the plugin trains ($out)" bash -c "grep -q 'target test accuracy' <<< '$out'"
fi
echo "plugins_oot: $pass passed, $fails failed"
[ "$fails" -eq 0 ]
