using System.Diagnostics;
using System.Globalization;
using System.Runtime.Intrinsics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PagLab.Attacks;
using PagLab.Manifold;
using PagLab.Metrics;
using PagLab.Models;
using PagLab.Objectives;
using PagLab.Score;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

// PagLab's benchmark harness: `run` measures PagLab, `report` joins PagLab's and PyTorch's JSON into
// docs/BENCHMARKS.md. Speed is only ever measured here, never asserted in a unit test.
// Before libtorch loads, as in the CLI: OpenMP threads that sleep when idle (PagLab.Common.OpenMpWait).
PagLab.Common.OpenMpWait.UsePassiveWait(); // idle OpenMP threads sleep instead of spinning
return args.FirstOrDefault() switch
{
    "run" => Bench.Run(args[1..]),
    "report" => Report.Write(args[1..]),
    "peak" => Bench.PrintPeak(args[1..]),
    "train-row" => MeasurementRows.TrainRow(args[1..]),
    "fresh-rows" => MeasurementRows.FreshRowsChild(args[1..]),
    "op-profile" => OpProfile.Run(args[1..]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: PagLab.Bench run --out paglab.json [--threads 2] [--quick] [--rows p1,p2] "
        + "| peak [--threads 2] | op-profile [--threads 2] [--calls 20] [--rows twin/relu/] "
        + "| report --paglab a.json --torch b.json --out docs/BENCHMARKS.md [--load L]");
    return 2;
}

sealed record Row(double MedianMs, double P25Ms, double P75Ms, int Repeats, int Items, string? Note = null);

static class Bench
{
    /// <summary>The variables that keep libtorch (ATen) and oneDNN below the CPU's best instruction set, as set
    /// for this run (bench/run --avx2 sets them on both sides).</summary>
    internal static JsonObject IsaEnv()
    {
        var set = new JsonObject();
        foreach (var v in new[] { "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA" })
            if (Environment.GetEnvironmentVariable(v) is { Length: > 0 } value) set[v] = value;
        return set;
    }

    /// <summary>The value after option <paramref name="name"/> in the arguments, else the fallback.</summary>
    internal static string Arg(string[] a, string name, string fallback)
    {
        int i = Array.IndexOf(a, name);
        return i >= 0 && i + 1 < a.Length ? a[i + 1] : fallback;
    }

    public static Row Time(Action action, int warmup, int repeats, int items, string? note = null)
    {
        for (int i = 0; i < warmup; i++) action();
        var times = new List<double>();
        for (int i = 0; i < repeats; i++) { var sw =
            Stopwatch.StartNew(); action(); times.Add(sw.Elapsed.TotalMilliseconds); }
        times.Sort();
        double Q(double p) => times[Math.Min(times.Count - 1, (int)Math.Round(p * (times.Count - 1)))];
        return new Row(times.Count % 2 == 1 ? times[times.Count / 2] : (times[times.Count / 2 - 1] + times[times.Count
            / 2]) / 2, Q(0.25), Q(0.75), repeats, items, note);
    }

