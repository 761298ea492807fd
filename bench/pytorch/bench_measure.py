#!/usr/bin/env python3
"""PyTorch twins of PagLab's measurement rows, written the way the PAGs authors' code does each measurement
(tml-tuebingen/pags: experiments/measure_manifold_robustness.py, experiments/measure_score_alignment.py with
utils/edm_score.input_gradient_sum, notebooks/MNISTDistractor.ipynb, the pgd_l2_ loop of utils/regularized_loss.py)
and Cohen et al.'s smoothing/core.py `certify` (locuslab/smoothing). Our own code; nothing here is copied.
Their per-image loops, batch-1 forwards and `.item()` calls are kept; every twin runs under torch.no_grad() where
the authors let autograd record (that only helps PyTorch). The sizes must equal PagLab's MeasurementRows.cs.

Also the child-process side of the peak-memory rows: `bench_measure.py train-row ...` runs one training row in a
fresh process and prints its time and peak resident set (VmHWM) as JSON."""
import argparse, json, math, statistics, subprocess, sys

import numpy as np
import torch
import torch.nn.functional as F

from bench_torch import SmallCnn, UNet, edm_score, squeeze_lpips, timeit, train_step_row

EPSILONS = list(np.logspace(-3, 2, num=20)[12:16])  # the authors' on/off-manifold step sizes
SIGMAS = [0.0, 0.1, 0.5, 1.0]                         # distractor noise levels


def sizes(quick):
    """(images) per measurement row, the same numbers as MeasurementRows.Sizes."""
    return {"manifold": 8 if quick else 128, "alignment": 16 if quick else 128, "distractor": 8 if quick else 128,
            "pgd20": 32 if quick else 256, "certify": 2 if quick else 16}


def softmax_l1(x, y):
    return (F.softmax(x, dim=1) - F.softmax(y, dim=1)).abs().sum(axis=1)


# --- on/off-manifold (measure_manifold_robustness.py) ---
def project_into_tangent_space(tangent_space, vector):
    """Their coefficient loop over the tangent directions. The bases come in orthonormal, as PagLab's do; the
    authors re-orthonormalise them here (scipy orth) on every image, which the twin leaves out."""
    dim, channels, size = tangent_space.shape[0], tangent_space.shape[1], tangent_space.shape[2]
    coeff = np.zeros(dim)
    for i in range(dim):
        coeff[i] = tangent_space[i, :, :].flatten() @ vector.flatten()
    return (coeff @ tangent_space.reshape((dim, -1))).reshape((channels, size, size))


def manifold_row(images, rank, warmup, repeats):
    torch.manual_seed(0)
    model = SmallCnn().eval()
    x = torch.rand(images, 1, 28, 28)
    bases = np.linalg.qr(np.random.default_rng(0).standard_normal((images, 784, rank)))[0]   # (N, d, r)
    tangents = [b.T.reshape(rank, 1, 28, 28).astype(np.float32) for b in bases]

    def run():
        on = {e: [] for e in EPSILONS}; off = {e: [] for e in EPSILONS}
        with torch.no_grad():
            for idx in range(images):
                img = x[idx:idx + 1]
                logits = model(img).detach()
                noise = torch.randn_like(img.squeeze(0)).numpy()
                tangent_noise = project_into_tangent_space(tangents[idx], noise)
                ortho_noise = noise - tangent_noise
                tangent_noise = torch.from_numpy(tangent_noise / np.linalg.norm(tangent_noise))
                ortho_noise = torch.from_numpy(ortho_noise / np.linalg.norm(ortho_noise))
                for epsilon in EPSILONS:
                    on[epsilon].append((logits, model((img + epsilon * tangent_noise).to(torch.float32)).detach()))
                    off[epsilon].append((logits, model((img + epsilon * ortho_noise).to(torch.float32)).detach()))
        return {e: (torch.stack([softmax_l1(a, b) for a, b in on[e]]).mean().item(),
                    torch.stack([softmax_l1(a, b) for a, b in off[e]]).mean().item()) for e in EPSILONS}
    return timeit(run, warmup, repeats)


