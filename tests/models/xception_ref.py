#!/usr/bin/python3
"""Reference outputs of Xception (keras.applications' layout, written in PyTorch) on random weights.

    xception_ref.py ARCH SIZE CLASSES OUTDIR

ARCH must be "xception". Writes the same files as tv_ref.py: OUTDIR/weights.safetensors (the state
dict with Ferry's names for the Keras layers: "block2_sepconv1.depthwise.weight",
"block2_sepconv1_bn.running_mean", "block2_residual.weight", "predictions.bias", ...),
OUTDIR/input.safetensors ("input" [2, 3, SIZE, SIZE]) and OUTDIR/expected.safetensors ("logits",
"features": the pooled 2048-d input of "predictions"). Eval mode, randomised batch norms, seeded.

TensorFlow's "same" padding: the 3x3 stride-1 separable convolutions pad 1 on each side; the 3x3
stride-2 max pools pad (total = max((ceil(n/2) - 1)*2 + 3 - n, 0), the smaller half first) with -inf
through F.pad, so that a pad is never the maximum.
"""
import math
import os
import sys

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tv_ref import randomise  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from torch_to_safetensors import save_file  # noqa: E402

EPS = 1e-3


class SepConv(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


def tf_same(n, k, s):
    total = max((math.ceil(n / s) - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def max_pool_same(x):
    t, b = tf_same(x.shape[2], 3, 2)
    l, r = tf_same(x.shape[3], 3, 2)
    return F.max_pool2d(F.pad(x, (l, r, t, b), value=-math.inf), 3, 2)


class Xception(nn.Module):
    # (block, first sepconv's width, second's width, relu before the first)
    DOWN = [(2, 128, 128, False), (3, 256, 256, True), (4, 728, 728, True)]

    def __init__(self, classes):
        super().__init__()
        self.block1_conv1 = nn.Conv2d(3, 32, 3, stride=2, bias=False)
        self.block1_conv1_bn = nn.BatchNorm2d(32, eps=EPS)
        self.block1_conv2 = nn.Conv2d(32, 64, 3, bias=False)
        self.block1_conv2_bn = nn.BatchNorm2d(64, eps=EPS)
        cin = 64
        for blk, a, c, _ in self.DOWN + [(13, 728, 1024, True)]:
            if blk == 13:
                for i in range(5, 13):
                    for k in (1, 2, 3):
                        self.add_module(f"block{i}_sepconv{k}", SepConv(728, 728))
                        self.add_module(f"block{i}_sepconv{k}_bn", nn.BatchNorm2d(728, eps=EPS))
            self.add_module(f"block{blk}_residual", nn.Conv2d(cin, c, 1, stride=2, bias=False))
            self.add_module(f"block{blk}_residual_bn", nn.BatchNorm2d(c, eps=EPS))
            self.add_module(f"block{blk}_sepconv1", SepConv(cin, a))
            self.add_module(f"block{blk}_sepconv1_bn", nn.BatchNorm2d(a, eps=EPS))
            self.add_module(f"block{blk}_sepconv2", SepConv(a, c))
            self.add_module(f"block{blk}_sepconv2_bn", nn.BatchNorm2d(c, eps=EPS))
            cin = c
        self.block14_sepconv1 = SepConv(1024, 1536)
        self.block14_sepconv1_bn = nn.BatchNorm2d(1536, eps=EPS)
        self.block14_sepconv2 = SepConv(1536, 2048)
        self.block14_sepconv2_bn = nn.BatchNorm2d(2048, eps=EPS)
        self.predictions = nn.Linear(2048, classes)

    def sep(self, name, x):
        return getattr(self, name + "_bn")(getattr(self, name)(x))

    def down(self, blk, x, first_relu):
        skip = getattr(self, f"block{blk}_residual_bn")(getattr(self, f"block{blk}_residual")(x))
        if first_relu:
            x = F.relu(x)
        x = F.relu(self.sep(f"block{blk}_sepconv1", x))
        x = max_pool_same(self.sep(f"block{blk}_sepconv2", x))
        return x + skip

    def forward(self, x):
        x = F.relu(self.block1_conv1_bn(self.block1_conv1(x)))
        x = F.relu(self.block1_conv2_bn(self.block1_conv2(x)))
        for blk, _, _, first_relu in self.DOWN:
            x = self.down(blk, x, first_relu)
        for i in range(5, 13):
            y = x
            for k in (1, 2, 3):
                y = self.sep(f"block{i}_sepconv{k}", F.relu(y))
            x = x + y
        x = self.down(13, x, True)
        x = F.relu(self.sep("block14_sepconv1", x))
        x = F.relu(self.sep("block14_sepconv2", x))
        return self.predictions(x.mean((2, 3)))


def main(argv):
    arch, size, classes, out = argv[0], int(argv[1]), int(argv[2]), argv[3]
    if arch != "xception":
        sys.exit(f"xception_ref.py: unknown architecture {arch!r} (only xception)")
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    model = Xception(classes)
    randomise(model, g, size)
    model.eval()
    x = torch.rand(2, 3, size, size, generator=g) * 2 - 1
    feats = {}
    model.predictions.register_forward_hook(lambda mod, inp, outp: feats.__setitem__("f", inp[0].detach()))
    with torch.no_grad():
        logits = model(x)
    os.makedirs(out, exist_ok=True)
    # num_batches_tracked (I64) left out: Ferry's safetensors reader refuses I64 tensors for now.
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    save_file(state, os.path.join(out, "weights.safetensors"))
    save_file({"input": x}, os.path.join(out, "input.safetensors"))
    save_file({"logits": logits, "features": feats["f"]}, os.path.join(out, "expected.safetensors"))


if __name__ == "__main__":
    main(sys.argv[1:])
