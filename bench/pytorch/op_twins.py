"""Minimal single-op twins of bench/PagLab.Bench/OpTwins.cs: the same op, shape and pass on both sides
(batch 128, 64 channels, 32x32; forward, backward of a fixed random readout, and the gradient-norm
double backward), so a difference is a libtorch build difference, not PagLab.
`op_twins.py profile [--threads 2] [--calls 20] [--rows twin/relu/]` prints the load-independent counts per
call that `PagLab.Bench op-profile` prints for PagLab (page faults, CPU time, resident set)."""
import json, resource, sys, time
import torch
import torch.nn.functional as F


def passes(wanted):
    """Each twin op and pass as one call, named twin/op/pass."""
    torch.manual_seed(0)
    x0 = torch.randn(128, 64, 32, 32); readout = torch.randn(128, 64, 32, 32)
    conv_w = (torch.randn(64, 64, 3, 3) * 0.05).requires_grad_()
    bn_w = torch.ones(64, requires_grad=True); bn_b = torch.zeros(64, requires_grad=True)
    ops = [("conv3x3", lambda x: F.conv2d(x, conv_w, padding=1), [conv_w]),
           ("batchnorm", lambda x: F.batch_norm(x, None, None, bn_w, bn_b, training=True), [bn_w, bn_b]),
           ("relu", F.relu, [])]
    for name, op, params in ops:
        if not wanted(f"twin/{name}/"): continue
        r = readout.detach().requires_grad_()  # a parameter of the graph, so relu's double backward has work
        everything = params + [r]

        def zero(everything=everything):
            for p in everything:
                if p.grad is not None: p.grad.zero_()

        def forward(op=op):
            with torch.no_grad(): op(x0).sum().item()

        def backward(op=op, r=r, zero=zero):
            zero(); x = x0.detach().requires_grad_(); (op(x) * r).sum().backward()

        def double_backward(op=op, r=r, zero=zero):
            zero(); x = x0.detach().requires_grad_()
            g = torch.autograd.grad((op(x) * r).sum(), x, create_graph=True)[0]
            g.pow(2).sum().backward()
        yield f"twin/{name}/forward", forward
        yield f"twin/{name}/backward", backward
        yield f"twin/{name}/double-backward", double_backward


def rows(timeit, wanted):
    out = {}
    for name, fn in passes(wanted):
        row = timeit(fn, 1, 5); row["items"] = 128
        out[name] = row
        if name.endswith("/double-backward"):
            op = name.rsplit("/", 1)[0]
            print(f"{op}: " + ", ".join(f"{k.split('/')[2]} {v['median_ms']:.1f} ms"
                                        for k, v in out.items() if k.startswith(op + "/")), file=sys.stderr)
    return out


def profile(argv):
    arg = lambda name, default: argv[argv.index(name) + 1] if name in argv else default
    calls = int(arg("--calls", "20")); prefixes = arg("--rows", "twin/").split(",")
    torch.set_num_threads(int(arg("--threads", "2")))
    result = {}
    for name, fn in passes(lambda n: any(n.startswith(p) or p.startswith(n) for p in prefixes)):
        if not any(name.startswith(p) for p in prefixes): continue
        fn(); fn()  # warm-up, as on PagLab's side
        before, t = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        for _ in range(calls): fn()
        after, wall = resource.getrusage(resource.RUSAGE_SELF), (time.perf_counter() - t) * 1000
        per = lambda v: round(v / calls, 2) if calls else 0
        rss = int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize() >> 20
        result[name] = {"minflt": per(after.ru_minflt - before.ru_minflt), "majflt": per(after.ru_majflt - before.ru_majflt),
                        "user_ms": per((after.ru_utime - before.ru_utime) * 1000),
                        "sys_ms": per((after.ru_stime - before.ru_stime) * 1000), "wall_ms": per(wall), "rss_mb": rss,
                        "ctx_switches": per(after.ru_nvcsw - before.ru_nvcsw + after.ru_nivcsw - before.ru_nivcsw)}
        print(f"{name}: {json.dumps(result[name])}", file=sys.stderr)
    text = json.dumps({"calls": calls, "threads": torch.get_num_threads(), "rows": result}, indent=1)
    if "--out" in argv: open(arg("--out", ""), "w").write(text + "\n")
    else: print(text)


if __name__ == "__main__" and sys.argv[1:2] == ["profile"]:
    profile(sys.argv[2:])
