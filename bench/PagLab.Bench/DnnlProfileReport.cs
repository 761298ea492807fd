using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

/// <summary>The oneDNN verbose profile of the resnet18 training steps, both sides side by side
/// (bench/pytorch/dnnl_profile.py): how much of a step each side spends in oneDNN, in which primitives, and
/// where the two differ most.</summary>
static class DnnlProfileReport
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>The profile bench/run wrote, or null when it did not run.</summary>
    public static JsonNode? Read(string? path) =>
        path is not null && File.Exists(path) ? JsonNode.Parse(File.ReadAllText(path)) : null;

    public static void Write(StringBuilder md, JsonNode? profile)
    {
        if (profile is null) return;
        md.AppendLine("\n### Where the resnet18 steps go, by oneDNN's own log\n");
        md.AppendLine($"Each side runs the row once more in a fresh process ({profile["steps"]} steps, the first a "
            + "warm-up) with oneDNN's verbose log on (libtorch 2.10: ONEDNN_VERBOSE=profile_exec; PyTorch 1.13's "
            + "oneDNN 2.6: DNNL_VERBOSE=1), bench/pytorch/dnnl_profile.py sums the exec lines per step; the log "
            + "slows both steps a little. \"outside\" is the step minus its oneDNN time: ATen's own kernels "
            + "(batch norm, relu, elementwise), autograd and allocation.\n");
        md.AppendLine("| row | PagLab step ms | in oneDNN | outside | PyTorch step ms | in oneDNN | outside | largest "
            + "difference (PagLab - PyTorch, ms per step) |");
        md.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var (row, sides) in profile["rows"]!.AsObject())
        {
            var (ours, theirs) = (sides!["paglab"]!, sides["torch"]!);
            md.AppendLine($"| {row} | {Step(ours)} | {InOneDnn(ours)} | {Outside(ours)} | {Step(theirs)} | "
                + $"{InOneDnn(theirs)} | {Outside(theirs)} | {LargestDifference(ours, theirs)} |");
        }
        md.AppendLine("\nThe largest primitives of each step:\n");
        foreach (var (row, sides) in profile["rows"]!.AsObject())
            md.AppendLine($"- {row}: PagLab {Top(sides!["paglab"]!)}; PyTorch {Top(sides["torch"]!)}");
    }

    /// <summary>For a target line: the row's time in and outside oneDNN on both sides and the largest difference.
    /// </summary>
    public static string Explain(JsonNode? profile, string row)
    {
        if (profile?["rows"]?[row] is not JsonNode sides) return "";
        var (ours, theirs) = (sides["paglab"]!, sides["torch"]!);
        return $"oneDNN log, ms per step: PagLab {InOneDnn(ours)} in oneDNN and {Outside(ours)} outside, PyTorch "
            + $"{InOneDnn(theirs)} and {Outside(theirs)}, largest difference {LargestDifference(ours, theirs)} "
            + "(\"Where the resnet18 steps go\")";
    }

    /// <summary>For the resnet18 gnorm / standard line: what gnorm's step adds in and outside oneDNN, both sides.
    /// </summary>
    public static string ExplainRatio(JsonNode? profile, string arch)
    {
        if (profile?["rows"]?[$"train-step/{arch}/gnorm"] is not JsonNode gnorm
            || profile["rows"]?[$"train-step/{arch}/standard"] is not JsonNode standard) return "";
        string Added(string side) =>
            $"{Num(gnorm[side]!, "onednn_ms_per_step") - Num(standard[side]!, "onednn_ms_per_step"):+0;-0} ms in "
            + $"oneDNN and {OutsideMs(gnorm[side]!) - OutsideMs(standard[side]!):+0;-0} outside";
        return $"oneDNN log, what gnorm adds to a standard step: PagLab {Added("paglab")}, PyTorch {Added("torch")}";
    }

    static double Num(JsonNode n, string key) => n[key]!.GetValue<double>();
    static string Step(JsonNode side) => Num(side, "step_ms").ToString("F0", Inv);
    static string InOneDnn(JsonNode side) =>
        $"{Num(side, "onednn_ms_per_step"):F0} ({Num(side, "calls_per_step"):F0} calls)";
    static double OutsideMs(JsonNode side) => Math.Max(0, Num(side, "step_ms") - Num(side, "onednn_ms_per_step"));
    static string Outside(JsonNode side) => OutsideMs(side).ToString("F0", Inv);

    static string Top(JsonNode side) => string.Join(", ", side["top"]!.AsArray().Take(4).Select(p =>
        $"{p!["primitive"]} {p["ms_per_step"]!.GetValue<double>():F0} ms ({p["calls_per_step"]!.GetValue<double>():F0}"
        + " calls)"));

    /// <summary>The primitive kind and propagation (implementations are named differently by the two oneDNN
    /// versions) whose per-step time differs most, or the time outside oneDNN if that differs more.</summary>
    static string LargestDifference(JsonNode ours, JsonNode theirs)
    {
        static Dictionary<string, double> ByKind(JsonNode side) => side["top"]!.AsArray()
            .GroupBy(p => KindAndProp(p!["primitive"]!.GetValue<string>()))
            .ToDictionary(g => g.Key, g => g.Sum(p => p!["ms_per_step"]!.GetValue<double>()));
        var (a, b) = (ByKind(ours), ByKind(theirs));
        var diffs = a.Keys.Union(b.Keys)
            .Select(k => (What: k, Ms: a.GetValueOrDefault(k) - b.GetValueOrDefault(k)))
            .Append((What: "outside oneDNN", Ms: OutsideMs(ours) - OutsideMs(theirs)))
            .OrderByDescending(d => Math.Abs(d.Ms)).First();
        return $"{diffs.What} {diffs.Ms:+0;-0}";
    }

    /// <summary>"convolution brg_conv_fwd:avx2 forward_training" -> "convolution forward_training".</summary>
    static string KindAndProp(string primitive)
    {
        var parts = primitive.Split(' ');
        return parts.Length >= 3 ? $"{parts[0]} {parts[2]}" : primitive;
    }
}
