#!/usr/bin/env python3
"""PyTorch side of PagLab's benchmark: the same work, done the way the PAGs authors' code does it
(tml-tuebingen/pags: utils/regularized_loss.py, train_models.py, the per-pixel tangent loop of
notebooks/CIFAR10-EstimateTangentSpace.ipynb). Our own script; nothing here is copied.
Writes a JSON of rows {name: {median_ms, p25_ms, p75_ms, repeats, items}}."""
import argparse, json, math, os, statistics, struct, subprocess, sys, time

import torch
import torch.nn as nn
import torch.nn.functional as F


def timeit(fn, warmup, repeats):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter(); fn(); times.append((time.perf_counter() - t) * 1000)
    times.sort()
    q = lambda p: times[min(len(times) - 1, int(round(p * (len(times) - 1))))]
    return {"median_ms": statistics.median(times), "p25_ms": q(0.25), "p75_ms": q(0.75), "repeats": repeats}


class SmallCnn(nn.Module):  # the same layers as PagLab's smallcnn
    def __init__(self, c=1, h=28, w=28, classes=10):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(c, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(64 * (h // 4) * (w // 4), 128), nn.ReLU(), nn.Linear(128, classes))

    def forward(self, x):
        return self.classifier(self.features(x))


class Block(nn.Module):  # CIFAR ResNet-18 basic block, as PagLab's and the authors' models/resnet.py
    def __init__(self, i, o, s):
        super().__init__()
        self.conv1 = nn.Conv2d(i, o, 3, s, 1, bias=False); self.bn1 = nn.BatchNorm2d(o)
        self.conv2 = nn.Conv2d(o, o, 3, 1, 1, bias=False); self.bn2 = nn.BatchNorm2d(o)
        self.shortcut = nn.Sequential() if s == 1 and i == o else nn.Sequential(nn.Conv2d(i, o, 1, s, bias=False), nn.BatchNorm2d(o))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(h)) + self.shortcut(x))


class ResNet18(nn.Module):
    def __init__(self, c=3, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(c, 64, 3, 1, 1, bias=False); self.bn1 = nn.BatchNorm2d(64)
        layers, i = [], 64
        for o, s in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            layers.append(nn.Sequential(Block(i, o, s), Block(o, o, 1))); i = o
        self.layers = nn.Sequential(*layers)
        self.linear = nn.Linear(512, classes)

    def forward(self, x):
        h = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.linear(F.adaptive_avg_pool2d(h, 1).flatten(1))


# --- the authors' objectives (their formulas, our code) ---
def ce(model, x, y):
    return F.cross_entropy(model(x), y)

def gnorm(model, x, y, c=1e-3):
    loss = F.cross_entropy(model(x), y)
    g = torch.autograd.grad(loss, x, only_inputs=True, create_graph=True)[0]
    return loss + c * 1e5 * g.pow(2).sum() / x.size(0)

def smooth(model, x, y, c=1e-1, std=1e-1):
    out = model(x); loss = F.cross_entropy(out, y)
    noisy = model(x + torch.normal(torch.zeros_like(x), std))
    return loss + c * (out - noisy).pow(2).sum() / x.size(0)

def randsmooth(model, x, y, std=0.25):
    return F.cross_entropy(model(x + torch.normal(torch.zeros_like(x), std)), y)

def pgd(k):
    def loss(model, x, y, eps=1.0):
        delta = torch.rand_like(x, requires_grad=True)
        delta.data = eps * delta.data / torch.linalg.norm(delta.flatten()) / 2
        alpha = 2 * eps / k
        for _ in range(k):  # their loop: backward() also accumulates into the parameters' grads
            F.cross_entropy(model(x + delta), y).backward()
            step = delta.grad.detach(); delta.data = delta.data + alpha * step / torch.linalg.norm(step.flatten())
            n = torch.linalg.norm(delta.flatten())
            if n > eps: delta.data = eps * delta.data / n
            delta.grad.zero_()
        return F.cross_entropy(model(x + delta.detach()), y)
    return loss


OBJECTIVES = {"standard": ce, "gnorm": gnorm, "smooth": smooth, "randsmooth": randsmooth, "pgd3": pgd(3), "pgd10": pgd(10)}


def train_step_row(arch, objective, batch, warmup, repeats, lean=False):
    """One training step timed. lean: the fastest plain PyTorch loop for the same model, data and objective
    (input gradients switched on once, only where the objective takes them; gradients set to None; no
    `.item()`), beside the authors' loop style."""
    torch.manual_seed(0)
    model = SmallCnn() if arch == "smallcnn" else ResNet18()
    shape = (batch, 1, 28, 28) if arch == "smallcnn" else (batch, 3, 32, 32)
    x0 = torch.rand(shape); y = torch.randint(0, 10, (batch,))
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    model.train()
    fn = OBJECTIVES[objective]
    if lean and objective == "gnorm": x0.requires_grad_()

    def step():
        x = x0.clone().requires_grad_()  # train_models.py: x.requires_grad_() for every batch
        opt.zero_grad(); model.zero_grad()
        loss = fn(model, x, y)
        loss.backward(); opt.step()
        loss.item()  # their metadata .item() calls

    def lean_step():
        opt.zero_grad(set_to_none=True)
        fn(model, x0, y).backward(); opt.step()
    return timeit(lean_step if lean else step, warmup, repeats)


def profile_rows(warmup=1, repeats=3, batch=128):
    """The resnet18 step in parts, named as PagLab's profile rows: forward, forward + backward, the
    gradient-norm step's forward + input gradient (create_graph) and its double backward, and the whole
    standard step with channels-last layouts."""
    torch.manual_seed(0)
    model = ResNet18(); model.train()
    x = torch.rand(batch, 3, 32, 32); y = torch.randint(0, 10, (batch,))
    rows = {}

    def forward():
        model(x).sum().item()

    def both():
        model.zero_grad(); F.cross_entropy(model(x), y).backward()

    def gnorm_loss():  # PagLab's GradientNormPenalty: per-example input gradients, penalty on their mean squared norm
        xi = x.clone().requires_grad_()
        l = F.cross_entropy(model(xi), y, reduction="none")
        g = torch.autograd.grad(l.sum(), xi, create_graph=True)[0]
        return l.mean() + 1e-3 * 1e5 / batch ** 2 * g.pow(2).flatten(1).sum(1).mean()

    def input_grad():
        gnorm_loss().item()

    def gnorm_all():
        model.zero_grad(); gnorm_loss().backward()
    for name, fn in [("forward", forward), ("forward+backward", both), ("gnorm-forward+input-grad", input_grad),
                     ("gnorm-forward+input-grad+backward", gnorm_all)]:
        rows[f"profile/resnet18/{name}"] = timeit(fn, warmup, repeats)

    cl = ResNet18().to(memory_format=torch.channels_last); cl.train()
    opt = torch.optim.Adam(cl.parameters(), 1e-3)
    xc = x.contiguous(memory_format=torch.channels_last)

    def step():
        xi = xc.clone().requires_grad_()
        opt.zero_grad(); cl.zero_grad()
        loss = F.cross_entropy(cl(xi), y); loss.backward(); opt.step(); loss.item()
    rows["profile/resnet18/standard-step-channels-last"] = timeit(step, warmup, repeats)
    for r in rows.values(): r["items"] = batch
    return rows


def per_pixel_tangent_row(channels, size, latent, images, warmup, repeats):
    """The authors' compute_tangent_space: one backward pass per output pixel, one image at a time,
    on a decoder with the same layers as PagLab's ConvAutoencoder (2 stride-2 stages, base 32)."""
    torch.manual_seed(0)
    flat = 64 * (size // 4) ** 2
    decoder_in = nn.Sequential(nn.Linear(latent, flat), nn.SiLU())
    decoder = nn.Sequential(nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.SiLU(), nn.ConvTranspose2d(32, channels, 4, 2, 1), nn.Sigmoid())
    decode = lambda z: decoder(decoder_in(z).view(-1, 64, size // 4, size // 4))
    zs = torch.randn(images, latent)

    def run():
        for i in range(images):
            z = zs[i].clone().requires_grad_(True)
            out = decode(z.unsqueeze(0)).reshape(-1)
            tangent = torch.zeros((latent, out.shape[0]))
            for p in range(out.shape[0]):
                out[p].backward(retain_graph=True)
                tangent[:, p] = z.grad; z.grad.zero_()
    return timeit(run, warmup, repeats)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n)); data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__": continue
        a, b = v["data_offsets"]
        out[k] = torch.frombuffer(bytearray(data[a:b]), dtype=torch.float32).reshape(v["shape"])
    return out


def squeeze_lpips(weights):
    """LPIPS-squeeze (v0.1) from PagLab's safetensors file: a function (a, b) -> distances (B), inputs in [-1,1];
    one-channel images are repeated to three channels, as PagLab's Lpips does."""
    import torchvision
    w = read_safetensors(weights)
    net = torchvision.models.squeezenet1_1().features
    net.load_state_dict({k[len("features."):]: v for k, v in w.items() if k.startswith("features.")})
    net.eval()
    lins = [w[f"lin{i}.model.1.weight"] for i in range(7)]
    taps = [1, 4, 7, 9, 10, 11, 12]  # relu outputs of the seven LPIPS stages
    shift = torch.tensor([-.030, -.088, -.188]).view(1, 3, 1, 1); scale = torch.tensor([.458, .448, .450]).view(1, 3, 1, 1)

    def feats(x):
        h, out = (x.expand(-1, 3, -1, -1) - shift) / scale, []
        for i, layer in enumerate(net):
            h = layer(h)
            if i in taps: out.append(h)
        return out

    def distance(a, b):
        total = 0
        for fa, fb, lw in zip(feats(a), feats(b), lins):
            na = fa / (fa.pow(2).sum(1, keepdim=True).sqrt() + 1e-10); nb = fb / (fb.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            total = total + F.conv2d((na - nb) ** 2, lw).mean((2, 3))
        return total.flatten()
    return distance


def lpips_row(weights, batch, size, warmup, repeats):
    lpips = squeeze_lpips(weights)
    a = torch.rand(batch, 3, size, size) * 2 - 1; b = torch.rand(batch, 3, size, size) * 2 - 1

    def run():
        with torch.no_grad():
            return lpips(a, b)
    return timeit(run, warmup, repeats)


# --- the score of a batch: PagLab's U-Net (src/PagLab/Score/UNet.cs) and EDM preconditioning, layer for layer ---
class ResBlock(nn.Module):
    def __init__(self, i, o, e):
        super().__init__()
        self.norm1 = nn.GroupNorm(8, i); self.conv1 = nn.Conv2d(i, o, 3, padding=1); self.embedding = nn.Linear(e, o)
        self.norm2 = nn.GroupNorm(8, o); self.conv2 = nn.Conv2d(o, o, 3, padding=1)
        self.skip = nn.Conv2d(i, o, 1) if i != o else None

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x))) + self.embedding(emb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + (x if self.skip is None else self.skip(x))


class UNet(nn.Module):
    def __init__(self, ch=1, c=32, e=128, freqs=16):
        super().__init__()
        self.freqs = freqs
        self.embed1 = nn.Linear(2 * freqs, e); self.embed2 = nn.Linear(e, e)
        self.stem = nn.Conv2d(ch, c, 3, padding=1); self.enc1 = ResBlock(c, c, e)
        self.down1 = nn.Conv2d(c, 2 * c, 3, 2, 1); self.enc2 = ResBlock(2 * c, 2 * c, e)
        self.down2 = nn.Conv2d(2 * c, 2 * c, 3, 2, 1); self.enc3 = ResBlock(2 * c, 2 * c, e); self.mid = ResBlock(2 * c, 2 * c, e)
        self.up2 = nn.Conv2d(2 * c, 2 * c, 3, padding=1); self.dec2 = ResBlock(4 * c, 2 * c, e)
        self.up1 = nn.Conv2d(2 * c, c, 3, padding=1); self.dec1 = ResBlock(2 * c, c, e)
        self.head_norm = nn.GroupNorm(8, c); self.head = nn.Conv2d(c, ch, 3, padding=1)

    def forward(self, x, c_noise):
        f = torch.exp(torch.arange(self.freqs, dtype=x.dtype) * (-math.log(1000) / self.freqs))
        a = c_noise.reshape(-1, 1) * f.reshape(1, -1) * 100
        emb = F.silu(self.embed2(F.silu(self.embed1(torch.cat([a.sin(), a.cos()], 1)))))
        h0 = self.enc1(self.stem(x), emb)
        h1 = self.enc2(self.down1(h0), emb)
        h2 = self.mid(self.enc3(self.down2(h1), emb), emb)
        d1 = self.dec2(torch.cat([self.up2(F.interpolate(h2, size=h1.shape[2:], mode="nearest")), h1], 1), emb)
        d0 = self.dec1(torch.cat([self.up1(F.interpolate(d1, size=h0.shape[2:], mode="nearest")), h0], 1), emb)
        return self.head(F.silu(self.head_norm(d0)))


def edm_score(net, x, sigma, sd=0.5):
    """s(x, sigma) = (D(x, sigma) - x) / sigma^2 with D the EDM-preconditioned U-Net on [-1,1] images
    (one pixel-space sigma is two EDM sigmas, as in PagLab's EdmPreconditioner)."""
    with torch.no_grad():
        s = torch.full((x.shape[0],), 2 * sigma).reshape(-1, 1, 1, 1); y = x * 2 - 1
        c_skip = sd ** 2 / (s ** 2 + sd ** 2); c_out = s * sd / (s ** 2 + sd ** 2).sqrt(); c_in = 1 / (s ** 2 + sd ** 2).sqrt()
        d = (c_skip * y + c_out * net(c_in * y, s.log().flatten() / 4) + 1) / 2
        return (d - x) / sigma ** 2


def score_row(batch, warmup, repeats, sigma=0.5):
    torch.manual_seed(0)
    net = UNet().eval(); x = torch.rand(batch, 1, 28, 28)
    return timeit(lambda: edm_score(net, x, sigma).sum().item(), warmup, repeats)


# The variables that keep libtorch (ATen) and oneDNN below the CPU's best instruction set (bench/run --avx2).
ISA_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")


# Rows whose ratio must not depend on what their process ran before: after the profile rows glibc's heap holds
# a gigabyte of free chunks laid out by chance, which decides whether a 32 MiB tensor costs page faults (PagLab's
# Bench.FreshGroups and docs/BENCHMARKS.md say more). Each group runs in a child process of its own.
FRESH_GROUPS = ("twin/conv3x3/", "twin/batchnorm/", "twin/relu/", "lpips/", "score/")


def fresh_rows(group, quick, lpips_weights):
    """One of FRESH_GROUPS, measured in this process."""
    if group.startswith("twin/"):
        import op_twins
        return op_twins.rows(timeit, lambda name: name.startswith(group))
    if group == "lpips/" and lpips_weights:
        r = lpips_row(lpips_weights, 64, 64, 1, 3 if quick else 10); r["items"] = 64
        return {"lpips/squeeze/64x3x64x64": r}
    if group == "score/":
        r = score_row(128, 1, 3 if quick else 10); r["items"] = 128
        return {"score/unet28/batch128": r}
    return {}


def fresh_rows_in_child(group, threads, quick, lpips_weights):
    out = subprocess.run([sys.executable, __file__, "fresh-rows", group, str(threads), "1" if quick else "0",
                          lpips_weights or ""], check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out)


def main():
    if sys.argv[1:2] == ["fresh-rows"]:  # the child's side of fresh_rows_in_child
        group, threads, quick, weights = sys.argv[2:6]
        torch.set_num_threads(int(threads))
        print(json.dumps(fresh_rows(group, quick == "1", weights or None)))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True); ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true"); ap.add_argument("--lpips-weights")
    ap.add_argument("--rows", default="", help="comma-separated row-name prefixes to run (default: all)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    quick = args.quick
    prefixes = [p for p in args.rows.split(",") if p]
    wanted = lambda name: not prefixes or any(name.startswith(p) for p in prefixes)
    import bench_measure  # imports this module by name, so it is loaded here, not at the top
    rows, peaks = {}, {}
    for arch in ["smallcnn", "resnet18"]:
        for obj in OBJECTIVES:
            if quick and arch == "resnet18" and obj != "standard": continue
            name = f"train-step/{arch}/{obj}"
            if not wanted(name): continue
            reps = (3 if quick else 10) if arch == "smallcnn" else (1 if quick else (2 if obj == "pgd10" else 3))
            # Each training row runs in a fresh process, which also gives its peak resident set.
            r = bench_measure.train_row_in_child(arch, obj, reps, args.threads)
            peaks[name] = {"peak": r.pop("peak_rss_mb"), "runtime": r.pop("runtime_rss_mb")}
            rows[name] = r
            print(f"{arch} {obj}: {r['median_ms']:.1f} ms, peak RSS {peaks[name]['peak']:.0f} MB", file=sys.stderr)
            lean = bench_measure.train_row_in_child(arch, obj, reps, args.threads, lean=True)
            peaks[f"train-step-lean/{arch}/{obj}"] = {"peak": lean.pop("peak_rss_mb"), "runtime": lean.pop("runtime_rss_mb")}
            rows[f"train-step-lean/{arch}/{obj}"] = lean
            print(f"{arch} {obj}, lean loop: {lean['median_ms']:.1f} ms", file=sys.stderr)
    if not quick and wanted("profile/"):
        rows.update(profile_rows())
        print("profile: " + ", ".join(f"{k} {v['median_ms']:.0f} ms" for k, v in rows.items() if k.startswith("profile/")), file=sys.stderr)
    # The single-op twins, LPIPS and the score, each group in a fresh process (see FRESH_GROUPS).
    for group in FRESH_GROUPS:
        if (wanted(group) or any(p.startswith(group) for p in prefixes)) and not (quick and group.startswith("twin/")):
            got = fresh_rows_in_child(group, args.threads, quick, args.lpips_weights)
            rows.update({name: row for name, row in got.items() if wanted(name)})
    if wanted("tangents/784x16/per-pixel-per-image"):
        r = per_pixel_tangent_row(1, 28, 16, 1, 0, 1 if quick else 2); r["items"] = 1
        rows["tangents/784x16/per-pixel-per-image"] = r
    if not quick and wanted("tangents/3072x128/per-pixel-per-image"):
        r = per_pixel_tangent_row(3, 32, 128, 1, 0, 1); r["items"] = 1
        rows["tangents/3072x128/per-pixel-per-image"] = r
    rows.update(bench_measure.measurement_rows(quick, args.lpips_weights, wanted))
    unset = [v for v in os.environ.get("PAGLAB_UNSET_FOR_TORCH", "").split(",") if v]
    json.dump({"torch": torch.__version__, "threads": torch.get_num_threads(), "rows": rows, "peak_rss_mb": peaks,
               "unset_env": unset,
               "isa_env": {v: os.environ[v] for v in ISA_VARIABLES if v in os.environ}},
              open(args.out, "w"), indent=1)


if __name__ == "__main__":
    main()
