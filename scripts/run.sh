#!/usr/bin/env bash
# The main job: set up, build, and train LeNet on MNIST on the CPU (10 epochs, seed 1).
# Extra arguments go to 'ferry train'.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bash "$here/setup.sh"
bash "$here/build.sh"
exec "$here/../build/ferry" train --data mnist --arch lenet --epochs 10 --seed 1 "$@"
