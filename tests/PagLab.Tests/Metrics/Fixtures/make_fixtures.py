#!/usr/bin/python3
"""Builds the PagLab metric and PyTorch-file fixtures in this folder. Never run in CI.

Needs Debian's python3-torch and python3-torchvision (torch 1.13): run with /usr/bin/python3.
Nothing is downloaded. The LPIPS reference values come from the ORIGINAL implementation
(richzhang/PerceptualSimilarity, package `lpips`), which this script imports from a checkout
given on the command line (it is never copied here):

    /usr/bin/python3 make_fixtures.py --lpips-repo /path/to/PerceptualSimilarity \
        --squeeze-weights /path/to/lpips-squeeze-v0.1.safetensors

Outputs (all small):
  lpips_reference.json   image recipes (seeded, see `image()` below; PagLab's tests rebuild the
                         same pixels) and the distances the original LPIPS computes for them.
                         squeeze: the shared weights (features.N.* + linK.model.1.weight).
                         alex/vgg: no pretrained backbone ships with the repo, so the backbone and
                         lin weights come from `formula_weight()` below (the tests rebuild them),
                         which checks the architecture and arithmetic, not the trained values.
  tiny_zip.pth           torch.save (zip format) of a tiny state dict (see `tiny_state()`)
  tiny_legacy.pth        the same with _use_new_zipfile_serialization=False (pre-1.6 format)
  evil_os_system.pth     legacy-format header + a pickle calling os.system   (must be refused)
  evil_eval_zip.pth      zip format whose data.pkl calls builtins.eval        (must be refused)
  evil_reduce.pkl        plain pickle: posix.system via STACK_GLOBAL (protocol 4)
  resnet18_w2_*.pth/json a width-2 ResNet-18 in the PAGs authors' parameter names and its logits
                         (see `resnet_fixture()`), for `paglab model import`
The malicious payloads are written as bytes; nothing in them is ever executed here.
"""
import argparse, io, json, os, pickle, struct, sys, zipfile
from collections import OrderedDict

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------- deterministic inputs
MASK = 0xFFFFFFFF


def hash32(seed, index):
    """A 32-bit integer hash (lowbias32 by C. Wellons) of (seed, index): bit-exact in C# too."""
    x = (index * 0x9E3779B1 + seed * 0x85EBCA77 + 0x165667B1) & MASK
    x ^= x >> 16
    x = (x * 0x7FEB352D) & MASK
    x ^= x >> 15
    x = (x * 0x846CA68B) & MASK
    x ^= x >> 16
    return x


def uniform(seed, n):
    """n values in [0,1): hash32(seed, i) / 2^32, as float64."""
    return np.array([hash32(seed, i) for i in range(n)], dtype=np.float64) / 4294967296.0


def image(kind, seed, channels, size):
    """(channels, size, size) float32 in [-1,1] (LPIPS' input range).
    random: 2u - 1 per value, u = uniform(seed, C*H*W) in C-order.
    smooth: 0.8 sin(2 pi (fx x + fy y)/size + phase_c) with fx = 1 + seed % 3, fy = 2 + seed % 2,
            phase_c = 0.7 c + 0.3 seed.
    near:   the random image of `seed` plus 0.05 (2u - 1), u = uniform(seed + 1000, C*H*W), clipped to [-1,1]."""
    n = channels * size * size
    if kind == "random":
        v = 2 * uniform(seed, n) - 1
    elif kind == "smooth":
        c, y, x = np.meshgrid(np.arange(channels), np.arange(size), np.arange(size), indexing="ij")
        fx, fy = 1 + seed % 3, 2 + seed % 2
        v = 0.8 * np.sin(2 * np.pi * (fx * x + fy * y) / size + 0.7 * c + 0.3 * seed)
    elif kind == "near":
        v = np.clip(2 * uniform(seed, n) - 1 + 0.05 * (2 * uniform(seed + 1000, n) - 1), -1, 1)
    else:
        raise ValueError(kind)
    return torch.from_numpy(np.asarray(v, dtype=np.float64).reshape(channels, size, size).astype(np.float32))


def formula_weight(shape, k):
    """Stand-in weights for alex/vgg: sqrt(3 / fan_in) sin(0.37 i + 1.1 k) over the C-order index i
    (float64, then float32); biases (1-D) get 0.01 cos(0.37 i + 1.1 k)."""
    n = int(np.prod(shape))
    i = np.arange(n, dtype=np.float64)
    if len(shape) == 1:
        v = 0.01 * np.cos(0.37 * i + 1.1 * k)
    else:
        fan_in = int(np.prod(shape[1:]))
        v = np.sqrt(3.0 / fan_in) * np.sin(0.37 * i + 1.1 * k)
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


