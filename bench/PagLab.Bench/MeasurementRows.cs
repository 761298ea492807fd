using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PagLab.Attacks;
using PagLab.Certification;
using PagLab.Data;
using PagLab.Manifold;
using PagLab.Metrics;
using PagLab.Models;
using PagLab.Score;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// The measurement rows (on/off-manifold, alignment, distractor, evaluation under PGD-20, certification), each
/// calling PagLab's library entry point, and the peak resident memory of each training row, measured in a child
/// process per row. bench/pytorch/bench_measure.py holds the PyTorch twins with the same sizes.
/// </summary>
static class MeasurementRows
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    // The authors' on/off-manifold step sizes, np.logspace(-3, 2, num=20)[12:16].
    static readonly double[] Epsilons = Enumerable.Range(12, 4).Select(i => Math.Pow(10, -3 + 5.0 * i / 19)).ToArray();
    static readonly double[] Sigmas = { 0, 0.1, 0.5, 1.0 };          // distractor noise levels

    /// <summary>Images per row, the same numbers as bench_measure.sizes.</summary>
    static (int Manifold, int Alignment, int Distractor, int Pgd20, int Certify) Sizes(bool quick) =>
        quick ? (8, 16, 8, 32, 2) : (128, 128, 128, 256, 16);

    public static void Add(bool quick, Func<string, bool> wanted, Action<string, Row> add)
    {
        var n = Sizes(quick);
        int repeats = quick ? 1 : 3;
        var plan = new List<(string Name, Func<Row> Run)>
        {
            ($"measure/manifold/smallcnn28/{n.Manifold}img-rank16", () => Manifold(n.Manifold, 16, repeats)),
            ($"measure/distractor/smallcnn56x28/{n.Distractor}img-4sigmas", () => Distractor(n.Distractor, repeats)),
            ($"measure/pgd20-eval/smallcnn28/{n.Pgd20}img", () => PgdEvaluation(n.Pgd20, repeats)),
            ($"measure/certify/smallcnn28/{n.Certify}img-n0-100-n-1000", () => Certify(n.Certify, repeats)),
        };
        string? weights = Lpips.FindWeights(null); // $PAGLAB_LPIPS_WEIGHTS, else the shipped squeeze
        if (!string.IsNullOrEmpty(weights) && File.Exists(weights))
            plan.Insert(1, ($"measure/alignment/smallcnn28/{n.Alignment}img-lpips-squeeze",
                () => Alignment(n.Alignment, weights, repeats)));
        foreach (var (name, run) in plan)
            if (wanted(name)) add(name, run());
        if (!string.IsNullOrEmpty(weights) && File.Exists(weights) && wanted("measure-parts/alignment/"))
            AlignmentParts(n.Alignment, weights, repeats, add);
    }

    /// <summary>The classifier, the U-Net denoiser (eval mode) and LPIPS-squeeze of the alignment rows.</summary>
    static (ImageClassifier Model, EdmPreconditioner Denoiser, Lpips Lpips) AlignmentModels(string weights)
    {
        torch.manual_seed(0);
        var denoiser = new EdmPreconditioner(new UNet(new UNetSpec { Channels = 1, Height = 28, Width = 28 }));
        denoiser.Network.eval();
        return (SmallCnn(28), denoiser, Lpips.Load(LpipsNet.Squeeze, weights));
    }

    /// <summary>Where the alignment row's time goes: each part timed alone on all its images.</summary>
    static void AlignmentParts(int n, string weights, int repeats, Action<string, Row> add)
    {
        using var scope = NewDisposeScope();
        var (model, denoiser, lpips) = AlignmentModels(weights);
        using var _ = model; using var __ = denoiser; using var ___ = lpips;
        var x = rand(n, 1, 28, 28);
        void Part(string name, Func<Tensor> run) => add($"measure-parts/alignment/{name}", Bench.Time(() =>
        {
            using var s = NewDisposeScope();
            run().to_type(ScalarType.Float64).sum().item<double>();
        }, 1, repeats, n));
        Part("score", () => cat(Enumerable.Range(0, (n + 63) / 64).Select(i => ScoreFunction.Compute(denoiser,
            x.narrow(0, 64 * i, Math.Min(64, n - 64 * i)), 0.25)).ToArray(), 0));
        Part("gradient", () => cat(Enumerable.Range(0, (n + 63) / 64).Select(i => ModelGradients.Compute(model,
            x.narrow(0, 64 * i, Math.Min(64, n - 64 * i)), GradientMode.Sum)).ToArray(), 0));
        using (no_grad()) Part("lpips", () => PerceptualImage.Distance(lpips, x, x * 0.5));
        Part("ssim+cosine", () => Ssim.Compute(x, x * 0.5, 2.0) + CosineSimilarity.Compute(
            x.to_type(ScalarType.Float64), (x * 0.5).to_type(ScalarType.Float64)));
    }

    static ImageClassifier SmallCnn(int height) =>
        ModelFactory.Create(new ModelSpec { Arch = Architecture.SmallCnn, Channels = 1, Height = height, Width = 28,
            Classes = 10 }, 0);

    static DataSplit Images(int n, int height, Tensor? signal = null, Tensor? distractor = null) =>
        new(rand(n, 1, height, 28), randint(10, new long[] { n }), signal, distractor);

    /// <summary>ManifoldRobustness.Measure: one draw per image (as the authors), 4 epsilons, random rank-16
    /// orthonormal tangent spaces.</summary>
    static Row Manifold(int n, int rank, int repeats)
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(0);
        using var model = SmallCnn(28);
        model.eval();
        var x = rand(n, 1, 28, 28);
        var (q, _) = linalg.qr(randn(n, 784, rank));                                  // (N, d, r)
        using var tangents = new TangentSpaces(arange(n, dtype: ScalarType.Int64), q.contiguous(), ones(n, rank));
        return Bench.Time(() => ManifoldRobustness.Measure(model.call, x, tangents, Epsilons, draws: 1), 1, repeats, n);
    }

    /// <summary>AlignmentMeasurement.Measure with the summed-logit gradient and the unconditional U-Net score, batch
    /// 64 (the authors' default).</summary>
    static Row Alignment(int n, string weights, int repeats)
    {
        using var scope = NewDisposeScope();
        var (model, denoiser, lpips) = AlignmentModels(weights);
        using var _ = model; using var __ = denoiser; using var ___ = lpips;
        using var dataset = new InMemoryDataset("bench", new ImageShape(1, 28, 28),
            Enumerable.Range(0, 10).Select(i => i.ToString(Inv)).ToList(), Images(1, 28), Images(n, 28));
        return Bench.Time(() => AlignmentMeasurement.Measure(model, denoiser, dataset, 0.25, GradientMode.Sum, n,
            lpips, batchSize: 64), 1, repeats, n);
    }

    /// <summary>DistractorRobustness.Measure on 56x28 images: digit half and distractor half, chosen per image.
    /// </summary>
    static Row Distractor(int n, int repeats)
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(0);
        using var model = SmallCnn(56);
        var top = (rand(n) < 0.5).to(ScalarType.Float32).view(n, 1, 1, 1);            // signal on top
        var upper = cat(new[] { ones(1, 1, 28, 28), zeros(1, 1, 28, 28) }, 2);          // (1, 1, 56, 28)
        var signal = top * upper + (1 - top) * (1 - upper);
        using var split = Images(n, 56, signal, 1 - signal);
        return Bench.Time(() => PagLab.Experiments.DistractorRobustness.Measure(model, split, Sigmas, "bench",
            "bench"), 1, repeats, n);
    }

    /// <summary>Evaluation.RobustAccuracy under the authors' L2 PGD (whole-batch norm, random start), 20 steps,
    /// epsilon 1, batches of 128.</summary>
    static Row PgdEvaluation(int n, int repeats)
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(0);
        using var model = SmallCnn(28);
        using var split = Images(n, 28);
        var attack = PgdConfig.Authors with { Steps = 20 };
        return Bench.Time(() => PagLab.Training.Evaluation.RobustAccuracy(model, split, 1.0, attack,
            batchSize: Math.Min(128, n)), 1, repeats, n);
    }

    /// <summary>SmoothedClassifier.Certify (Cohen et al.'s CERTIFY): n0 = 100, n = 1000, alpha = 0.001, noise
    /// batches of 500, sigma 0.25.</summary>
    static Row Certify(int n, int repeats)
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(0);
        using var model = SmallCnn(28);
        using var split = Images(n, 28);
        return Bench.Time(() => SmoothedClassifier.Certify(model, split, 0.25, 100, 1000, 0.001, drawBatch: 500), 1,
            repeats, n);
    }

    // --- peak memory: each training row in a fresh process ---

    /// <summary>
    /// Runs one training row in a child process (`train-row`), which prints its timing, its peak resident set
    /// (VmHWM of /proc/self/status: the most the process ever held, runtime included) and the resident set after
    /// the runtime and libtorch were loaded, before the row.
    /// </summary>
    public static (Row Row, double PeakMb, double RuntimeMb) TrainRowInChild(string arch, string objective,
        int repeats, int threads)
    {
        var json = JsonNode.Parse(ChildOutput("train-row", arch, objective, repeats.ToString(Inv),
            threads.ToString(Inv)))!;
        return (json["Row"].Deserialize<Row>()!, json["PeakMb"]!.GetValue<double>(),
            json["RuntimeMb"]!.GetValue<double>());
    }

    /// <summary>One of Bench.FreshGroups, measured in a child process of its own.</summary>
    public static Dictionary<string, Row> RowsInChild(string group, int threads, bool quick) =>
        JsonSerializer.Deserialize<Dictionary<string, Row>>(ChildOutput(new[] { "fresh-rows", group,
            threads.ToString(Inv) }.Concat(quick ? new[] { "--quick" } : Array.Empty<string>()).ToArray()))!;

    /// <summary>The child's side: `fresh-rows GROUP THREADS [--quick]`.</summary>
    public static int FreshRowsChild(string[] a)
    {
        if (a.Length is not (2 or 3) || !Bench.FreshGroups.Contains(a[0]) || a.Length == 3 && a[2] != "--quick")
        {
            Console.Error.WriteLine("usage: PagLab.Bench fresh-rows GROUP THREADS [--quick], GROUP one of "
                + string.Join(", ", Bench.FreshGroups));
            return 2;
        }
        torch.set_num_threads(int.Parse(a[1], Inv));
        Console.WriteLine(JsonSerializer.Serialize(Bench.FreshRows(a[0], a.Length == 3)));
        return 0;
    }

    /// <summary>Runs this benchmark with ARGS in a child process and returns what it wrote to stdout.</summary>
    static string ChildOutput(params string[] args)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true };
        if (!Path.GetFileNameWithoutExtension(Environment.ProcessPath!).Equals("PagLab.Bench"))
            start.ArgumentList.Add(typeof(MeasurementRows).Assembly.Location);
        foreach (var a in args) start.ArgumentList.Add(a);
        using var child = Process.Start(start)!;
        string output = child.StandardOutput.ReadToEnd();
        child.WaitForExit();
        if (child.ExitCode != 0) throw new InvalidOperationException($"{string.Join(' ', args)} failed");
        return output;
    }

    /// <summary>The child's side: `train-row ARCH OBJECTIVE REPEATS THREADS`.</summary>
    public static int TrainRow(string[] a)
    {
        if (a.Length is not (4 or 5) || a.Length == 5 && a[4] is not ("nchw" or "channels-last"))
        {
            Console.Error.WriteLine(
                "usage: PagLab.Bench train-row ARCH OBJECTIVE REPEATS THREADS [nchw|channels-last]");
            return 2;
        }
        bool? channelsLast = a.Length == 5 ? a[4] == "channels-last" : null; // unset: PagLab's default
        torch.set_num_threads(int.Parse(a[3], Inv));
        double runtime = StatusMb("VmRSS");
        using var tensors = NewDisposeScope();
        Row row = Bench.TrainStep(a[0], Bench.Objectives()[a[1]], 128, int.Parse(a[2], Inv), channelsLast);
        Console.WriteLine(new JsonObject { ["Row"] = JsonSerializer.SerializeToNode(row),
            ["PeakMb"] = StatusMb("VmHWM"), ["RuntimeMb"] = runtime }.ToJsonString());
        return 0;
    }

    static double StatusMb(string field)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(field + ":"))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], Inv) / 1024.0;
        return double.NaN;
    }

    // --- report ---

    internal static double Ms(JsonNode? row) =>
        row?["MedianMs"]?.GetValue<double>() ?? row?["median_ms"]?.GetValue<double>()
        ?? double.NaN;

    static string F(double v, string f = "F1") => double.IsFinite(v) ? v.ToString(f, Inv) : "–";

    /// <summary>The measurement table and the peak-memory table.</summary>
    public static void Tables(StringBuilder md, JsonObject ours, JsonObject theirs, JsonNode? ourPeaks,
        JsonNode? theirPeaks)
    {
        var measures = ours.Where(r => r.Key.StartsWith("measure/")).ToList();
        if (measures.Count > 0)
        {
            md.AppendLine("\n## Measurements\n");
            md.AppendLine("Each row calls PagLab's library entry point (ManifoldRobustness.Measure, "
                + "AlignmentMeasurement.Measure, DistractorRobustness.Measure, Evaluation.RobustAccuracy, "
                + "SmoothedClassifier.Certify) on a small CNN with random weights and random images of the sizes "
                + "in its name; its PyTorch twin (bench/pytorch/bench_measure.py) does the same work the way the "
                + "authors' code does it: one image at a time with batch-1 forwards for on/off-manifold (their "
                + "coefficient loop over the 16 tangent directions; the bases come orthonormal, so their per-image "
                + "scipy `orth` is left out) and the distractor notebook, `input_gradient_sum` then per-image max "
                + "normalisation and per-image LPIPS with `.item()` for alignment (plus SSIM and cosine, which "
                + "PagLab reports too), their `pgd_l2_` loop in eval mode for PGD-20 (`loss.backward()`, which "
                + "also fills parameter gradients), and Cohen et al.'s `certify` with its `_sample_noise` batch "
                + "loop and `_count_arr`. The twins run under `torch.no_grad()` where the authors let autograd "
                + "record, which only helps PyTorch.\n");
            SpeedTable(md, "row", measures, theirs);
        }
        var parts = ours.Where(r => r.Key.StartsWith("measure-parts/")).ToList();
        if (parts.Count > 0)
        {
            md.AppendLine("\nWhere the alignment row's time goes, each part timed alone on the row's images (the "
                + "U-Net score and the gradient in batches of 64 on both sides; LPIPS batched in PagLab, one image "
                + "at a time with `.item()` in the authors' loop):\n");
            SpeedTable(md, "part", parts, theirs);
        }
        if (ourPeaks is JsonObject peaks && peaks.Count > 0)
        {
            md.AppendLine("\n## Peak memory of the training rows\n");
            md.AppendLine("Each training row (warm-up step plus the timed steps, batch 128) runs in a fresh process "
                + "on both sides; its peak resident set is the process's VmHWM from /proc/self/status at the end, "
                + "runtime included (.NET + TorchSharp + libtorch, or Python + torch). The runtime column is the "
                + "resident set right after loading, before the row's model and data.\n");
            md.AppendLine("| row | PagLab peak MB (runtime) | PyTorch peak MB (runtime) | PagLab / PyTorch |");
            md.AppendLine("| --- | --- | --- | --- |");
            foreach (var (name, p) in peaks)
            {
                var t = theirPeaks?[name];
                double po = p!["Peak"]!.GetValue<double>(), pt = t?["peak"]?.GetValue<double>() ?? double.NaN;
                md.AppendLine($"| {name} | {po:F0} ({p["Runtime"]!.GetValue<double>():F0}) | {F(pt, "F0")} "
                    + $"({F(t?["runtime"]?.GetValue<double>() ?? double.NaN, "F0")}) | {F(po / pt, "F2")} |");
            }
        }
    }

    /// <summary>PagLab's median (quartiles), PyTorch's median and the speed ratio of each row.</summary>
    static void SpeedTable(StringBuilder md, string what, IEnumerable<KeyValuePair<string, JsonNode?>> rows,
        JsonObject theirs)
    {
        md.AppendLine($"| {what} | PagLab ms (p25-p75) | PyTorch ms | PagLab / PyTorch speed |");
        md.AppendLine("| --- | --- | --- | --- |");
        foreach (var (name, row) in rows)
        {
            double o = Ms(row), t = Ms(theirs[name]);
            string speed = double.IsFinite(t) && o > 0 ? $"{t / o:F2}x" : "–";
            md.AppendLine($"| {name} | {F(o)} ({F(row!["P25Ms"]!.GetValue<double>())}-"
                + $"{F(row["P75Ms"]!.GetValue<double>())}) | {F(t)} | {speed} |");
        }
    }

    /// <summary>What the run with glibc's mmap threshold fixed at 4 MiB measured for a row whose peak is above
    /// PyTorch's.</summary>
    static string FixedMmap(JsonNode? run, string name, JsonObject ours)
    {
        double peak = run?["peakRssMb"]?[name]?["Peak"]?.GetValue<double>() ?? double.NaN;
        if (!double.IsFinite(peak)) return "";
        const string resnet = "train-step/resnet18/standard";
        double Speed(string row) => Ms(ours[row]) / Ms(run!["rows"]?[row]);
        string resnetCost = double.IsFinite(Speed(resnet))
            ? $", resnet18's standard step at {Speed(resnet):F2}x the default's speed" : "";
        return $" (the heap: glibc raises its mmap threshold to each freed block's size, up to 32 MiB, and serves "
            + $"smaller tensors from a heap that fragments; with the threshold fixed at 4 MiB, GLIBC_TUNABLES="
            + $"glibc.malloc.mmap_threshold=4194304, this row peaked at {peak:F0} MB, at {Speed(name):F2}x the "
            + $"default's speed{resnetCost}, since every large tensor is then a fresh mapping the kernel zeroes; "
            + "PagLab keeps glibc's default for speed, a user short of memory can set the variable)";
    }

    /// <summary>Target lines: every measurement >= 1.5x its twin; peak memory no higher than PyTorch's. A peak
    /// above PyTorch's says what the run with glibc's mmap threshold fixed (<paramref name="fixedMmap"/>, bench/run)
    /// gave: that peak, and the speed it costs on this row and on resnet18's standard step.</summary>
    public static void Targets(StringBuilder md, JsonObject ours, JsonObject theirs, JsonNode? ourPeaks,
        JsonNode? theirPeaks, JsonNode? fixedMmap = null)
    {
        foreach (var (name, row) in ours.Where(r => r.Key.StartsWith("measure/")))
        {
            double o = Ms(row), t = Ms(theirs[name]);
            md.AppendLine($"- {name}: {F(o, "F0")} ms vs PyTorch {F(t, "F0")} ms = {F(t / o, "F2")}x (target >= 1.5x): "
                + $"**{(t / o >= 1.5 ? "met" : "not met")}**");
        }
        if (ourPeaks is not JsonObject peaks) return;
        foreach (var (name, p) in peaks)
        {
            double po = p!["Peak"]!.GetValue<double>(), pt = theirPeaks?[name]?["peak"]?.GetValue<double>()
                ?? double.NaN;
            md.AppendLine($"- peak memory {name}: {po:F0} MB vs PyTorch {F(pt, "F0")} MB (target: no higher): "
                + $"**{(po <= pt ? "met" : "not met")}**{(po <= pt ? "" : FixedMmap(fixedMmap, name, ours))}");
        }
    }
}
