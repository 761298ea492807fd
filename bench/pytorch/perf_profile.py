#!/usr/bin/env python3
"""Where a training step's CPU time goes on both sides, by `perf record -e cpu-clock` (software sampling;
this VM has no hardware counters): each side runs the row in a fresh process twice, with REPEATS timed steps and
with 1, both after the same warm-up step, and the difference of the two sample counts, divided by REPEATS - 1, is
one step's profile with start-up, imports, JIT and the warm-up cancelled out. Samples are summed per shared object
and symbol, then grouped: the kernel (page faults and the zeroing of fresh pages, mmap/munmap, futex waits),
libgomp (OpenMP's waiting and barriers), anonymous JIT code (oneDNN's generated kernels), oneDNN's compiled code,
ATen and autograd (the rest of libtorch), libc (malloc, memcpy, memset) and the language runtime (.NET or Python).
CPU milliseconds, both threads together, so a 2-thread step's total can reach twice its wall time.
Usage: perf_profile.py --bench PagLab.Bench.dll --out profile.json [--rows resnet18/gnorm,smallcnn/standard]
[--repeats 3] [--threads 2] [--frequency 499]"""
import argparse, collections, glob, os, re, subprocess, sys, tempfile

from paired_rows import step_ms, write  # the child's step time; temp file and rename

GROUPS = ["kernel", "OpenMP runtime", "JIT code (oneDNN kernels)", "oneDNN compiled code", "ATen and autograd",
          "libc", "language runtime", "other"]


def group(dso, symbol):
    """The group a sample's shared object and symbol belong to (GROUPS)."""
    if dso == "[kernel.kallsyms]": return "kernel"
    if "libgomp" in dso or "libomp" in dso: return "OpenMP runtime"
    if dso.startswith("perf-") and dso.endswith(".map"): return "language runtime"  # .NET's methods (perf map)
    if dso in ("[unknown]", "[anon]") or dso.startswith(("//anon", "[JIT]")): return "JIT code (oneDNN kernels)"
    if "dnnl" in dso or re.search(r"\b(dnnl|ideep|mkldnn)::", symbol) or "libmkldnn" in dso:
        return "oneDNN compiled code"
    if "libtorch" in dso or "libc10" in dso or "_C." in dso: return "ATen and autograd"
    if dso.startswith(("libc.so", "libc-", "libm.so", "ld-linux", "libstdc++")): return "libc"
    if any(k in dso for k in ("coreclr", "clrjit", "System.", "TorchSharp", "LibTorchSharp", "python", ".dll")):
        return "language runtime"
    return "other"


def samples(data):
    """perf.data -> Counter over (dso, symbol)."""
    out = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "dso,sym",
                          "-F", "sample,dso,sym", "-t", "\t", "-q"], check=True, capture_output=True, text=True).stdout
    counts = collections.Counter()
    for line in out.splitlines():
        parts = [p.strip() for p in line.split("\t")]
        if len(parts) < 3 or not parts[0].isdigit(): continue
        symbol = re.sub(r"^\[[.kgu]\] ", "", parts[2])
        counts[(parts[1], symbol)] += int(parts[0])
    return counts


def record(cmd, frequency):
    """Runs cmd under perf record; returns (sample counts, the row's median step ms from its JSON line). .NET
    writes its methods' names to a perf map, so its JIT code is told apart from oneDNN's (which stays anonymous)."""
    maps = set(glob.glob("/tmp/perf*-*.map"))
    with tempfile.TemporaryDirectory() as d:
        data = os.path.join(d, "perf.data")
        done = subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", str(frequency), "-o", data, "--"]
                              + cmd, check=True, capture_output=True, text=True,
                              env=dict(os.environ, DOTNET_PerfMapEnabled="1"))
        counts = samples(data)
    for new in set(glob.glob("/tmp/perf*-*.map")) - maps: os.remove(new)  # the child's perf map, read above
    return counts, step_ms(done.stdout)


def short(symbol, width=160):
    """A demangled C++ name without its parameter list, shortened for a table: ATen's loop wrapper
    (c10::function_ref<...>::callback_fn<...>) is dropped, so what shows is the kernel's own lambda."""
    symbol = symbol.replace("(anonymous namespace)", "{anon}")
    wrapper = "c10::function_ref<void (char**, long const*, long, long)>::callback_fn<"
    if symbol.startswith(wrapper): symbol = symbol[len(wrapper):]
    depth, cut = 0, len(symbol)
    for i, c in enumerate(symbol):  # the parameter list starts at the first '(' outside template brackets
        depth += (c == "<") - (c == ">")
        if c == "(" and depth <= 0 and i > 0: cut = i; break
    s = symbol[:cut]
    return s if len(s) <= width else s[:width - 3] + "..."


def profile(cmd, repeats, frequency):
    """One step's CPU ms by group and by symbol: the run with `repeats` steps minus the run with 1."""
    (many, median_ms), (one, _) = record(cmd(repeats), frequency), record(cmd(1), frequency)
    per_ms = 1000.0 / frequency / (repeats - 1)
    diff = {k: (many[k] - one.get(k, 0)) * per_ms for k in many.keys() | one.keys()}
    groups = collections.Counter()
    for (dso, symbol), ms in diff.items(): groups[group(dso, symbol)] += ms
    by_symbol = collections.Counter()
    for (dso, symbol), ms in diff.items(): by_symbol[f"{os.path.basename(dso)} {short(symbol)}"] += ms
    return {"step_ms": round(median_ms, 1), "cpu_ms_per_step": round(sum(diff.values()), 1),
            "groups": {g: round(groups.get(g, 0.0), 1) for g in GROUPS},
            "top": [{"symbol": s, "ms_per_step": round(ms, 1)} for s, ms in by_symbol.most_common(12)]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True); ap.add_argument("--out", required=True)
    ap.add_argument("--rows", default="resnet18/gnorm,resnet18/standard,smallcnn/gnorm,smallcnn/standard")
    ap.add_argument("--repeats", type=int, default=3, help="timed steps of a resnet18 row (smallcnn: 20x as many)")
    ap.add_argument("--threads", type=int, default=2); ap.add_argument("--frequency", type=int, default=499)
    args = ap.parse_args()
    if args.repeats < 2: sys.exit("perf_profile.py: --repeats must be at least 2 (one step is the difference)")
    here = os.path.dirname(os.path.abspath(__file__))
    out = {"repeats": {}, "frequency_hz": args.frequency, "event": "cpu-clock", "rows": {}}
    for name in args.rows.split(","):
        arch, objective = name.split("/")
        repeats = args.repeats * (20 if arch == "smallcnn" else 1)  # a smallcnn step is ~80x shorter
        def row_args(r): return [arch, objective, str(r), str(args.threads)]
        def ours(r): return ["dotnet", args.bench, "train-row"] + row_args(r)
        def theirs(r): return [sys.executable, os.path.join(here, "bench_measure.py"), "train-row"] + row_args(r)
        row = {"paglab": profile(ours, repeats, args.frequency), "torch": profile(theirs, repeats, args.frequency)}
        out["rows"][f"train-step/{name}"] = row; out["repeats"][f"train-step/{name}"] = repeats
        print(f"perf profile {name}: PagLab {row['paglab']['cpu_ms_per_step']:.0f} CPU ms per step, "
              f"PyTorch {row['torch']['cpu_ms_per_step']:.0f}", file=sys.stderr)
    write(args.out, out)


if __name__ == "__main__":
    main()
