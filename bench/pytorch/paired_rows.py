#!/usr/bin/env python3
"""Paired, interleaved resnet18 training rows: PagLab's child process, then PyTorch's, then again, so
a change in the machine's speed over the run (a shared 2-core VM drifts by 20% over minutes) hits both
sides alike. Each pair gives one speed ratio; the report takes the median over pairs. Each round also runs
the lean PyTorch loop (bench_torch.train_step_row, lean=True) right after, for the ratio against the fastest
plain PyTorch. Usage: paired_rows.py --bench PagLab.Bench.dll --out pairs.json [--rounds 5] [--threads 2]
[--repeats 3]"""
import argparse, json, os, subprocess, sys

OBJECTIVES = ["standard", "gnorm", "smooth", "randsmooth", "pgd3"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True); ap.add_argument("--out", required=True)
    ap.add_argument("--rounds", type=int, default=5); ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    pairs = {}
    for round_ in range(args.rounds):
        for objective in OBJECTIVES:
            common = ["resnet18", objective, str(args.repeats), str(args.threads)]
            ours = json.loads(subprocess.run(["dotnet", args.bench, "train-row"] + common, check=True,
                                             capture_output=True, text=True).stdout)
            theirs = json.loads(subprocess.run([sys.executable, os.path.join(here, "bench_measure.py"), "train-row"]
                                               + common, check=True, capture_output=True, text=True).stdout)
            lean = json.loads(subprocess.run([sys.executable, os.path.join(here, "bench_measure.py"), "train-row"]
                                             + common + ["lean"], check=True, capture_output=True, text=True).stdout)
            pair = {"paglab_ms": ours["Row"]["MedianMs"], "torch_ms": theirs["median_ms"],
                    "torch_lean_ms": lean["median_ms"]}
            pairs.setdefault(f"train-step/resnet18/{objective}", []).append(pair)
            print(f"pair {round_ + 1} resnet18 {objective}: PagLab {pair['paglab_ms']:.0f} ms, PyTorch "
                  f"{pair['torch_ms']:.0f} ms ({pair['torch_ms'] / pair['paglab_ms']:.2f}x), lean PyTorch "
                  f"{pair['torch_lean_ms']:.0f} ms ({pair['torch_lean_ms'] / pair['paglab_ms']:.2f}x)", file=sys.stderr)
    json.dump({"rounds": args.rounds, "repeats": args.repeats, "pairs": pairs}, open(args.out, "w"), indent=1)


if __name__ == "__main__":
    main()