def formula_lin(shape, k):
    """Stand-in lin weights (non-negative like the trained ones): 0.1 |sin(0.53 i + 0.7 k)|."""
    n = int(np.prod(shape))
    v = 0.1 * np.abs(np.sin(0.53 * np.arange(n, dtype=np.float64) + 0.7 * k))
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


# ---------------------------------------------------------------- the original LPIPS
def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, d in header.items():
        if name == "__metadata__":
            continue
        assert d["dtype"] == "F32"
        a, b = d["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[8 + n + a:8 + n + b], dtype=np.float32).copy().reshape(d["shape"]))
    return out


def original_lpips(net, squeeze_weights):
    # lpips/__init__ imports its trainer, which needs scipy and tqdm for training only: stand-ins
    # keep those packages off the machine; nothing the metric computes touches them.
    import types
    for name in ["scipy", "scipy.ndimage", "tqdm"]:
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["scipy.ndimage"].zoom = None
    sys.modules["tqdm"].tqdm = None
    import lpips  # the original package, from --lpips-repo
    m = lpips.LPIPS(net=net, pretrained=False, pnet_rand=True, verbose=False)  # no download: random trunk, then ours
    state = m.state_dict()
    slices = {}
    for key in state:
        parts = key.split(".")
        if parts[0] == "net":  # net.sliceK.N.rest -> torchvision index N
            slices[(int(parts[2]), ".".join(parts[3:]))] = key
    new = {}
    if net == "squeeze":
        w = read_safetensors(squeeze_weights)
        for name, t in w.items():
            if name.startswith("features."):
                _, n, rest = name.split(".", 2)
                new[slices[(int(n), rest)]] = t
            else:
                new[name] = t
    else:
        for k, (key, t) in enumerate(sorted(state.items())):
            if key.startswith("net."):
                new[key] = formula_weight(tuple(t.shape), slice_index(key))
        for k in range(len(m.chns)):
            new[f"lin{k}.model.1.weight"] = formula_lin((1, m.chns[k], 1, 1), k)
    missing = [k for k in state if k not in new and not k.startswith(("scaling_layer", "lins."))]  # lins.K is linK
    assert not missing, missing
    result = m.load_state_dict(new, strict=False)
    assert not result.unexpected_keys, result.unexpected_keys
    return m.eval()


def slice_index(key):
    """Weights are seeded by torchvision index N and weight/bias: k = 2 N + (1 if bias)."""
    parts = key.split(".")
    return 2 * int(parts[2]) + (1 if parts[-1] == "bias" else 0)


PAIRS = [  # (a, b): kind, seed, channels
    (("random", 1, 3), ("random", 2, 3)),
    (("smooth", 3, 3), ("smooth", 4, 3)),
    (("random", 5, 3), ("smooth", 5, 3)),
    (("random", 6, 3), ("near", 6, 3)),
    (("random", 7, 1), ("random", 8, 1)),   # grayscale: the original sees it repeated to 3 channels
    (("smooth", 9, 1), ("near", 9, 1)),
    (("random", 10, 3), ("random", 10, 3)),  # identical: 0
]


def reference(args):
    sys.path.insert(0, args.lpips_repo)
    out = {"imageRecipe": image.__doc__, "weightRecipe": formula_weight.__doc__ + " " + formula_lin.__doc__,
           "hash": hash32.__doc__, "torch": torch.__version__, "cases": []}
    torch.set_grad_enabled(False)
    for net in ["squeeze", "alex", "vgg"]:
        m = original_lpips(net, args.squeeze_weights)
        for size in [28, 32, 64]:
            a = torch.stack([image(*p[0], size).expand(3, size, size) for p in PAIRS])
            b = torch.stack([image(*p[1], size).expand(3, size, size) for p in PAIRS])
            try:
                d = m(a, b).flatten().tolist()
                error = None
            except RuntimeError as e:
                d, error = [None] * len(PAIRS), str(e).split("\n")[0]
            for p, v in zip(PAIRS, d):
                case = {"net": net, "size": size, "a": list(p[0]), "b": list(p[1]), "distance": v,
                        "weights": "shared" if net == "squeeze" else "formula"}
                if error:
                    case["originalError"] = error
                out["cases"].append(case)
    with open(os.path.join(HERE, "lpips_reference.json"), "w") as f:
        json.dump(out, f, indent=1)


# ---------------------------------------------------------------- PyTorch files
def tiny_state():
    """Values the tests check: a = arange(18).reshape(2,1,3,3)/4 float32; t = arange(6.).reshape(2,3).t()
    (non-contiguous, float64); b = a[1] (shares a's storage at an offset); n = tensor(7) int64 (scalar);
    h = tensor([1.5,-2]) float16; m = tensor([True, False])."""
    a = torch.arange(18, dtype=torch.float32).reshape(2, 1, 3, 3) / 4
    return OrderedDict(a=a, t=torch.arange(6, dtype=torch.float64).reshape(2, 3).t(), b=a[1],
                       n=torch.tensor(7), h=torch.tensor([1.5, -2.0], dtype=torch.float16), m=torch.tensor([True, False]))


def legacy_header():
    b = io.BytesIO()
    for obj in [0x1950a86a20f9469cfc6c, 1001, {"protocol_version": 1001, "little_endian": True,
                                                 "type_sizes": {"short": 2, "int": 4, "long": 4}}]:
        pickle.dump(obj, b, protocol=2)
    return b.getvalue()


def pyfiles():
    torch.save(tiny_state(), os.path.join(HERE, "tiny_zip.pth"))
    torch.save(tiny_state(), os.path.join(HERE, "tiny_legacy.pth"), _use_new_zipfile_serialization=False)
    # GLOBAL 'os system', then ('echo pwned',), REDUCE: the classic pickle exploit.
    evil = b"\x80\x02cos\nsystem\nX\x0a\x00\x00\x00echo pwned\x85R."
    with open(os.path.join(HERE, "evil_os_system.pth"), "wb") as f:
        f.write(legacy_header() + evil + pickle.dumps([], protocol=2))
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", b"\x80\x02cbuiltins\neval\nX\x0b\x00\x00\x00print('hi')\x85R.")
        zf.writestr("archive/version", b"3\n")
    with open(os.path.join(HERE, "evil_eval_zip.pth"), "wb") as f:
        f.write(z.getvalue())
    with open(os.path.join(HERE, "evil_reduce.pkl"), "wb") as f:
        f.write(b"\x80\x04\x8c\x05posix\x94\x8c\x06system\x94\x93\x94\x8c\x02id\x94\x85\x94R\x94.")


# ---------------------------------------------------------------- a ResNet-18 in the authors' names
class Block(torch.nn.Module):
    """Our own minimal CIFAR BasicBlock with the parameter names of the PAGs code (conv1, bn1, conv2, bn2, shortcut.0/1)."""
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(cout)
        self.conv2 = torch.nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(cout)
        self.shortcut = torch.nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 1, stride, bias=False), torch.nn.BatchNorm2d(cout))

    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(h)) + self.shortcut(x))


