#!/usr/bin/python3
"""Reference outputs of torchvision's architectures on random weights, for tests/models.

    tv_ref.py ARCH SIZE CLASSES OUTDIR [--aux]

Writes OUTDIR/weights.safetensors (the state dict, torchvision's names), OUTDIR/input.safetensors
("input" [2, 3, SIZE, SIZE]) and OUTDIR/expected.safetensors ("logits", "features": the head's
input). Eval mode; every batch norm gets random statistics and affine parameters so that none is
the identity. Seeded: the same arguments give the same files.
"""
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from torch_to_safetensors import save_file  # noqa: E402

# The module whose input is the backbone's output (Ferry's features), per architecture.
HEADS = {"resnet18": "fc", "resnet50": "fc", "inception_v3": "fc", "vgg19": "classifier.6",
         "vgg19_bn": "classifier.6", "mobilenet_v2": "classifier.1", "efficientnet_b0": "classifier.1"}


def build(arch, classes, aux):
    kw = {"num_classes": classes}
    if arch == "inception_v3":
        kw.update(aux_logits=aux, init_weights=False)
    return getattr(torchvision.models, arch)(**kw)


def randomise(model, g, size):
    """Random affine parameters for every batch norm, and running statistics measured on a random
    batch (a train-mode pass with momentum 1) then perturbed, so that no batch norm is the identity
    and the activations keep their scale through the depth: with PyTorch's default initialisation
    and made-up statistics a deep network's output hardly depends on its input, and a comparison
    of outputs would miss a wrong layer."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for m in bns:
            if m.weight is not None:
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.rand(m.num_features, generator=g) * 0.4 - 0.2)
            m.reset_running_stats()
            m.momentum = 1.0
        model.train()
        model(torch.rand(4, 3, size, size, generator=g) * 2 - 1)
        for m in bns:
            m.momentum = 0.1
            sd = m.running_var.sqrt()
            m.running_mean.add_((torch.rand(m.num_features, generator=g) * 0.2 - 0.1) * sd)
            m.running_var.mul_(torch.rand(m.num_features, generator=g) * 0.5 + 0.75)


def main(argv):
    arch, size, classes, out = argv[0], int(argv[1]), int(argv[2]), argv[3]
    aux = "--aux" in argv
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    model = build(arch, classes, aux)
    randomise(model, g, size)
    model.eval()
    x = torch.rand(2, 3, size, size, generator=g) * 2 - 1
    feats = {}
    head = dict(model.named_modules())[HEADS[arch]]
    # The hook returns None: a hook returning a value would replace the head's output.
    head.register_forward_hook(lambda mod, inp, outp: feats.__setitem__("f", inp[0].detach()))
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