    public static int Run(string[] a)
    {
        int threads = int.Parse(Arg(a, "--threads", "2"));
        bool quick = a.Contains("--quick");
        var prefixes = Arg(a, "--rows", "").Split(',', StringSplitOptions.RemoveEmptyEntries);
        bool Wanted(string name) => prefixes.Length == 0 || prefixes.Any(name.StartsWith);
        torch.set_num_threads(threads);
        // Set-up tensors belong to this scope, so none is left to the GC finalizer thread (see CommandRunner).
        using var tensors = NewDisposeScope();
        var rows = new Dictionary<string, Row>();
        void Add(string name, Row row) { rows[name] = row; Console.Error.WriteLine($"{name}: {row.MedianMs:F1} ms"); }
        var peaks = new JsonObject();

        foreach (var arch in new[] { "smallcnn", "resnet18" })
            foreach (var name in Objectives().Keys)
            {
                if (quick && arch == "resnet18" && name != "standard" || !Wanted($"train-step/{arch}/{name}")) continue;
                int repeats = arch == "smallcnn" ? (quick ? 3 : 10) : quick ? 1 : name == "pgd10" ? 2 : 3;
                // Each training row runs in a fresh process, which also gives its peak resident set.
                var (row, peak, runtime) = MeasurementRows.TrainRowInChild(arch, name, repeats, threads);
                Add($"train-step/{arch}/{name}", row);
                peaks[$"train-step/{arch}/{name}"] = new JsonObject { ["Peak"] = peak, ["Runtime"] = runtime };
            }

        // Profile of the resnet18 step: forward alone, forward + backward, and each distinct 3x3 convolution
        // of the network on its own (forward), with the GFLOP/s libtorch's kernel reaches at that shape.
        if (!quick && Wanted("profile/")) Profile(rows);
        // The single-op twins, LPIPS and the score, each group in a fresh process (FreshGroups says why).
        foreach (var group in FreshGroups.Where(g => Wanted(g) || prefixes.Any(p => p.StartsWith(g))))
            if (!quick || !group.StartsWith("twin/"))
                foreach (var (name, row) in MeasurementRows.RowsInChild(group, threads, quick))
                    if (Wanted(name)) Add(name, row);

        // Tangent spaces: batched exact Jacobians (PagLab) vs one backward pass per pixel (the authors').
        foreach (var (c, size, k, images) in quick ? new[] { (1, 28, 16, 32) } : new[] { (1, 28, 16, 32), (3, 32, 128,
            8) })
        {
            torch.manual_seed(0);
            using var ae = new ConvAutoencoder(new AutoencoderSpec { Kind = AutoencoderKind.Ae, Latent = k,
                Channels = c,
                Height = size, Width = size });
            var z = randn(images, k);
            string tag = $"{c * size * size}x{k}";
            if (!Wanted($"tangents/{tag}/")) continue;
            Add($"tangents/{tag}/batched-per-image",
                Scale(Time(() => { using var s =
                NewDisposeScope(); TangentSpaces.FromColumns(DecoderJacobian.Compute(ae.Decode, z), arange(images,
                dtype: ScalarType.Int64)).Dispose(); }, 1, quick ? 2 : 5, images), images));
            Add($"tangents/{tag}/per-pixel-per-image", Time(() => PerPixelJacobian.Compute(ae.Decode, z.narrow(0, 0,
                1)).Dispose(), 0, 1, 1, "PagLab running the authors' loop"));
            using var scope = NewDisposeScope();
            var exact = DecoderJacobian.Compute(ae.Decode, z.narrow(0, 0, 1));
            var reference = PerPixelJacobian.Compute(ae.Decode, z.narrow(0, 0, 1));
            double diff = (exact - reference).abs().max().item<float>();
            rows[$"tangents/{tag}/batched-per-image"] = rows[$"tangents/{tag}/batched-per-image"] with { Note =
                $"max |batched - per-pixel| = {diff:G2}" };
        }

        MeasurementRows.Add(quick, Wanted, Add);

        // Native memory: resident set after 200 and after 2,000 standard smallcnn steps.
        if (Wanted("memory/"))
        {
            int first = quick ? 50 : 200, second = quick ? 500 : 2000;
            using var model = ModelFactory.Create(new ModelSpec { Arch = Architecture.SmallCnn, Channels = 1,
                Height = 28,
                Width = 28, Classes = 10 }, 0);
            using var opt = torch.optim.Adam(model.parameters(), 1e-3);
            var objective = new CrossEntropy();
            var x = rand(128, 1, 28, 28); var y = randint(10, new long[] { 128 });
            using var g = new Generator(0, device: CPU);
            long rssFirst = 0;
            for (int i = 1; i <= second; i++)
            {
                using var s = NewDisposeScope();
                opt.zero_grad();
                using var terms = objective.Loss(model, x, y, g);
                terms.Total.backward(); opt.step();
                if (i == first) { GC.Collect(); rssFirst = Rss(); }
            }
            GC.Collect();
            long rssSecond = Rss();
            rows["memory/smallcnn/rss-growth"] = new Row(0, 0, 0, 1, 0,
                $"RSS {rssFirst / 1048576.0:F0} MB after {first} steps, {rssSecond / 1048576.0:F0} MB after "
                + $"{second}: {(rssSecond - rssFirst) * 100.0 / rssFirst:+0.0;-0.0}%");
            Console.Error.WriteLine(rows["memory/smallcnn/rss-growth"].Note);
        }

        var json = new JsonObject
        {
            ["torchsharp"] = typeof(torch).Assembly.GetName().Version?.ToString(), ["threads"] = threads,
                ["quick"] = quick,
            ["resnet18MacsPerImage"] = ResNet18Macs(32, 32, 3),
            ["measuredPeakGflops"] = MeasuredPeak(threads),
            ["rows"] = JsonSerializer.SerializeToNode(rows),
            ["peakRssMb"] = peaks,
            ["isaEnv"] = IsaEnv(),
        };
        File.WriteAllText(Arg(a, "--out", "paglab.json"),
            json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return 0;
    }

    /// <summary>
    /// Rows whose ratio must not depend on what their process ran before. After the profile rows, glibc's heap
    /// holds a gigabyte of free chunks whose layout is chance: in one process a 32 MiB tensor comes from a free
    /// chunk without a page fault, in the other every 32 MiB chunk is some 200 bytes short of what posix_memalign asks
    /// for and each call maps fresh pages (docs/BENCHMARKS.md, "Single-op twins"). So each group runs in
    /// a child process of its own, on both sides, as the training rows do.
    /// </summary>
    internal static readonly string[] FreshGroups = { "twin/conv3x3/", "twin/batchnorm/", "twin/relu/", "lpips/",
        "score/" };

    /// <summary>One of FreshGroups, measured in this process (the child's side of RowsInChild).</summary>
    internal static Dictionary<string, Row> FreshRows(string group, bool quick)
    {
        var rows = new Dictionary<string, Row>();
        using var tensors = NewDisposeScope();
        if (group.StartsWith("twin/")) OpTwins.Add(rows, name => name.StartsWith(group));
        // LPIPS squeeze on a batch of 64 RGB 64x64 pairs.
        string? weights = Lpips.FindWeights(null); // $PAGLAB_LPIPS_WEIGHTS, else the shipped squeeze
        if (group == "lpips/" && !string.IsNullOrEmpty(weights) && File.Exists(weights))
        {
            using var lpips = Lpips.Load(LpipsNet.Squeeze, weights);
            var x = rand(64, 3, 64, 64) * 2 - 1; var y = rand(64, 3, 64, 64) * 2 - 1;
            rows["lpips/squeeze/64x3x64x64"] = Time(() => { using var s = NewDisposeScope(); using var g = no_grad();
                lpips.call(x, y).sum().item<float>(); }, 1, quick ? 3 : 10, 64);
        }
        // The score of a batch: one denoiser forward (U-Net, 28x28, batch 128).
        if (group == "score/")
        {
            torch.manual_seed(0);
            var denoiser = new EdmPreconditioner(new UNet(new UNetSpec { Channels = 1, Height = 28, Width = 28 }));
            denoiser.Network.eval();
            var x = rand(128, 1, 28, 28);
            rows["score/unet28/batch128"] = Time(() => { using var s = NewDisposeScope();
                ScoreFunction.Compute(denoiser, x, 0.5).sum().item<float>(); }, 1, quick ? 3 : 10, 128);
        }
        return rows;
    }

    static void Profile(Dictionary<string, Row> rows)
    {
        torch.manual_seed(0);
        var spec = new ModelSpec { Arch = Architecture.ResNet18, Channels = 3, Height = 32, Width = 32, Classes = 10 };
        using var model = ModelFactory.Create(spec, 0);
        model.train();
        var x = rand(128, 3, 32, 32); var y = randint(10, new long[] { 128 });
        double macs = ResNet18Macs(32, 32, 3) * 128;
        Row forward = Time(() => { using var s = NewDisposeScope(); model.call(x).sum().item<float>(); }, 1, 3, 128);
        rows["profile/resnet18/forward"] = forward with { Note =
            $"{2 * macs / (forward.MedianMs / 1000) / 1e9:F1} GFLOP/s" };
        Row both = Time(() => { using var s =
            NewDisposeScope(); model.zero_grad(); functional.cross_entropy(model.call(x), y).backward(); }, 1, 3, 128);
        rows["profile/resnet18/forward+backward"] = both with { Note =
            $"backward = {both.MedianMs / forward.MedianMs - 1:F2}x forward" };
        // The gradient-norm step in parts, timing PagLab's own objective: its loss (forward + input gradient
        // with create_graph + penalty), then that plus the backward through it (the double backward).
        var gnorm = new GradientNormPenalty(GradientNormPenalty.FromAuthorsConstant(1e-3, 128));
        using var noise = new Generator(0, device: CPU);
        Row inputGrad = Time(() => { using var s = NewDisposeScope(); using var terms = gnorm.Loss(model, x, y,
            noise); terms.Total.item<float>(); }, 1, 3, 128);
        rows["profile/resnet18/gnorm-forward+input-grad"] = inputGrad with { Note =
            $"{inputGrad.MedianMs / forward.MedianMs:F2}x forward" };
        Row gnormAll = Time(() => { using var s = NewDisposeScope(); model.zero_grad(); using var terms =
            gnorm.Loss(model, x, y, noise); terms.Total.backward(); }, 1, 3, 128);
        rows["profile/resnet18/gnorm-forward+input-grad+backward"] = gnormAll with { Note =
            $"double backward = {(gnormAll.MedianMs - inputGrad.MedianMs) / forward.MedianMs:F2}x forward; whole = "
            + $"{gnormAll.MedianMs / both.MedianMs:F2}x standard" };
        // Channels-last layouts for the whole standard step (weights and input as NHWC memory).
        Row channelsLast = TrainStep("resnet18", new ObjectiveConfig { Kind = ObjectiveKind.Standard }, 128, 3,
            channelsLast: true);
        rows["profile/resnet18/standard-step-channels-last"] = channelsLast;
        double convMs = 0;
        // (in, out, size, stride, how many times it occurs in the network)
        foreach (var (cin, cout, size, stride, times) in new[] { (3, 64, 32, 1, 1), (64, 64, 32, 1, 4), (64, 128, 32, 2,
            1), (128, 128, 16, 1, 3), (128, 256, 16, 2, 1), (256, 256, 8, 1, 3), (256, 512, 8, 2, 1), (512, 512, 4, 1,
            3) })
        {
            using var scope = NewDisposeScope();
            var input = rand(128, cin, size, size); var weight = randn(cout, cin, 3, 3) * 0.01;
            Row r = Time(() => { using var s = NewDisposeScope(); nn.functional.conv2d(input, weight,
                strides: new long[] { stride }, padding: new long[] { 1 }).sum().item<float>(); }, 1, 3, 128);
            int o = size / stride;
            double flops = 2.0 * cin * cout * 9 * o * o * 128;
            convMs += r.MedianMs * times;
            rows[$"profile/conv3x3/{cin}-{cout}@{size}s{stride}"] = r with { Note =
                $"{flops / (r.MedianMs / 1000) / 1e9:F1} GFLOP/s; occurs {times}x" };
        }
        rows["profile/resnet18/forward-in-3x3-convs"] = new Row(convMs, convMs, convMs, 1, 128,
            $"{convMs / forward.MedianMs:P0} of the forward pass is in its 3x3 convolutions");
        EvalFolding(rows, model, x, y);
    }

    /// <summary>
    /// One PGD step as every attack and measurement runs it (the profile's resnet18 and batch of 128 in eval
    /// mode: forward and the input gradient of the cross-entropy) on the network with batch norm folded into
    /// its convolutions (EvalModel), against the unfolded network, and what the fold itself costs.
    /// </summary>
    static void EvalFolding(Dictionary<string, Row> rows, ImageClassifier model, Tensor x, Tensor y)
    {
        model.eval();
        double Step(Module<Tensor, Tensor> m) => Time(() =>
        {
            using var s = NewDisposeScope();
            var xk = x.detach().requires_grad_(true);
            var loss = functional.cross_entropy(m.call(xk), y, reduction: Reduction.Sum);
            torch.autograd.grad(new[] { loss }, new[] { xk })[0].sum().item<float>();
        }, 0, 1, 128).MedianMs;
        Row fold = Time(() => EvalModel.For(model).Dispose(), 1, 5, 1);
        using var eval = EvalModel.For(model);
        Step(model); Step(eval.Model);
        // Alternated, so a change in the machine's load hits both alike; the speed-up is the median pair ratio.
        var pairs = Enumerable.Range(0, 5).Select(_ => (Unfolded: Step(model), Folded: Step(eval.Model))).ToList();
        var folded = pairs.Select(p => p.Folded).Order().ToList();
        double unfolded = pairs.Select(p => p.Unfolded).Order().ElementAt(2);
        double speedUp = pairs.Select(p => p.Unfolded / p.Folded).Order().ElementAt(2);
        rows["profile/resnet18/eval-input-grad-folded"] = new Row(folded[2], folded[1], folded[3], 5, 128,
            $"unfolded {unfolded:F0} ms, {speedUp:F2}x; the fold itself {fold.MedianMs:F1} ms, "
            + $"{fold.MedianMs / folded[2]:P1} of one step");
    }

    /// <summary>
    /// The fp32 FMA throughput the cores really reach at their running clock (boost included): each
    /// thread runs 12 independent chains of 512-bit (else 256-bit) fused multiply-adds, enough to hide
    /// the FMA latency on both pipes. Best of 3 runs, in GFLOP/s over all threads.
    /// </summary>
    static double MeasuredPeak(int threads)
    {
        const long iterations = 100_000_000;
        int lanes = Vector512.IsHardwareAccelerated ? 16 : 8;
        double best = 0;
        for (int run = 0; run < 3; run++)
        {
            var clock = Stopwatch.StartNew();
            var sums = new float[threads];
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads },
                t => sums[t] = lanes == 16 ? Fma512(iterations) : Fma256(iterations));
            best = Math.Max(best, threads * iterations * 12.0 * lanes * 2 / clock.Elapsed.TotalSeconds / 1e9);
            if (sums.Any(float.IsNaN)) throw new InvalidOperationException("FMA loop produced NaN");
        }
        Console.Error.WriteLine($"measured fp32 FMA peak: {best:F0} GFLOP/s on {threads} threads ({lanes} lanes)");
        return best;
    }

    static float Fma512(long n)
    {
        var m = Vector512.Create(0.9999999f); var c = Vector512.Create(1e-7f);
        Vector512<float> a0 = Vector512<float>.One, a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0,
            a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        for (long i = 0; i < n; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, m, c); a1 = Vector512.FusedMultiplyAdd(a1, m,
                c); a2 = Vector512.FusedMultiplyAdd(a2, m, c);
            a3 = Vector512.FusedMultiplyAdd(a3, m, c); a4 = Vector512.FusedMultiplyAdd(a4, m,
                c); a5 = Vector512.FusedMultiplyAdd(a5, m, c);
            a6 = Vector512.FusedMultiplyAdd(a6, m, c); a7 = Vector512.FusedMultiplyAdd(a7, m,
                c); a8 = Vector512.FusedMultiplyAdd(a8, m, c);
            a9 = Vector512.FusedMultiplyAdd(a9, m, c); a10 = Vector512.FusedMultiplyAdd(a10, m,
                c); a11 = Vector512.FusedMultiplyAdd(a11, m, c);
        }
        return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }

    static float Fma256(long n)
    {
        var m = Vector256.Create(0.9999999f); var c = Vector256.Create(1e-7f);
        Vector256<float> a0 = Vector256<float>.One, a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0,
            a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        for (long i = 0; i < n; i++)
        {
            a0 = Vector256.FusedMultiplyAdd(a0, m, c); a1 = Vector256.FusedMultiplyAdd(a1, m,
                c); a2 = Vector256.FusedMultiplyAdd(a2, m, c);
            a3 = Vector256.FusedMultiplyAdd(a3, m, c); a4 = Vector256.FusedMultiplyAdd(a4, m,
                c); a5 = Vector256.FusedMultiplyAdd(a5, m, c);
            a6 = Vector256.FusedMultiplyAdd(a6, m, c); a7 = Vector256.FusedMultiplyAdd(a7, m,
                c); a8 = Vector256.FusedMultiplyAdd(a8, m, c);
            a9 = Vector256.FusedMultiplyAdd(a9, m, c); a10 = Vector256.FusedMultiplyAdd(a10, m,
                c); a11 = Vector256.FusedMultiplyAdd(a11, m, c);
        }
        return Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }

    public static int PrintPeak(string[] a) { MeasuredPeak(int.Parse(Arg(a, "--threads", "2"))); return 0; }

    static Row Scale(Row r, int images) => r with { MedianMs = r.MedianMs / images, P25Ms = r.P25Ms / images,
        P75Ms = r.P75Ms / images, Items = 1 };

    /// <summary>The training objectives of the train-step rows, by row name.</summary>
    internal static Dictionary<string, ObjectiveConfig> Objectives() => new()
    {
        ["standard"] = new() { Kind = ObjectiveKind.Standard },
        ["gnorm"] = new()
            { Kind = ObjectiveKind.Gnorm, Lambda = GradientNormPenalty.FromAuthorsConstant(1e-3, 128) },
        ["smooth"] = new() { Kind = ObjectiveKind.Smooth, Lambda = 0.1, Sigma = 0.1 },
        ["randsmooth"] = new() { Kind = ObjectiveKind.RandSmooth, Sigma = 0.25 },
        ["pgd3"] = new() { Kind = ObjectiveKind.Pgd, Epsilons = new[] { 1.0 }, Pgd = new PgdConfig { Steps = 3 } },
        ["pgd10"] = new()
            { Kind = ObjectiveKind.Pgd, Epsilons = new[] { 1.0 }, Pgd = new PgdConfig { Steps = 10 } },
    };

    internal static Row TrainStep(string arch, ObjectiveConfig config, int batch, int repeats,
        bool? channelsLast = null)
    {

        var spec = arch == "smallcnn"
            ? new ModelSpec { Arch = Architecture.SmallCnn, Channels = 1, Height = 28, Width = 28, Classes = 10 }
            : new ModelSpec { Arch = Architecture.ResNet18, Channels = 3, Height = 32, Width = 32, Classes = 10 };
        using var model = ModelFactory.Create(spec, 0);
        model.train();
        // Unset: the layout `paglab train` uses by default (TrainConfig.TrainsChannelsLast).
        channelsLast ??=
            PagLab.Training.TrainSettings.ChannelsLastByDefault(config.Kind, NormLayers.HasBatchNorm(model));
        if (channelsLast == true) model.ToChannelsLast(); // weights now, inputs at the model's entry
        using var opt = torch.optim.Adam(model.parameters(), 1e-3);
        var objective = config.Create(batch);
        var x = rand(batch, spec.Channels, spec.Height, spec.Width); var y = randint(10, new long[] { batch });
        using var g = new Generator(0, device: CPU);
        return Time(() =>
        {
            using var s = NewDisposeScope();
            opt.zero_grad();
            using var terms = objective.Loss(model, x, y, g);
            terms.Total.item<float>();
            terms.Total.backward();
            opt.step();
        }, 1, repeats, batch);
    }

    static long Rss()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:")) return long.Parse(line.Split(' ',
                StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        return 0;
    }

    /// <summary>Multiply-accumulates of one CIFAR ResNet-18 forward pass, counted layer by layer.</summary>
    public static double ResNet18Macs(int h, int w, int c)
    {
        double macs = (double)c * 64 * 9 * h * w;               // stem
        int inPlanes = 64;
        foreach (var (planes, stride) in new[] { (64, 1), (128, 2), (256, 2), (512, 2) })
        {
            h /= stride; w /= stride;
            // 4 3x3 convs in 2 blocks
            macs += (double)inPlanes * planes * 9 * h * w + 3.0 * planes * planes * 9 * h * w;
            if (stride != 1 || inPlanes != planes) macs += (double)inPlanes * planes * h * w; // 1x1 shortcut
            inPlanes = planes;
        }
        return macs + 512 * 10;
    }
}