# --- alignment (measure_score_alignment.py) ---
def ssim(a, b, data_range=2.0, size=11, sigma=1.5):
    """Mean SSIM per image (Wang et al. 2004), Gaussian window, valid positions, float64: what PagLab reports too."""
    a, b = a.double(), b.double()
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = (-(r * r) / (2 * sigma ** 2)).exp(); g = g / g.sum()
    w = torch.outer(g, g).expand(a.shape[1], 1, size, size)
    f = lambda t: F.conv2d(t, w, groups=a.shape[1])
    mx, my = f(a), f(b)
    vx, vy, cxy = f(a * a) - mx * mx, f(b * b) - my * my, f(a * b) - mx * my
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    m = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return m.flatten(1).mean(1)


def input_gradient_sum(model, img):
    img.requires_grad = True
    model.zero_grad()
    model(img).sum().backward()
    result = img.grad.detach().cpu()
    model.zero_grad()
    img.grad = None
    return result


def alignment_row(images, lpips_weights, warmup, repeats, batch=64, sigma=0.25):
    torch.manual_seed(0)
    model = SmallCnn().eval(); net = UNet().eval()
    lpips = squeeze_lpips(lpips_weights)
    x = torch.rand(images, 1, 28, 28)

    def run():
        scores = torch.vstack([edm_score(net, x[i:i + batch], sigma) for i in range(0, images, batch)])
        for idx in range(scores.shape[0]):
            scores[idx] = scores[idx] / scores[idx].abs().max()
        gradients = torch.cat([input_gradient_sum(model, x[i:i + batch].clone()) for i in range(0, images, batch)])
        for idx in range(gradients.shape[0]):
            gradients[idx] = gradients[idx] / gradients[idx].abs().max()
        with torch.no_grad():
            distances = [lpips(gradients[i:i + 1], scores[i:i + 1]).item() for i in range(images)]
            similarity = ssim(gradients, scores)
            cosine = F.cosine_similarity(gradients.double().flatten(1), scores.double().flatten(1))
        return statistics.mean(distances), similarity.mean().item(), cosine.mean().item()
    return timeit(run, warmup, repeats)


# --- distractor (MNISTDistractor.ipynb) ---
def distractor_row(images, warmup, repeats):
    torch.manual_seed(0)
    model = SmallCnn(h=56, w=28).eval()
    x = torch.rand(images, 56, 28); labels = torch.randint(0, 10, (images,))
    on_top = (torch.rand(images) < 0.5).tolist()      # digit on top, distractor below (else the other way)

    def run():
        results = {}
        with torch.no_grad():
            for sigma in SIGMAS:
                clean, signal, distractor = [], [], []
                for img, top in zip(x, on_top):
                    noise = sigma * torch.randn_like(img)
                    clean.append(model(img.unsqueeze(0).unsqueeze(0)).detach())
                    noisy = img.clone().detach()
                    if top: noisy[:28, :] = noisy[:28, :] + noise[:28, :]
                    else: noisy[28:, :] = noisy[28:, :] + noise[28:, :]
                    signal.append(model(noisy.unsqueeze(0).unsqueeze(0)).detach())
                    noisy = img.clone().detach()
                    if not top: noisy[:28, :] = noisy[:28, :] + noise[:28, :]
                    else: noisy[28:, :] = noisy[28:, :] + noise[28:, :]
                    distractor.append(model(noisy.unsqueeze(0).unsqueeze(0)).detach())
                clean, signal, distractor = torch.vstack(clean), torch.vstack(signal), torch.vstack(distractor)
                ratio = softmax_l1(signal, clean).mean().item() / (softmax_l1(distractor, clean).mean().item() + 1e-12)
                results[sigma] = (ratio,
                                  (signal.argmax(1) == labels).float().mean().item(),
                                  (distractor.argmax(1) == labels).float().mean().item())
        return results
    return timeit(run, warmup, repeats)


