#!/usr/bin/env python3
"""Where a resnet18 training step's time goes on both sides, from oneDNN's own verbose log: each side runs the
row in a fresh process (1 warm-up + REPEATS steps) with ONEDNN_VERBOSE=profile_exec (libtorch 2.10's oneDNN 3.x;
PyTorch 1.13's oneDNN 2.6 reads DNNL_VERBOSE=1), and the exec lines are summed by primitive kind, implementation
and propagation kind. The step's time outside oneDNN (ATen kernels, autograd, allocation) is the rest.
Usage: dnnl_profile.py --bench PagLab.Bench.dll --out profile.json [--rows gnorm,smooth] [--repeats 2]
[--threads 2]"""
import argparse, collections, os, subprocess, sys

from paired_rows import step_ms, write  # the child's step time; temp file and rename

# oneDNN 3.x (PagLab's libtorch) takes the named level; 2.6 (PyTorch 1.13) only numbers, under either prefix.
VERBOSE = {"paglab": {"ONEDNN_VERBOSE": "profile_exec"}, "torch": {"ONEDNN_VERBOSE": "1", "DNNL_VERBOSE": "1"}}


def summarise(text, steps):
    """oneDNN exec lines -> per-step milliseconds by (kind, implementation, propagation), largest first."""
    total, calls = collections.Counter(), collections.Counter()
    for line in text.splitlines():
        if "verbose" not in line or ",exec," not in line: continue
        f = line.strip().split(",")
        i = f.index("exec")
        try: ms = float(f[-1])
        except ValueError: continue
        key = " ".join(f[i + 2:i + 5])  # e.g. "convolution brg_conv_fwd:avx2 forward_training"
        total[key] += ms; calls[key] += 1
    return {"onednn_ms_per_step": round(sum(total.values()) / steps, 1),
            "calls_per_step": round(sum(calls.values()) / steps, 1),
            "top": [{"primitive": k, "ms_per_step": round(v / steps, 1), "calls_per_step": round(calls[k] / steps, 1)}
                    for k, v in total.most_common(8)]}


def run(side, cmd, steps):
    env = dict(os.environ, **VERBOSE[side])
    done = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    return dict(summarise(done.stdout + done.stderr, steps), step_ms=round(step_ms(done.stdout), 1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True); ap.add_argument("--out", required=True)
    ap.add_argument("--rows", default="standard,gnorm,smooth,randsmooth,pgd3")
    ap.add_argument("--repeats", type=int, default=2); ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    here, steps = os.path.dirname(os.path.abspath(__file__)), args.repeats + 1
    out = {"steps": steps, "verbose": VERBOSE, "rows": {}}
    for objective in args.rows.split(","):
        common = ["resnet18", objective, str(args.repeats), str(args.threads)]
        row = {"paglab": run("paglab", ["dotnet", args.bench, "train-row"] + common, steps),
               "torch": run("torch", [sys.executable, os.path.join(here, "bench_measure.py"), "train-row"] + common,
                            steps)}
        out["rows"][f"train-step/resnet18/{objective}"] = row
        print(f"oneDNN profile resnet18 {objective}: PagLab {row['paglab']['onednn_ms_per_step']:.0f} of "
              f"{row['paglab']['step_ms']:.0f} ms per step in oneDNN, PyTorch {row['torch']['onednn_ms_per_step']:.0f}"
              f" of {row['torch']['step_ms']:.0f} ms", file=sys.stderr)
    write(args.out, out)


if __name__ == "__main__":
    main()
