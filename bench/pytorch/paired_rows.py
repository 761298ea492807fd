#!/usr/bin/env python3
"""Paired, interleaved resnet18 training rows: PagLab's child process, then PyTorch's, then again, so
a change in the machine's speed over the run (a shared 2-core VM drifts by 20% over minutes) hits both
sides alike. Each pair gives one speed ratio; the report takes the median over pairs. Each round also runs
the lean PyTorch loop (bench_torch.train_step_row, lean=True) right after, for the ratio against the fastest
plain PyTorch. Usage: paired_rows.py --bench PagLab.Bench.dll --out pairs.json [--rounds 5] [--threads 2]
[--repeats 3] [--partial pairs.partial --fingerprint F [--resume]] (each finished round is written to the partial
file; --resume goes on after the rounds a run with the same fingerprint finished)"""
import argparse, json, os, subprocess, sys

OBJECTIVES = ["standard", "gnorm", "smooth", "randsmooth", "pgd3"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True); ap.add_argument("--out", required=True)
    ap.add_argument("--rounds", type=int, default=5); ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3); ap.add_argument("--partial", default="")
    ap.add_argument("--fingerprint", default=""); ap.add_argument("--resume", action="store_true")
    args = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    pairs, done = {}, 0
    if args.resume and args.partial and os.path.exists(args.partial):
        earlier = json.load(open(args.partial))
        if earlier.get("fingerprint") == args.fingerprint and earlier.get("repeats") == args.repeats:
            pairs, done = earlier["pairs"], earlier["rounds_done"]
            print(f"resuming after {done} finished round(s) from {args.partial}", file=sys.stderr)
    for round_ in range(done, args.rounds):
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
        if args.partial:
            write(args.partial, {"fingerprint": args.fingerprint, "repeats": args.repeats, "rounds_done": round_ + 1,
                                 "pairs": pairs})
    write(args.out, {"rounds": args.rounds, "repeats": args.repeats, "pairs": pairs})


def step_ms(stdout):
    """A train-row child's median step ms, from the JSON line it prints last (PagLab's {"Row": ...} or PyTorch's)."""
    row = json.loads(next(l for l in reversed(stdout.splitlines()) if l.startswith("{")))
    return row["Row"]["MedianMs"] if "Row" in row else row["median_ms"]


def write(path, value):
    """Temp file and rename, so an interrupted run never leaves half a file."""
    with open(path + ".tmp", "w") as f: json.dump(value, f, indent=1)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
