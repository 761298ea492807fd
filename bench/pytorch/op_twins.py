"""Minimal single-op twins of bench/PagLab.Bench/OpTwins.cs: the same op, shape and pass on both sides
(batch 128, 64 channels, 32x32; forward, backward of a fixed random readout, and the gradient-norm
double backward), so a difference is a libtorch build difference, not PagLab."""
import sys
import torch
import torch.nn.functional as F


def rows(timeit, wanted):
    torch.manual_seed(0)
    x0 = torch.randn(128, 64, 32, 32); readout = torch.randn(128, 64, 32, 32)
    conv_w = (torch.randn(64, 64, 3, 3) * 0.05).requires_grad_()
    bn_w = torch.ones(64, requires_grad=True); bn_b = torch.zeros(64, requires_grad=True)
    ops = [("conv3x3", lambda x: F.conv2d(x, conv_w, padding=1), [conv_w]),
           ("batchnorm", lambda x: F.batch_norm(x, None, None, bn_w, bn_b, training=True), [bn_w, bn_b]),
           ("relu", F.relu, [])]
    out = {}
    for name, op, params in ops:
        if not wanted(f"twin/{name}/"): continue
        r = readout.detach().requires_grad_()  # a parameter of the graph, so relu's double backward has work
        everything = params + [r]

        def zero():
            for p in everything:
                if p.grad is not None: p.grad.zero_()

        def forward():
            with torch.no_grad(): op(x0).sum().item()

        def backward():
            zero(); x = x0.detach().requires_grad_(); (op(x) * r).sum().backward()

        def double_backward():
            zero(); x = x0.detach().requires_grad_()
            g = torch.autograd.grad((op(x) * r).sum(), x, create_graph=True)[0]
            g.pow(2).sum().backward()
        for p, fn in [("forward", forward), ("backward", backward), ("double-backward", double_backward)]:
            row = timeit(fn, 1, 5); row["items"] = 128
            out[f"twin/{name}/{p}"] = row
        print(f"twin/{name}: " + ", ".join(f"{k.split('/')[2]} {v['median_ms']:.1f} ms"
                                          for k, v in out.items() if k.startswith(f"twin/{name}/")), file=sys.stderr)
    return out