# --- evaluation under PGD-20 (their pgd_l2_ loop, in eval mode) ---
def pgd_l2_(model, X, y, epsilon, num_iter):
    delta = torch.rand_like(X, requires_grad=True)
    delta.data = epsilon * delta.data / torch.linalg.norm(delta.flatten()) / 2
    alpha = 2 * epsilon / num_iter
    for _ in range(num_iter):
        loss = torch.nn.CrossEntropyLoss()(model(X + delta), y)
        loss.backward()
        step = delta.grad.detach()
        delta.data = delta.data + alpha * step / torch.linalg.norm(step.flatten())
        norm = torch.linalg.norm(delta.flatten())
        if norm > epsilon: delta.data = epsilon * delta.data / norm
        delta.grad.zero_()
    return delta.detach()


def pgd_eval_row(images, warmup, repeats, epsilon=1.0, steps=20):
    torch.manual_seed(0)
    batch = min(128, images)
    model = SmallCnn().eval()
    x = torch.rand(images, 1, 28, 28); y = torch.randint(0, 10, (images,))

    def run():
        correct = 0
        for i in range(0, images, batch):
            xb, yb = x[i:i + batch], y[i:i + batch]
            delta = pgd_l2_(model, xb, yb, epsilon, steps)
            with torch.no_grad():
                correct += (model(xb + delta).argmax(1) == yb).sum().item()
        return correct / images
    return timeit(run, warmup, repeats)


# --- certification (Cohen et al. 2019, smoothing/core.py) ---
def _beta_cdf(x, a, b, tiny=1e-300):
    """Regularised incomplete beta I_x(a, b) by Lentz's continued fraction (scipy and statsmodels are not
    installed beside Debian's torch; one call per image, so its cost does not matter)."""
    if x <= 0: return 0.0
    if x >= 1: return 1.0
    if x > (a + 1) / (a + b + 2): return 1 - _beta_cdf(1 - x, b, a)
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(1 - x))
    c, d = 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny); h = d
    for m in range(1, 1000):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1 + num * d; d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + num / c; c = c if abs(c) > tiny else tiny
            h *= c * d
        if abs(c * d - 1) < 1e-15: break
    return front * h / a


def proportion_confint_beta_lower(count, nobs, alpha):
    """statsmodels' proportion_confint(count, nobs, alpha, method="beta")[0]: the alpha/2 quantile of
    Beta(count, nobs - count + 1), by bisection."""
    if count == 0: return 0.0
    lo, hi = 0.0, 1.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if _beta_cdf(mid, count, nobs - count + 1) < alpha / 2: lo = mid
        else: hi = mid
    return (lo + hi) / 2


class Smooth:
    ABSTAIN = -1

    def __init__(self, base_classifier, num_classes, sigma):
        self.base_classifier, self.num_classes, self.sigma = base_classifier, num_classes, sigma

    def certify(self, x, n0, n, alpha, batch_size):
        self.base_classifier.eval()
        counts_selection = self._sample_noise(x, n0, batch_size)
        cAHat = counts_selection.argmax().item()
        counts_estimation = self._sample_noise(x, n, batch_size)
        nA = counts_estimation[cAHat].item()
        pABar = proportion_confint_beta_lower(nA, n, 2 * alpha)
        if pABar < 0.5: return Smooth.ABSTAIN, 0.0
        return cAHat, self.sigma * statistics.NormalDist().inv_cdf(pABar)

    def _sample_noise(self, x, num, batch_size):
        with torch.no_grad():
            counts = np.zeros(self.num_classes, dtype=int)
            for _ in range(math.ceil(num / batch_size)):
                this_batch_size = min(batch_size, num)
                num -= this_batch_size
                batch = x.repeat((this_batch_size, 1, 1, 1))
                noise = torch.randn_like(batch) * self.sigma
                predictions = self.base_classifier(batch + noise).argmax(1)
                counts += self._count_arr(predictions.cpu().numpy(), self.num_classes)
            return counts

    def _count_arr(self, arr, length):
        counts = np.zeros(length, dtype=int)
        for idx in arr:
            counts[idx] += 1
        return counts


def certify_row(images, warmup, repeats, n0=100, n=1000, alpha=0.001, batch=500, sigma=0.25):
    torch.manual_seed(0)
    smoothed = Smooth(SmallCnn(), 10, sigma)
    x = torch.rand(images, 1, 28, 28); y = torch.randint(0, 10, (images,))

    def run():  # code/certify.py: one image at a time
        correct = 0
        for i in range(images):
            prediction, radius = smoothed.certify(x[i], n0, n, alpha, batch)
            correct += int(prediction == y[i].item())
        return correct
    return timeit(run, warmup, repeats)


