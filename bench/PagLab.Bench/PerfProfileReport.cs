using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

/// <summary>The perf (cpu-clock sampling) profile of training steps, both sides side by side
/// (bench/pytorch/perf_profile.py): one step's CPU time by group (kernel, OpenMP, oneDNN's JIT kernels, ATen and
/// autograd, libc, runtime) and the symbols that take the most.</summary>
static class PerfProfileReport
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static JsonNode? Read(string? path) =>
        path is not null && File.Exists(path) ? JsonNode.Parse(File.ReadAllText(path)) : null;

    public static void Write(StringBuilder md, JsonNode? profile)
    {
        if (profile?["rows"] is not JsonObject rows || rows.Count == 0) return;
        var groups = rows.First().Value!["paglab"]!["groups"]!.AsObject().Select(g => g.Key).ToList();
        md.AppendLine("\n### Where the training steps' CPU time goes, by perf\n");
        var repeats = string.Join(", ", profile["repeats"]!.AsObject().Select(r => $"{r.Key} {r.Value}"));
        md.AppendLine($"`perf record -e {profile["event"]} -F {profile["frequency_hz"]}` (software sampling; this VM "
            + "has no hardware counters) of each side's row in fresh processes, bench/pytorch/perf_profile.py: a "
            + $"run with N timed steps ({repeats}) minus a run with 1, divided by N - 1, so "
            + "start-up, imports, JIT and the warm-up step cancel out. CPU ms per step, both threads together; "
            + "\"kernel\" is mostly page faults and the zeroing of fresh pages (and mmap, munmap, futex), \"JIT "
            + "code\" oneDNN's generated convolution and reorder kernels, \"oneDNN compiled code\" its drivers and "
            + "reference paths, \"other\" the rest (on PyTorch's side Debian's OpenBLAS, whose sgemm runs its linear "
            + "layers). A difference of two samplings is noisy: a group near zero may come out a few ms below it. "
            + "Debian's libtorch 1.13 is stripped, so its own functions show as addresses.\n");
        md.AppendLine($"| row | side | step ms | CPU ms | {string.Join(" | ", groups)} |");
        md.AppendLine($"| --- | --- | --- | --- |{string.Concat(groups.Select(_ => " --- |"))}");
        foreach (var (row, sides) in rows)
            foreach (var (side, label) in new[] { ("paglab", "PagLab"), ("torch", "PyTorch") })
            {
                var s = sides![side]!;
                md.AppendLine($"| {row} | {label} | {N(s["step_ms"])} | {N(s["cpu_ms_per_step"])} | "
                    + $"{string.Join(" | ", groups.Select(g => N(s["groups"]![g])))} |");
            }
        md.AppendLine("\nThe symbols that take the most CPU per step (shared object, function):\n");
        foreach (var (row, sides) in rows)
            foreach (var (side, label) in new[] { ("paglab", "PagLab"), ("torch", "PyTorch") })
                md.AppendLine($"- {row}, {label}: " + string.Join("; ", sides![side]!["top"]!.AsArray().Take(6)
                    .Select(t => $"`{t!["symbol"]}` {N(t["ms_per_step"])}")));
    }

    /// <summary>For a target line: the groups whose CPU time per step differs most between the sides.</summary>
    public static string Explain(JsonNode? profile, string row)
    {
        if (profile?["rows"]?[row] is not JsonNode sides) return "";
        var diffs = LargestDifferences(sides["paglab"]!, sides["torch"]!, Math.Abs);
        return $"perf, CPU ms per step PagLab - PyTorch: {diffs} (\"Where the training steps' CPU time goes\")";
    }

    /// <summary>For the gnorm / standard line: what gnorm's step adds to the standard step on each side, by group.
    /// </summary>
    public static string ExplainRatio(JsonNode? profile, string arch)
    {
        if (profile?["rows"]?[$"train-step/{arch}/gnorm"] is not JsonNode gnorm
            || profile["rows"]?[$"train-step/{arch}/standard"] is not JsonNode standard) return "";
        string Added(string side)
        {
            double total = gnorm[side]!["cpu_ms_per_step"]!.GetValue<double>()
                - standard[side]!["cpu_ms_per_step"]!.GetValue<double>();
            return $"{total.ToString("+0;-0", Inv)} ({LargestDifferences(gnorm[side]!, standard[side]!, d => d)})";
        }
        return $"perf, CPU ms gnorm adds to a standard step: PagLab {Added("paglab")}, PyTorch {Added("torch")} "
            + "(\"Where the training steps' CPU time goes\")";
    }

    /// <summary>The three groups whose CPU ms differ most between two profiles (a - b), largest by
    /// <paramref name="size"/> first, e.g. "kernel +532, ATen and autograd +9".</summary>
    static string LargestDifferences(JsonNode a, JsonNode b, Func<double, double> size)
    {
        var (ga, gb) = (a["groups"]!.AsObject(), b["groups"]!.AsObject());
        return string.Join(", ", ga
            .Select(g => (g.Key, Ms: g.Value!.GetValue<double>() - gb[g.Key]!.GetValue<double>()))
            .OrderByDescending(d => size(d.Ms)).Take(3).Select(d => $"{d.Key} {d.Ms.ToString("+0;-0", Inv)}"));
    }

    static string N(JsonNode? v) => v is null ? "–" : v.GetValue<double>().ToString("F0", Inv);
}
