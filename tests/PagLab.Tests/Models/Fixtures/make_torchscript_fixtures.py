#!/usr/bin/python3
"""Builds the TorchScript fixtures in this folder and the values PyTorch computes for them.

Run by hand with Debian's python3-torch (torch 1.13), never in CI (the outputs are committed):

    /usr/bin/python3 make_torchscript_fixtures.py            # all
    /usr/bin/python3 make_torchscript_fixtures.py hostile    # only hostile/ (or contract/)

Nothing is downloaded; every network is tiny, seeded and traced with torch.jit.trace on CPU.
Outputs (each well under 1 MB):
  classifier.pt          a classifier for 1x28x28 inputs built from layers PagLab does not define
                         (GELU, GroupNorm, max-pool, a residual add) for 28x28 inputs (and, through its adaptive pool, 56x28),
                         trained for 60 steps
                         on synthetic blob images; it expects MNIST normalisation: (x - 0.1307) / 0.3081
                         of pixels x in [0,1] (import with --normalize 0.1307,0.3081)
  classifier_reference.pt  torch.save of tensors: inputs (16,1,28,28) in [0,1], labels, logits,
                         input_grad (d sum_i CE_i / dx), gnorm_grad.NAME (the parameter gradients of
                         CE + LAMBDA * mean_i ||d CE_i / dx_i||^2, double backprop, LAMBDA below)
  denoiser_edm.pt        an EDM-preconditioned denoiser with EDMPrecond's interface (NVlabs/edm,
                         training/networks.py): forward(x, sigma (B,), class_labels one-hot (B,10))
                         -> D(x; sigma), x in [-1,1], sigma in the same units
  denoiser_eps.pt        the same network as forward(x, sigma, labels int64) -> (x - D) / sigma
  denoiser_x0.pt         the same network, unconditional (class 0), as forward(x, sigma) -> D
  denoiser_bad_shape.pt  forward(x, sigma) -> (B, 28, 28): must be refused
  denoiser_reference.pt  x (8,1,28,28) in [0,1], labels, and PagLab-unit scores
                         s(x, sigma) = (D_[0,1](x, sigma) - x) / sigma^2 with D_[0,1](x, sigma) =
                         (D(2x - 1, 2 sigma) + 1) / 2 for sigma in SIGMAS: score_S (conditional),
                         score_uncond_S (class 0)
  encoder.pt, decoder.pt an autoencoder 1x28x28 -> R^4 -> 1x28x28 (decoder output in [0,1])
  autoencoder_reference.pt  x (6,1,28,28), z = E(x), jacobians (6, 784, 4) = dD/dz at z
  hostile/*.pt           broken models PagLab must refuse in one line (issue 21), each a few KB: see
                         hostile_fixtures() for what each does wrong
  contract/*.pt          small CNNs trained on MNIST ($PAGLAB_DATA/mnist, issue 23): mnist_normalized.pt
                         expects (x - 0.1307) / 0.3081, mnist_rgb32.pt takes 3x32x32 RGB images (MNIST
                         resized and repeated into three channels)
"""
import sys
import zipfile
import os
from typing import Dict, List, Optional, Tuple
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
LAMBDA = 0.5
SIGMAS = (0.25, 0.5)
MEAN, STD = 0.1307, 0.3081


