#!/usr/bin/python3
"""An independent PyTorch implementation of source-only, DANN, DAN, IM and BNM under benchmarks/uda_long.yaml's
protocol, on the splits Ferry exports (`ferry tasks TASK --export DIR`), to check that what Ferry
measures is the method's behaviour and not Ferry's.

Same as Ferry's runs: the DANN paper's LeNet (conv 5x5 32, pool, conv 5x5 48, pool, fc 100, fc 100,
fc K, ReLU), inputs scaled to [-1, 1], SGD momentum 0.9, weight decay 5e-4, lr 0.01 / (1 + 10 p)^0.75
for every method, batch 64 source + 64 target, an epoch = floor(n_source / 64) steps, each stream
reshuffled whenever it runs out; DANN: discriminator 768 -> 100 -> 1 (ReLU) behind a gradient
reversal layer, lambda(p) = 2 / (1 + exp(-10 p)) - 1, BCE averaged over the 2B rows; DAN: trade_off
1 times the linear-time MK-MMD between the backbone features of the two batches (5 Gaussian kernels
exp(-d / (2^j m)), j = -3..1, m the mean squared distance over the joint batch, held constant); IM:
trade_off 1 times mean_i H(p_i) - H(mean_i p_i) of the target softmax; BNM: minus the nuclear norm of
the target softmax matrix over B, from torch.linalg.svdvals (Ferry builds it by Newton-Schulz). The
model each run ends with is evaluated on the target test split (select: last). Not the same: the
random streams and initial weights (PyTorch's own), so runs agree with Ferry's in distribution, not
bit for bit.

usage: uda_torch.py EXPORT_DIR [--epochs N] [--seeds 1,2,3] [--methods source-only,dann,dan,im,bnm] [--threads T]
"""
import argparse
import gzip
import math
import struct
import sys
import time

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:
    sys.exit(f"uda_torch.py: {e.name} is not installed (apt-get install python3-torch python3-numpy)")

from dann_step_torch import GradReverse  # the same gradient reversal as the step benchmark


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] or data[1]:
        sys.exit(f"{path}: not an IDX file")
    kind, ndim = data[2], data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    dtype = {0x08: np.uint8, 0x0D: np.dtype(">f4")}.get(kind)
    if dtype is None:
        sys.exit(f"{path}: IDX type 0x{kind:02x} is not u8 or f32")
    arr = np.frombuffer(data[4 + 4 * ndim:], dtype=dtype)
    if arr.size != int(np.prod(dims)):
        sys.exit(f"{path}: {arr.size} values for dims {dims}")
    return arr.reshape(dims)


def load_images(d, split):
    for nd in (3, 4):
        try:
            x = read_idx(f"{d}/{split}-images-idx{nd}-ubyte.gz")
        except FileNotFoundError:
            continue
        x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
        if x.ndim == 3:
            x = x[:, None]
        return torch.from_numpy((x - 0.5) * 2.0)
    sys.exit(f"{d}: no {split}-images-idx{{3,4}}-ubyte.gz (made by ferry tasks TASK --export DIR)")


def load_labels(d, split):
    return torch.from_numpy(read_idx(f"{d}/{split}-labels-idx1-ubyte.gz").astype(np.int64))


class LeNet(nn.Module):
    def __init__(self, c, h, w, classes):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(c, 32, 5), nn.Conv2d(32, 48, 5)
        fh, fw = ((h - 4) // 2 - 4) // 2, ((w - 4) // 2 - 4) // 2
        self.feature_dim = 48 * fh * fw
        self.fc1, self.fc2, self.fc3 = nn.Linear(self.feature_dim, 100), nn.Linear(100, 100), nn.Linear(100, classes)

    def features(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        return torch.flatten(F.max_pool2d(F.relu(self.conv2(x)), 2), 1)

    def classify(self, f):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(f)))))


def mk_mmd_linear(fs, ft):
    """Linear-time unbiased MK-MMD^2 (Gretton et al. 2012, sec. 6), rows i and i + B/2 paired."""
    x = torch.cat([fs, ft])
    x = x - x.mean(0, keepdim=True).detach()
    m = (2.0 * (x * x).sum() / x.shape[0]).detach().clamp_min(1e-12)
    fs, ft = x[:fs.shape[0]], x[fs.shape[0]:]
    h = fs.shape[0] // 2
    s1, s2, t1, t2 = fs[:h], fs[h:2 * h], ft[:h], ft[h:2 * h]

    def k(a, b):
        d = ((a - b) ** 2).sum(1)
        return sum(torch.exp(-d / (2.0 ** j * m)) for j in range(-3, 2))

    return (k(s1, s2) + k(t1, t2) - k(s1, t2) - k(s2, t1)).mean()