def alignment_parts(images, lpips_weights, repeats, batch=64, sigma=0.25):
    """Where the alignment row's time goes, as PagLab's measure-parts rows: each part alone on all its images."""
    torch.manual_seed(0)
    model = SmallCnn().eval(); net = UNet().eval()
    lpips = squeeze_lpips(lpips_weights)
    x = torch.rand(images, 1, 28, 28)
    parts = {"score": lambda: torch.vstack([edm_score(net, x[i:i + batch], sigma) for i in range(0, images, batch)]),
             "gradient": lambda: torch.cat([input_gradient_sum(model, x[i:i + batch].clone())
                                            for i in range(0, images, batch)]),
             "lpips": lambda: [lpips(x[i:i + 1], x[i:i + 1] * 0.5).item() for i in range(images)],
             "ssim+cosine": lambda: ssim(x, x * 0.5) + F.cosine_similarity(x.double().flatten(1),
                                                                           (x * 0.5).double().flatten(1))}
    rows = {}
    for name, run in parts.items():
        with torch.no_grad() if name != "gradient" else torch.enable_grad():
            rows[f"measure-parts/alignment/{name}"] = timeit(run, 1, repeats)
    return rows


def measurement_rows(quick, lpips_weights, wanted):
    """The five measurement rows, named as PagLab's; `wanted(name)` filters them."""
    s, reps = sizes(quick), (1 if quick else 3)
    rows = {}
    plan = [(f"measure/manifold/smallcnn28/{s['manifold']}img-rank16",
             lambda: manifold_row(s["manifold"], 16, 1, reps)),
            (f"measure/distractor/smallcnn56x28/{s['distractor']}img-4sigmas",
             lambda: distractor_row(s["distractor"], 1, reps)),
            (f"measure/pgd20-eval/smallcnn28/{s['pgd20']}img", lambda: pgd_eval_row(s["pgd20"], 1, reps)),
            (f"measure/certify/smallcnn28/{s['certify']}img-n0-100-n-1000", lambda: certify_row(s["certify"], 1, reps))]
    if lpips_weights:
        plan.insert(1, (f"measure/alignment/smallcnn28/{s['alignment']}img-lpips-squeeze",
                        lambda: alignment_row(s["alignment"], lpips_weights, 1, reps)))
    for name, make in plan:
        if not wanted(name): continue
        rows[name] = make()
        print(f"{name}: {rows[name]['median_ms']:.1f} ms", file=sys.stderr)
    if lpips_weights and wanted("measure-parts/alignment/"):
        rows.update(alignment_parts(s["alignment"], lpips_weights, reps))
    return rows


# --- peak memory of one training row, in a fresh process ---
def status_mb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"): return int(line.split()[1]) / 1024
    return float("nan")


def train_row_in_child(arch, objective, repeats, threads, lean=False):
    """Runs train_step_row in a child process: its time, its peak resident set (VmHWM: everything the process
    held at its fullest, runtime included) and the resident set of the runtime alone before the row.
    lean: the plain PyTorch loop instead of the authors' loop style."""
    out = subprocess.run([sys.executable, __file__, "train-row", arch, objective, str(repeats), str(threads)]
                         + (["lean"] if lean else []), check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    if len(sys.argv) in (6, 7) and sys.argv[1] == "train-row" and sys.argv[6:] in ([], ["lean"]):
        arch, objective, repeats, threads = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
        torch.set_num_threads(threads)
        runtime = status_mb("VmRSS")
        row = train_step_row(arch, objective, 128, 1, repeats, lean=sys.argv[6:] == ["lean"]); row["items"] = 128
        row["peak_rss_mb"] = status_mb("VmHWM"); row["runtime_rss_mb"] = runtime
        print(json.dumps(row))
        return
    sys.exit("usage: bench_measure.py train-row ARCH OBJECTIVE REPEATS THREADS [lean] (the rest runs from bench_torch.py)")


if __name__ == "__main__":
    main()