def blobs(n, generator):
    """Synthetic 10-class images: a bright Gaussian blob at one of ten places, plus noise, in [0,1]."""
    labels = torch.randint(0, 10, (n,), generator=generator)
    grid = torch.arange(28, dtype=torch.float32)
    cy = 6.0 + 16.0 * (labels // 5).float() + 2 * torch.randn(n, generator=generator)
    cx = 4.0 + 5.0 * (labels % 5).float() + 2 * torch.randn(n, generator=generator)
    d2 = (grid.view(1, 28, 1) - cy.view(-1, 1, 1)) ** 2 + (grid.view(1, 1, 28) - cx.view(-1, 1, 1)) ** 2
    x = torch.exp(-d2 / 8.0) + 0.9 * torch.rand(n, 28, 28, generator=generator)
    return x.clamp(0, 1).unsqueeze(1), labels


class Classifier(nn.Module):
    """GELU, GroupNorm, max-pool and a residual add; expects normalised inputs."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.norm1 = nn.GroupNorm(2, 8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.norm2 = nn.GroupNorm(2, 8)
        self.fc = nn.Linear(8 * 7 * 7, 10)

    def forward(self, x):
        h = F.max_pool2d(F.gelu(self.norm1(self.conv1(x))), 2)   # (B, 8, 14, 14)
        h = h + F.gelu(self.norm2(self.conv2(h)))                 # residual add
        h = F.adaptive_max_pool2d(h, 7)                           # (B, 8, 7, 7): also takes 56x28 (shapes-distractor)
        return self.fc(h.flatten(1))


def classifier_fixture():
    g = torch.Generator().manual_seed(1)
    net = Classifier()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(60):   # short, so that some fixture images are misclassified
        x, y = blobs(64, g)
        loss = F.cross_entropy(net((x - MEAN) / STD), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    x, y = blobs(16, g)
    traced = torch.jit.trace(net, (x - MEAN) / STD)
    traced.save(os.path.join(HERE, "classifier.pt"))

    model = lambda pixels: traced((pixels - MEAN) / STD)   # the wrapper PagLab builds from --normalize
    inputs = x.clone().requires_grad_(True)
    logits = model(inputs)
    input_grad, = torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), inputs)

    # PagLab's GradientNormPenalty: CE + lambda * mean_i ||grad_x CE_i||^2, by double backprop
    inputs = x.clone().requires_grad_(True)
    per_example = F.cross_entropy(model(inputs), y, reduction="none")
    g_x, = torch.autograd.grad(per_example.sum(), inputs, create_graph=True)
    total = per_example.mean() + LAMBDA * g_x.pow(2).flatten(1).sum(1).mean()
    params = OrderedDict(traced.named_parameters())
    grads = torch.autograd.grad(total, list(params.values()))
    ref = OrderedDict(inputs=x, labels=y, logits=logits.detach(), input_grad=input_grad)
    for name, grad in zip(params, grads):
        ref["gnorm_grad." + name] = grad
    torch.save(ref, os.path.join(HERE, "classifier_reference.pt"))
    print("classifier accuracy on the fixture batch:", (logits.argmax(1) == y).float().mean().item())


class EdmDenoiser(nn.Module):
    """EDM preconditioning (Karras et al. 2022, Table 1) around a tiny class-conditional F, as EDMPrecond."""

    def __init__(self, label_dim=10, sigma_data=0.5):
        super().__init__()
        self.label_dim, self.sigma_data = label_dim, sigma_data
        self.inp = nn.Conv2d(1, 16, 3, padding=1)
        self.noise = nn.Linear(1, 16)
        self.label = nn.Linear(label_dim, 16)
        self.mid = nn.Conv2d(16, 16, 3, padding=1)
        self.out = nn.Conv2d(16, 1, 3, padding=1)

    def forward(self, x, sigma, class_labels):
        sigma = sigma.to(torch.float32).reshape(-1, 1, 1, 1)
        c_skip = self.sigma_data ** 2 / (sigma ** 2 + self.sigma_data ** 2)
        c_out = sigma * self.sigma_data / (sigma ** 2 + self.sigma_data ** 2).sqrt()
        c_in = 1 / (self.sigma_data ** 2 + sigma ** 2).sqrt()
        c_noise = sigma.log() / 4
        emb = self.noise(c_noise.reshape(-1, 1)) + self.label(class_labels.to(torch.float32))
        h = F.silu(self.inp(c_in * x) + emb.view(-1, 16, 1, 1))
        f = self.out(F.silu(self.mid(h)))
        return c_skip * x + c_out * f


class EpsForm(nn.Module):
    def __init__(self, edm):
        super().__init__()
        self.edm = edm

    def forward(self, x, sigma, labels):
        d = self.edm(x, sigma, F.one_hot(labels, 10).to(torch.float32))
        return (x - d) / sigma.reshape(-1, 1, 1, 1)


class X0Unconditional(nn.Module):
    def __init__(self, edm):
        super().__init__()
        self.edm = edm

    def forward(self, x, sigma):
        labels = torch.zeros(x.shape[0], 10, dtype=x.dtype)
        labels[:, 0] = 1
        return self.edm(x, sigma, labels)


class BadShape(nn.Module):
    def forward(self, x, sigma):
        return x.mean(1) / sigma.reshape(-1, 1, 1)


def denoiser_fixture():
    torch.manual_seed(2)
    edm = EdmDenoiser().eval()
    with torch.no_grad():
        for p in edm.parameters():
            p.mul_(3)   # make F matter against the skip connection
    g = torch.Generator().manual_seed(3)
    x, labels = blobs(8, g)
    y, s, onehot = x * 2 - 1, torch.full((8,), 1.0), F.one_hot(labels, 10).float()
    torch.jit.trace(edm, (y, s, onehot)).save(os.path.join(HERE, "denoiser_edm.pt"))
    torch.jit.trace(EpsForm(edm), (y, s, labels)).save(os.path.join(HERE, "denoiser_eps.pt"))
    torch.jit.trace(X0Unconditional(edm), (y, s)).save(os.path.join(HERE, "denoiser_x0.pt"))
    torch.jit.trace(BadShape(), (y, s)).save(os.path.join(HERE, "denoiser_bad_shape.pt"))
    ref = OrderedDict(x=x, labels=labels)
    class0 = F.one_hot(torch.zeros(8, dtype=torch.long), 10).float()
    with torch.no_grad():
        for sigma in SIGMAS:
            edm_sigma = torch.full((8,), 2 * sigma)   # [-1,1] pixels: twice the [0,1] sigma
            for key, lab in (("score_%g" % sigma, onehot), ("score_uncond_%g" % sigma, class0)):
                d = (edm(x * 2 - 1, edm_sigma, lab) + 1) / 2
                ref[key] = (d - x) / sigma ** 2
    torch.save(ref, os.path.join(HERE, "denoiser_reference.pt"))


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 4)

    def forward(self, x):
        return torch.tanh(self.fc(x.flatten(1)))


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 64)
        self.fc2 = nn.Linear(64, 784)

    def forward(self, z):
        return torch.sigmoid(self.fc2(F.gelu(self.fc1(z)))).reshape(-1, 1, 28, 28)


def autoencoder_fixture():
    torch.manual_seed(4)
    enc, dec = Encoder().eval(), Decoder().eval()
    g = torch.Generator().manual_seed(5)
    x, _ = blobs(6, g)
    torch.jit.trace(enc, x).save(os.path.join(HERE, "encoder.pt"))
    with torch.no_grad():
        z = enc(x)
    torch.jit.trace(dec, z).save(os.path.join(HERE, "decoder.pt"))
    jac = torch.stack([torch.autograd.functional.jacobian(lambda v: dec(v.unsqueeze(0)).flatten(), z[i]) for i in range(6)])
    torch.save(OrderedDict(x=x, z=z, jacobians=jac), os.path.join(HERE, "autoencoder_reference.pt"))


class Pooled(nn.Module):
    """A tiny classifier for any 1-channel image: 4x4 average pool, then a linear map to 10 logits."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 10)

    def features(self, x):
        return F.adaptive_avg_pool2d(x, 4).flatten(1)


class Detached(Pooled):
    def forward(self, x):
        return self.fc(self.features(x).detach())


class OneHot(Pooled):
    def forward(self, x):
        return F.one_hot(self.fc(self.features(x)).argmax(1), 10).float()


class IntegerLogits(Pooled):
    def forward(self, x):
        return (self.fc(self.features(x)) * 100).long()


class NanLogits(Pooled):
    def forward(self, x):
        return self.fc(self.features(x)) * float("nan")


class InfLogits(Pooled):
    def forward(self, x):
        return self.fc(self.features(x)) / 0.0


class NanAboveBatchTwo(Pooled):
    def forward(self, x):
        y = self.fc(self.features(x))
        if x.shape[0] > 2:
            y = y * float("nan")
        return y


class ForeverLoop(Pooled):
    def forward(self, x):
        y = self.fc(self.features(x))
        while float(x.sum()) > -1.0:   # pixels are >= 0: never ends
            x = x + 0.0
        return y


class BackwardFails(Pooled):
    """Forward is fine; backward raises in libtorch (a saved output modified in place)."""

    def forward(self, x):
        y = self.features(x).exp()
        y.add_(1.0)
        return self.fc(y)


class WithDropout(Pooled):
    def __init__(self):
        super().__init__()
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.fc(self.drop(self.features(x)))


class TrainModeBatchNorm(Pooled):
    def __init__(self):
        super().__init__()
        self.norm = nn.BatchNorm1d(16)

    def forward(self, x):
        return self.fc(self.norm(self.features(x)))


class LogitsAndFeatures(Pooled):
    def forward(self, x):
        h = self.features(x)
        return self.fc(h), h


class DetachedDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 784)

    def forward(self, z):
        return torch.sigmoid(self.fc(z.detach())).reshape(-1, 1, 28, 28)