class Stream:
    """Batches of indices over n examples, reshuffled whenever the current permutation runs out."""

    def __init__(self, n, batch, gen):
        self.n, self.batch, self.gen, self.perm, self.pos = n, batch, gen, None, n

    def next(self):
        if self.pos + self.batch > self.n:
            self.perm, self.pos = torch.randperm(self.n, generator=self.gen), 0
        self.pos += self.batch
        return self.perm[self.pos - self.batch:self.pos]


def run(data, method, seed, epochs, batch=64, lr0=0.01):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    xs, ys, xt, xtest, ytest = data
    model = LeNet(xs.shape[1], xs.shape[2], xs.shape[3], int(ys.max()) + 1)
    params = list(model.parameters())
    disc = None
    if method == "dann":
        disc = nn.Sequential(nn.Linear(model.feature_dim, 100), nn.ReLU(), nn.Linear(100, 1))
        params += list(disc.parameters())
    opt = torch.optim.SGD(params, lr=lr0, momentum=0.9, weight_decay=5e-4)
    steps = max(1, xs.shape[0] // batch)
    total = steps * epochs
    src, tgt = Stream(xs.shape[0], batch, gen), Stream(xt.shape[0], batch, gen)
    domain = torch.cat([torch.zeros(batch, 1), torch.ones(batch, 1)])
    for k in range(total):
        p = k / total
        for g in opt.param_groups:
            g["lr"] = lr0 / (1 + 10 * p) ** 0.75
        i, j = src.next(), tgt.next()
        f = model.features(torch.cat([xs[i], xt[j]]))
        loss = F.cross_entropy(model.classify(f[:batch]), ys[i])
        if disc is not None:
            lam = 2.0 / (1.0 + math.exp(-10.0 * p)) - 1.0
            loss = loss + F.binary_cross_entropy_with_logits(disc(GradReverse.apply(f, lam)), domain)
        elif method == "dan":
            loss = loss + mk_mmd_linear(f[:batch], f[batch:])
        elif method == "im":
            pt = F.softmax(model.classify(f[batch:]), 1)
            ent = -(pt * F.log_softmax(model.classify(f[batch:]), 1)).sum(1).mean()
            pm = pt.mean(0)
            loss = loss + ent + (pm * torch.log(pm.clamp_min(1e-30))).sum()
        elif method == "bnm":
            loss = loss - torch.linalg.svdvals(F.softmax(model.classify(f[batch:]), 1)).sum() / batch
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        pred = torch.cat([model.classify(model.features(xtest[a:a + 500])).argmax(1)
                          for a in range(0, xtest.shape[0], 500)])
    return 100.0 * (pred == ytest).float().mean().item()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("export_dir")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--methods", default="source-only,dann")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    d = a.export_dir
    data = (load_images(d, "source-train"), load_labels(d, "source-train"), load_images(d, "target-train"),
            load_images(d, "target-test"), load_labels(d, "target-test"))
    seeds = [int(s) for s in a.seeds.split(",")]
    means = {}
    for method in a.methods.split(","):
        if method not in ("source-only", "dann", "dan", "im", "bnm"):
            sys.exit(f"unknown method '{method}' (source-only, dann, dan, im, bnm)")
        accs = []
        for seed in seeds:
            t0 = time.time()
            accs.append(run(data, method, seed, a.epochs))
            print(f"{method} seed {seed}: target test {accs[-1]:.2f}% ({time.time() - t0:.0f} s)", flush=True)
        sd = float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0
        means[method] = float(np.mean(accs))
        print(f"{method}: mean {means[method]:.2f} sd {sd:.2f} over seeds {a.seeds}", flush=True)
    if "source-only" in means:
        for m, v in means.items():
            if m != "source-only":
                print(f"{m} - source-only: {v - means['source-only']:+.2f}")


if __name__ == "__main__":
    main()
