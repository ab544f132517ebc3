#!/usr/bin/python3
"""The same measurement as models_bench in PyTorch (Debian python3-torch/torchvision): torchvision's
model (xception: the PyTorch definition of tests/models/xception_ref.py), random weights and inputs,
eval forward under no_grad or a training step (cross-entropy, SGD momentum 0.9), one warm-up.
usage: models_torch.py ARCH SIZE forward|train BATCH ITERS THREADS"""
import os
import resource
import sys
import time

import torch
import torchvision


def model(arch):
    if arch == "xception":
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "models"))
        import xception_ref
        return xception_ref.Xception(1000)
    kw = {"num_classes": 1000}
    if arch == "inception_v3":
        kw.update(aux_logits=False, init_weights=False)
    return getattr(torchvision.models, arch.split("@")[0])(**kw)


def main(argv):
    arch, size, mode, batch, iters, threads = argv[0], int(argv[1]), argv[2], int(argv[3]), int(argv[4]), int(argv[5])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    m = model(arch)
    x = torch.rand(batch, 3, size, size) * 2 - 1
    y = torch.arange(batch) % 1000
    if mode == "train":
        m.train()
        opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
        loss_fn = torch.nn.CrossEntropyLoss()

        def step():
            opt.zero_grad(set_to_none=True)
            loss_fn(m(x), y).backward()
            opt.step()
    else:
        m.eval()

        def step():
            with torch.no_grad():
                m(x)
    for it in range(iters + 1):
        if it == 1:
            t0 = time.perf_counter()
        step()
    dt = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"pytorch {arch} {size}x{size} {mode} batch {batch} threads {threads}: "
          f"images_per_s={iters * batch / dt:.2f} peak_rss_mb={rss:.0f}")


if __name__ == "__main__":
    main(sys.argv[1:])