class NanDenoiser(nn.Module):
    def forward(self, x, sigma):
        return x * float("nan")


class IntegerDenoiser(nn.Module):
    def forward(self, x, sigma):
        return (x * 100).long()


class Plain(Pooled):
    """A valid tiny classifier: the seed of the TorchScript fuzz test's mutants."""

    def forward(self, x):
        return self.fc(self.features(x))


class ReturnsDict(Pooled):
    def forward(self, x) -> Dict[str, torch.Tensor]:
        return {"logits": self.fc(self.features(x))}


class ReturnsList(Pooled):
    def forward(self, x) -> List[torch.Tensor]:
        return [self.fc(self.features(x))]


class ReturnsString(nn.Module):
    def forward(self, x) -> str:
        return "logits"


class ReturnsInt(nn.Module):
    def forward(self, x) -> int:
        return 3


class ReturnsNone(nn.Module):
    def forward(self, x) -> Optional[torch.Tensor]:
        return None


class ReturnsTensorAndInt(Pooled):
    def forward(self, x) -> Tuple[torch.Tensor, int]:
        return self.fc(self.features(x)), 3


class AllocatesHuge(Pooled):
    def forward(self, x):
        waste = torch.empty([1099511627776])   # 4 TiB: the allocation fails at once
        return self.fc(self.features(x)) + waste[0]


