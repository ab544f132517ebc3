#!/usr/bin/env python3
"""Reference values for Ferry's layer norm (tests/core/test_grad.c, grad.layer_norm_matches_torch).

Run:  /usr/bin/python3 tests/ops/layer_norm_reference.py   (the system Python, where python3-torch lives)
It prints C arrays: the output of torch.nn.functional.layer_norm over the last dimension and the
gradients of sum(out * r) with respect to x, gamma and beta, for the fixed inputs below (the same
literals as the test). Needs PyTorch (e.g. Debian's python3-torch); the test itself does not.
"""
import torch

N, D, EPS = 3, 5, 1e-5
X = [[0.5, -1.25, 2.0, 0.75, -0.3],
     [1.5, 1.4, 1.6, 1.55, 1.45],
     [-2.0, 3.0, 0.0, -0.5, 4.25]]
GAMMA = [1.0, 0.5, -1.5, 2.0, 0.25]
BETA = [0.0, 0.1, -0.2, 0.3, 1.0]
R = [[0.3, -0.7, 1.1, 0.2, -0.4],
     [-1.0, 0.6, 0.25, -0.35, 0.9],
     [0.45, 0.05, -0.8, 1.2, -0.15]]


def carr(name, t):
    vals = ", ".join(f"{v:.9g}f" for v in t.detach().double().flatten().tolist())
    print(f"static const float {name}[{t.numel()}] = {{{vals}}};")


x = torch.tensor(X, dtype=torch.float64, requires_grad=True)
g = torch.tensor(GAMMA, dtype=torch.float64, requires_grad=True)
b = torch.tensor(BETA, dtype=torch.float64, requires_grad=True)
out = torch.nn.functional.layer_norm(x, (D,), g, b, EPS)
(out * torch.tensor(R, dtype=torch.float64)).sum().backward()
carr("ln_ref_out", out)
carr("ln_ref_dx", x.grad)
carr("ln_ref_dgamma", g.grad)
carr("ln_ref_dbeta", b.grad)
