#!/usr/bin/env bash
# Configures (once) and builds Ferry in ./build with warnings as errors.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/build.ninja ]; then
    meson setup build --buildtype=release -Dwerror=true -Dtests=enabled
fi
ninja -C build
