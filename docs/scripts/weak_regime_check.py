"""Issue 24's PyTorch check of the weak regime on subspace-gaussians-weak data (docs/subspace-gaussians.md).

Not used by PagLab or its tests: the source of the PyTorch rows of the table in docs/subspace-gaussians.md.
d = 64, 4 signal coordinates with class means +-0.6, within-class std 1, isotropic noise tau = 0.02, 64 training
points, MLP d-H-H-2 (ReLU), 800 steps; off/on = per-direction gradient RMS off over on (gradient of the predicted
class's log-probability at 256 test points), and the same as output change (softmax L1) at several eps.

    python3 weak_regime_check.py HIDDEN BATCH LAMBDAS [--rotate] [--sgd]
    e.g. python3 weak_regime_check.py 512 64 0,0.01,0.1,1,10      (the issue's check)
         python3 weak_regime_check.py 256 16 0 --rotate             (the same data in a random basis)
"""
import sys
import torch

torch.set_num_threads(1)
d, ks, tau, n = 64, 4, 0.02, 64
hidden, batch = int(sys.argv[1]), int(sys.argv[2])
lambdas = [float(v) for v in sys.argv[3].split(",")]
rotate, sgd = "--rotate" in sys.argv, "--sgd" in sys.argv
g = torch.Generator().manual_seed(0)


def sample(m):
    y = torch.randint(0, 2, (m,), generator=g)
    mu = torch.zeros(m, d)
    mu[:, :ks] = (0.6 * (2 * y - 1)).float().unsqueeze(1)
    signal = torch.cat([torch.randn(m, ks, generator=g), torch.zeros(m, d - ks)], 1)
    return mu + signal + tau * torch.randn(m, d, generator=g), y


xtr, ytr = sample(n)
xte, yte = sample(2000)
Q = torch.linalg.qr(torch.randn(d, d, generator=g))[0] if rotate else torch.eye(d)
xtr, xte = xtr @ Q.T, xte @ Q.T
for lam in lambdas:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(d, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, hidden),
                              torch.nn.ReLU(), torch.nn.Linear(hidden, 2))
    opt = torch.optim.SGD(net.parameters(), 0.1, momentum=0.9) if sgd else torch.optim.Adam(net.parameters(), 1e-3)
    for step in range(800):
        idx = torch.arange(n) if batch == n else torch.randperm(n)[:batch]
        x, y = xtr[idx].clone().requires_grad_(True), ytr[idx]
        loss = torch.nn.functional.cross_entropy(net(x), y)
        if lam > 0:  # PagLab's gnorm: lambda x per-example mean squared input-gradient norm
            gr, = torch.autograd.grad(torch.nn.functional.cross_entropy(net(x), y, reduction="sum"), x,
                                      create_graph=True)
            loss = loss + lam * gr.pow(2).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    x = xte[:256].clone().requires_grad_(True)
    lp = net(x).log_softmax(1)
    pred = lp.argmax(1)
    gr, = torch.autograd.grad(lp.gather(1, pred[:, None]).sum(), x)
    gr = gr @ Q  # back to the data's own coordinates
    on, off = gr[:, :ks].pow(2).mean(1).sqrt(), gr[:, ks:].pow(2).mean(1).sqrt()
    bayes = torch.zeros(256, d)
    bayes[:, :ks] = 1.0
    cos = torch.nn.functional.cosine_similarity(gr, bayes * (2 * pred - 1).float()[:, None], dim=1)
    with torch.no_grad():
        acc = (net(xte).argmax(1) == yte).float().mean()
    print(f"lambda {lam}: accuracy {acc:.3f} off/on {off.mean() / on.mean():.2f} Bayes cosine {cos.mean():.2f}")
    for eps in [0.002, 0.02, 0.25, 1.0]:
        with torch.no_grad():
            xs = xte[:256]
            p0 = net(xs).softmax(1)
            change = {}
            for name, part in [("on", slice(0, ks)), ("off", slice(ks, d))]:
                total = 0
                for k in range(8):
                    u = torch.zeros(256, d)
                    u[:, part] = torch.randn(256, part.stop - part.start)
                    u = u / u.norm(dim=1, keepdim=True) * eps @ Q.T
                    total = total + (net(xs + u).softmax(1) - p0).abs().sum(1)
                change[name] = total / 8
            print(f"   eps {eps}: output change off/on {change['off'].mean() / change['on'].mean():.3f}")