class Raises(Pooled):
    def forward(self, x):
        if bool(x.sum() >= 0):
            raise RuntimeError("this model refuses to run")
        return self.fc(self.features(x))


def read_idx(path):
    import gzip
    import numpy as np
    with gzip.open(path) as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return torch.from_numpy(np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape).copy())


class SmallCnn(nn.Module):
    def __init__(self, channels, flat):
        super().__init__()
        self.c1 = nn.Conv2d(channels, 8, 3, stride=2)
        self.c2 = nn.Conv2d(8, 16, 3, stride=2)
        self.fc = nn.Linear(flat, 10)

    def forward(self, x):
        return self.fc(F.relu(self.c2(F.relu(self.c1(x)))).flatten(1))


def train(net, prepare, images, labels, steps=300):
    g = torch.Generator().manual_seed(7)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(steps):
        i = torch.randint(0, images.shape[0], (128,), generator=g)
        loss = F.cross_entropy(net(prepare(images[i])), labels[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


def contract_fixtures():
    root = os.path.join(os.environ["PAGLAB_DATA"], "mnist")
    images = read_idx(os.path.join(root, "train-images-idx3-ubyte.gz")).float().div(255).unsqueeze(1)
    labels = read_idx(os.path.join(root, "train-labels-idx1-ubyte.gz")).long()
    out = os.path.join(HERE, "contract")
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(8)
    normalized = lambda x: (x - MEAN) / STD
    net = train(SmallCnn(1, 16 * 6 * 6), normalized, images, labels)
    torch.jit.trace(net, normalized(images[:4])).save(os.path.join(out, "mnist_normalized.pt"))
    rgb32 = lambda x: F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False).expand(-1, 3, -1, -1)
    net = train(SmallCnn(3, 16 * 7 * 7), rgb32, images, labels)
    torch.jit.trace(net, rgb32(images[:4])).save(os.path.join(out, "mnist_rgb32.pt"))


def rewrite_zip(source, target, change):
    """Copies a TorchScript zip, passing each (name, bytes) through change (None drops the entry)."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            data = change(item.filename, zin.read(item.filename))
            if data is not None:
                zout.writestr(item.filename, data)


def hostile_fixtures():
    out = os.path.join(HERE, "hostile")
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(6)
    x = torch.rand(4, 1, 28, 28)
    traced = dict(detach=Detached(), onehot=OneHot(), int_logits=IntegerLogits(), nan_logits=NanLogits(),
                  inf_logits=InfLogits(), backward_fails=BackwardFails(), tuple_output=LogitsAndFeatures())
    for name, net in traced.items():
        torch.jit.trace(net.eval(), x, check_trace=False).save(os.path.join(out, name + ".pt"))
    # traced in training mode: dropout and batch statistics are baked into the graph
    torch.jit.trace(WithDropout().train(), x, check_trace=False).save(os.path.join(out, "dropout.pt"))
    torch.jit.trace(TrainModeBatchNorm().train(), x, check_trace=False).save(os.path.join(out, "train_bn.pt"))
    torch.jit.script(NanAboveBatchTwo().eval()).save(os.path.join(out, "nan_above_batch_2.pt"))
    torch.jit.script(ForeverLoop().eval()).save(os.path.join(out, "loop.pt"))
    torch.jit.trace(DetachedDecoder().eval(), torch.rand(2, 4)).save(os.path.join(out, "decoder_detach.pt"))
    s = torch.ones(4)
    torch.jit.trace(NanDenoiser(), (x, s)).save(os.path.join(out, "denoiser_nan.pt"))
    torch.jit.trace(IntegerDenoiser(), (x, s), check_trace=False).save(os.path.join(out, "denoiser_int.pt"))
    # the fuzz test's seed and scripted modules returning what a classifier must not
    torch.jit.trace(Plain().eval(), x).save(os.path.join(out, "fuzz_seed.pt"))
    odd = dict(returns_dict=ReturnsDict(), returns_list=ReturnsList(), returns_string=ReturnsString(),
               returns_int=ReturnsInt(), returns_none=ReturnsNone(), returns_tensor_and_int=ReturnsTensorAndInt(),
               allocates_huge=AllocatesHuge(), raises=Raises())
    for name, net in odd.items():
        torch.jit.script(net.eval()).save(os.path.join(out, "odd_" + name + ".pt"))
    # archives libtorch cannot run: an operator that does not exist, and the code left out
    base = os.path.join(out, "detach.pt")
    rewrite_zip(base, os.path.join(out, "unknown_op.pt"),
                lambda n, d: d.replace(b"torch.linear(", b"torch.no_such_op(") if "/code/" in n and n.endswith(".py")
                else d)
    rewrite_zip(base, os.path.join(out, "missing_code.pt"),
                lambda n, d: None if "/code/" in n and n.endswith(".py") else d)


if __name__ == "__main__":
    torch.set_num_threads(1)
    only = sys.argv[1:]
    if not only:
        classifier_fixture()
        denoiser_fixture()
        autoencoder_fixture()
    if not only or "hostile" in only:
        hostile_fixtures()
    if not only or "contract" in only:
        contract_fixtures()
    for name in sorted(os.listdir(HERE)):
        print("%8d  %s" % (os.path.getsize(os.path.join(HERE, name)), name))
