#!/usr/bin/python3
"""Builds the broken traced autoencoders `paglab tangents` must refuse in one line (issue 21.5).

Run by hand with Debian's python3-torch (torch 1.13), never in CI (the outputs are committed):

    /usr/bin/python3 make_broken_autoencoder_fixtures.py

Outputs (each a few kB), all for 1x28x28 images:
  encoder_zero.pt   codes of dimension 0: x -> (B, 0)
  decoder_zero.pt   a decoder of those codes: (B, 0) -> (B, 1, 28, 28), a constant image (no tangent directions)
  decoder_nan.pt    decoder.pt's shape with NaN everywhere: (B, 4) -> (B, 1, 28, 28) of NaN
  decoder_scalar.pt returns a zero-dimensional tensor (the sum of the codes)
"""
import os

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))


class ZeroCodes(nn.Module):
    def forward(self, x):
        return x.flatten(1)[:, :0]


class ConstantImage(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(0, 784)

    def forward(self, z):
        return torch.sigmoid(self.fc(z)).reshape(-1, 1, 28, 28)


class NanDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 784)

    def forward(self, z):
        return (self.fc(z) * float("nan")).reshape(-1, 1, 28, 28)


class ScalarDecoder(nn.Module):
    def forward(self, z):
        return z.sum()


if __name__ == "__main__":
    torch.manual_seed(6)
    x, z = torch.rand(2, 1, 28, 28), torch.rand(2, 4)
    torch.jit.trace(ZeroCodes(), x).save(os.path.join(HERE, "encoder_zero.pt"))
    torch.jit.trace(ConstantImage(), torch.zeros(2, 0)).save(os.path.join(HERE, "decoder_zero.pt"))
    torch.jit.trace(NanDecoder(), z).save(os.path.join(HERE, "decoder_nan.pt"))
    torch.jit.trace(ScalarDecoder(), z).save(os.path.join(HERE, "decoder_scalar.pt"))
    for name in ("encoder_zero.pt", "decoder_zero.pt", "decoder_nan.pt", "decoder_scalar.pt"):
        print("%8d  %s" % (os.path.getsize(os.path.join(HERE, name)), name))