class TinyResNet18(torch.nn.Module):
    """ResNet-18, CIFAR layout, width w (the authors use w = 64), average pool over the whole 4x4 map."""
    def __init__(self, w, classes=10):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, w, 3, 1, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(w)
        cin = w
        for i, (cout, stride) in enumerate([(w, 1), (2 * w, 2), (4 * w, 2), (8 * w, 2)]):
            setattr(self, f"layer{i + 1}", torch.nn.Sequential(Block(cin, cout, stride), Block(cout, cout, 1)))
            cin = cout
        self.linear = torch.nn.Linear(8 * w, classes)

    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        h = self.layer4(self.layer3(self.layer2(self.layer1(h))))
        return self.linear(torch.nn.functional.avg_pool2d(h, 4).flatten(1))


def resnet_fixture():
    """resnet18_w2_dataparallel.pth: a width-2 ResNet-18 saved from torch.nn.DataParallel ("module." names),
    random weights and BatchNorm statistics (seed 0); resnet18_w2_logits.json: its eval-mode logits on
    (image("random", 11, 3, 32) + 1) / 2 and (image("smooth", 12, 3, 32) + 1) / 2 (pixels in [0,1])."""
    torch.manual_seed(0)
    net = TinyResNet18(2)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2); m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5); m.bias.data.uniform_(-0.2, 0.2); m.num_batches_tracked.fill_(5)
    net.eval()
    torch.save(torch.nn.DataParallel(net).state_dict(), os.path.join(HERE, "resnet18_w2_dataparallel.pth"))
    x = torch.stack([(image("random", 11, 3, 32) + 1) / 2, (image("smooth", 12, 3, 32) + 1) / 2])
    with torch.no_grad():
        logits = net(x)
    with open(os.path.join(HERE, "resnet18_w2_logits.json"), "w") as f:
        json.dump({"recipe": resnet_fixture.__doc__, "logits": logits.tolist()}, f, indent=1)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--lpips-repo", required=True, help="a checkout of richzhang/PerceptualSimilarity")
    p.add_argument("--squeeze-weights", required=True, help="lpips-squeeze-v0.1.safetensors")
    args = p.parse_args()
    pyfiles()
    resnet_fixture()
    reference(args)
