"""The DANN-LeNet training step of dann_step.c in PyTorch, for a side-by-side comparison.

usage: python3 dann_step_torch.py [threads] [steps]     last line: images_per_s=<N>
"""
import sys
import time

import torch
from torch import nn
import torch.nn.functional as F

BS = 64


class GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lam):
        ctx.lam = lam
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return -ctx.lam * g, None


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    features = nn.Sequential(nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(32, 48, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
    classifier = nn.Sequential(nn.Linear(768, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(),
                               nn.Linear(100, 10))
    disc = nn.Sequential(nn.Linear(768, 100), nn.ReLU(), nn.Linear(100, 1))
    params = list(features.parameters()) + list(classifier.parameters()) + list(disc.parameters())
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9)
    xs = torch.rand(BS, 1, 28, 28)
    xt = torch.rand(BS, 1, 28, 28)
    ys = torch.arange(BS) % 10
    dom = torch.cat([torch.zeros(BS, 1), torch.ones(BS, 1)])
    warmup = 5
    for s in range(warmup + steps):
        if s == warmup:
            t0 = time.perf_counter()
        f = features(torch.cat([xs, xt]))
        loss = F.cross_entropy(classifier(f[:BS]), ys) + \
            F.binary_cross_entropy_with_logits(disc(GradReverse.apply(f, 0.5)), dom)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()
    dt = time.perf_counter() - t0
    print(f"backend=pytorch-{torch.__version__} threads={threads} batch={BS}+{BS} steps={steps} "
          f"final_loss={loss.item():.4f}")
    print(f"step_ms={1e3 * dt / steps:.3f}")
    print(f"images_per_s={2 * BS * steps / dt:.0f}")


if __name__ == "__main__":
    main()
