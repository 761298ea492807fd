using System.Globalization;
using System.Text;
using PagLab.Common;
using PagLab.Data;
using PagLab.Imaging;
using PagLab.IO;
using PagLab.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Manifold;

/// <summary>What `paglab measure manifold` writes (R.json; R.csv beside it).</summary>
public sealed record ManifoldReport
{
    public required string Model { get; init; }
    public required string Tangents { get; init; }
    public required string Dataset { get; init; }
    /// <summary>The output measure of Results (<see cref="OutputMeasure"/> name, e.g. softmax-l1).</summary>
    public required string Outputs { get; init; }
    public int Images { get; init; }
    public int Draws { get; init; }
    public long Seed { get; init; }
    public required IReadOnlyList<EpsilonResult> Results { get; init; }
    /// <summary>Definition 2 per class mode: mean, std and quantiles of rho_2 over the images.</summary>
    public required Dictionary<string, Distribution> Rho2 { get; init; }

    /// <summary>What `paglab measure manifold` prints: per epsilon the mean on- and off-manifold changes and their
    /// ratio, each with its 95% bootstrap interval over the images; rho_2 per class mode.</summary>
    public IEnumerable<string> SummaryLines()
    {
        foreach (var r in Results)
        {
            var on = Uncertainty.Bootstrap.Sample.One(r.OnPerImage);
            var off = Uncertainty.Bootstrap.Sample.One(r.OffPerImage);
            string ratio = Uncertainty.Bootstrap.Ratio(off, on).Text("G4");
            yield return $"eps {r.Epsilon,6:G4} ({Outputs}): on {Uncertainty.Bootstrap.Mean(on).Text("G4")}  off "
                + $"{Uncertainty.Bootstrap.Mean(off).Text("G4")}  off/on {ratio}";
        }
        yield return "rho_2 = ||grad f - P grad f||^2 / ||grad f||^2: the fraction of the gradient's squared norm off "
            + "the tangent space (Definition 2; 0: on the manifold, 1: off it)";
        foreach (var (mode, d) in Rho2)
        {
            var rho2 = Uncertainty.Bootstrap.Mean(Uncertainty.Bootstrap.Sample.One(Rho2PerImage[mode]));
            yield return $"rho_2 ({mode} gradient): {rho2.Text("G4")}, median {d.Median:G4}";
        }
    }

    /// <summary>rho_2 per class mode and image (the units its interval is bootstrapped over).</summary>
    public Dictionary<string, double[]> Rho2PerImage { get; init; } = new();
    /// <summary>Definition 1 per class mode and epsilon (sigma = epsilon / sqrt(d), so E||u|| ~ epsilon), from the same
    /// draws.</summary>
    public required Dictionary<string, Dictionary<string, Distribution>> Rho1 { get; init; }
}

/// <summary>What `paglab measure theorem1` writes.</summary>
public sealed record Theorem1Report
{
    public required string Model { get; init; }
    public required string Tangents { get; init; }
    public required string Dataset { get; init; }
    public required GradientMode ClassMode { get; init; }
    public int Images { get; init; }
    public int Draws { get; init; }
    public required IReadOnlyList<Theorem1Row> Rows { get; init; }
}

/// <summary>A tangent estimation: the estimator, the first <paramref name="Count"/> images of a split, the batch size
/// of the autoencoder's Jacobians and local PCA's neighbours and dimension.</summary>
public sealed record TangentRequest(TangentEstimator Estimator, Split Split, int Count, int BatchSize, int Neighbours,
    int Dimension);

/// <summary>The library side of the manifold commands: load inputs, run the estimators, write files.</summary>
public static class ManifoldExperiments
{
    /// <summary>
    /// Tangent spaces by the estimator the request names: the one dispatch `paglab tangents` and a sweep's shared
    /// tangents share. <paramref name="autoencoder"/> gives the autoencoder and its folder; it is called (and the
    /// autoencoder disposed) only for the autoencoder estimator.
    /// </summary>
    public static TangentSpaces Estimate(TangentRequest request, IDataset dataset,
        Func<(ConvAutoencoder Model, string Folder)> autoencoder, IProgressSink progress)
    {
        switch (request.Estimator)
        {
            case TangentEstimator.Autoencoder:
                var (model, folder) = autoencoder();
                using (model)
                    return EstimateWithAutoencoder(model, folder, dataset, request.Split, request.Count,
                        request.BatchSize, progress);
            case TangentEstimator.LocalPca:
                return EstimateWithLocalPca(dataset, request.Split, request.Count, request.Neighbours,
                    request.Dimension);
            default:
                return TangentCheck.TrueSpaces(dataset, request.Split, request.Count);
        }
    }

    public static IDataset LoadDataset(string name, string? dataRoot, long seed) => Datasets.Load(name,
        new DataOptions(dataRoot, seed));

    /// <summary>`paglab tangents`: autoencoder tangent spaces of the first count images of a split.</summary>
    public static TangentSpaces EstimateWithAutoencoder(string autoencoderDir, IDataset dataset, Split split, int count,
        int batchSize, IProgressSink progress)
    {
        using var autoencoder = SavedAutoencoder.Load(autoencoderDir);
        return EstimateWithAutoencoder(autoencoder, autoencoderDir, dataset, split, count, batchSize, progress);
    }

    /// <summary>The same from an autoencoder in memory (autoencoderDir names where it is saved).</summary>
    public static TangentSpaces EstimateWithAutoencoder(ConvAutoencoder autoencoder, string autoencoderDir,
        IDataset dataset, Split split, int count, int batchSize, IProgressSink progress)
    {
        Require.That(autoencoder.Spec.Shape == dataset.Shape,
            $"{autoencoderDir}: autoencoder takes {autoencoder.Spec.Shape} images but {dataset.Name} has "
                + $"{dataset.Shape}");
        var data = dataset.Part(split);
        int n = (int)Math.Min(count, data.Count);
        using var indices = arange(n, dtype: ScalarType.Int64);
        using var images = data.Images.narrow(0, 0, n);
        var spaces = TangentEstimation.FromAutoencoder(autoencoder, images, indices, batchSize, progress: progress);
        spaces.Info["split"] = Vocabulary.Name(split);
        spaces.Info["dataset"] = dataset.Name;
        spaces.Info["autoencoder"] = Path.GetFullPath(autoencoderDir);
        return spaces;
    }

    /// <summary>Tangent spaces from a traced encoder and decoder (TorchScript), as for PagLab's own
    /// autoencoder.</summary>
    public static TangentSpaces EstimateWithTorchScript(string encoderPath, string decoderPath, IDataset dataset,
        Split split, int count,
        int batchSize, IProgressSink progress)
    {
        // First in the probe child: a hang or an abort in the archives' code ends there, as one line.
        Probe.ProbeProcess.Run(new Probe.ProbeRequest { Kind = Probe.ProbeKind.Autoencoder, Archive = encoderPath,
            Decoder = decoderPath, Dataset = dataset.Name });
        using var codec = TorchScriptAutoencoder.Load(encoderPath, decoderPath, dataset.Shape);
        var data = dataset.Part(split);
        int n = (int)Math.Min(count, data.Count);
        using var indices = arange(n, dtype: ScalarType.Int64);
        using var images = data.Images.narrow(0, 0, n);
        return TangentEstimation.FromEncoderDecoder(codec.Encode, codec.Decode, images, indices, batchSize, 1e-5,
            progress, new Dictionary<string, string>
        {
            ["estimator"] = Vocabulary.Name(Models.Architecture.TorchScript), ["latent"] = codec.Latent.ToString(),
            ["dataset"] = dataset.Name,
            ["split"] = Vocabulary.Name(split),
            ["encoder"] = Path.GetFullPath(encoderPath), ["decoder"] = Path.GetFullPath(decoderPath),
        });
    }

    /// <summary>Local-PCA tangent spaces of the first count images of a split, neighbours from the training
    /// split.</summary>
    public static TangentSpaces EstimateWithLocalPca(IDataset dataset, Split split, int count, int neighbours,
        int dimension)
    {
        var data = dataset.Part(split);
        int n = (int)Math.Min(count, data.Count);
        using var indices = arange(n, dtype: ScalarType.Int64);
        using var images = data.Images.narrow(0, 0, n);
        var spaces = TangentEstimation.FromLocalPca(images, indices, dataset.Train.Images, neighbours, dimension);
        spaces.Info["split"] = Vocabulary.Name(split);
        spaces.Info["dataset"] = dataset.Name;
        return spaces;
    }

    /// <summary>The images (and labels) the tangent spaces were computed for.</summary>
    public static (Tensor Images, Tensor Labels) ImagesOf(TangentSpaces tangents, IDataset dataset, string tangentsPath)
    {
        // A file names its split; one whose name is unknown is refused with the file's path.
        string split = tangents.Info.GetValueOrDefault("split", Vocabulary.Name(Data.Split.Test));
        if (!Vocabulary.TryParse(split, out Split part))
            throw new DataFormatException(tangentsPath, Vocabulary.Problem<Split>(split, "split"));
        if (tangents.Info.TryGetValue("dataset", out var name) && name.Length > 0 && name != dataset.Name)
            throw new PagLabException($"{tangentsPath}: tangent spaces are for dataset '{name}', not '{dataset.Name}'");
        var data = dataset.Part(part);
        long max = tangents.Indices.numel() == 0 ? -1 : tangents.Indices.max().item<long>();
        if (max >= data.Count) throw new DataFormatException(tangentsPath,
            $"image index {max} is beyond the {data.Count} images of the {split} split");
        if (dataset.Shape.Pixels != tangents.AmbientDim)
            throw new DataFormatException(tangentsPath,
                $"tangent spaces live in dimension {tangents.AmbientDim} but {dataset.Name} images have "
                + $"{dataset.Shape.Pixels} pixels");
        return (data.Images.index_select(0, tangents.Indices), data.Labels.index_select(0, tangents.Indices));
    }

    /// <summary>`paglab measure manifold`: on the first <paramref name="count"/> images of the tangent file (null:
    /// all it holds; more than it holds is an error, never silently fewer).</summary>
    public static ManifoldReport MeasureManifold(string modelDir, string tangentsPath, IDataset dataset,
        double[] epsilons, int draws,
        OutputMeasure measure, long seed, int batchImages, IProgressSink progress, bool channelsLast = false,
        int? count = null)
    {
        using var model = SavedModel.Load(modelDir, channelsLast: channelsLast);
        using var all = TangentSpaces.Load(tangentsPath);
        using var tangents = First(all, count ?? all.Count, tangentsPath);
        return MeasureManifold(model, modelDir, tangents, tangentsPath, dataset, epsilons, draws, measure, seed,
            batchImages, progress);
    }

    /// <summary>
    /// The same with the model and tangent spaces in memory (the paths name them in the report).
    /// <paramref name="rho1Modes"/>: the gradient modes whose rho_1 (Monte Carlo, the costliest part: an input
    /// gradient per draw and epsilon) is measured; null: all. rho_2 is measured for every mode.
    /// </summary>
    public static ManifoldReport MeasureManifold(ImageClassifier model, string modelDir, TangentSpaces tangents,
        string tangentsPath, IDataset dataset, double[] epsilons, int draws, OutputMeasure measure, long seed,
        int batchImages, IProgressSink progress, IReadOnlyCollection<GradientMode>? rho1Modes = null,
        bool isotropic = false)
    {
        var (images, labels) = ImagesOf(tangents, dataset, tangentsPath);
        using var _i = images; using var _l = labels;
        using var eval = EvalModel.For(model);                       // folded once for the whole measurement
        model = (ImageClassifier)eval.Model;                         // a classifier's fold is a classifier
        var results = ManifoldRobustness.Measure(model.call, images, tangents, epsilons, draws, measure, seed,
            batchImages, progress, isotropic);

        var rho2 = new Dictionary<string, Distribution>();
        var rho2PerImage = new Dictionary<string, double[]>();
        var rho1 = new Dictionary<string, Dictionary<string, Distribution>>();
        long d = tangents.AmbientDim;
        foreach (var mode in Vocabulary.All<GradientMode>())
        {
            string key = Vocabulary.Name(mode);
            var r2 = new List<Tensor>();
            var r1 = epsilons.Select(_ => new List<Tensor>()).ToArray();
            bool withRho1 = rho1Modes is null || rho1Modes.Contains(mode);
            using var generator = new Generator((ulong)seed, device: CPU);
            for (long start = 0; start < images.shape[0]; start += batchImages)
            {
                using var scope = NewDisposeScope();
                long b = Math.Min(batchImages, images.shape[0] - start);
                var x = images.narrow(0, start, b);
                var q = tangents.Bases.narrow(0, start, b);
                var y = labels.narrow(0, start, b);
                r2.Add(ManifoldAlignment.Rho2(model.call, x, q, mode, y).MoveToOuterDisposeScope());
                Finite.Check(r2[^1], $"rho_2 of {modelDir} in batch {start / batchImages + 1} (images {start}.."
                    + $"{start + b - 1})");
                if (!withRho1) continue;
                var noise = randn(new[] { b, draws, d }, generator: generator);
                for (int e = 0; e < epsilons.Length; e++)
                    r1[e].Add(ManifoldAlignment.Rho1(model.call, x, q, noise, epsilons[e] / Math.Sqrt(d), mode,
                        y).MoveToOuterDisposeScope());
            }
            using (var all = cat(r2, 0))
            {
                rho2[key] = Distribution.Of(all);
                using var values = all.to_type(ScalarType.Float64);
                rho2PerImage[key] = values.data<double>().ToArray();
            }
            if (withRho1)
            {
                rho1[key] = new();
                for (int e = 0; e < epsilons.Length; e++)
                    using (var all = cat(r1[e], 0)) rho1[key][Format(epsilons[e])] = Distribution.Of(all);
            }
            foreach (var t in r2.Concat(r1.SelectMany(l => l))) t.Dispose();
        }
        return new ManifoldReport
        {
            Model = Path.GetFullPath(modelDir), Tangents = Path.GetFullPath(tangentsPath), Dataset = dataset.Name,
            Outputs = measure.Name, Images = (int)images.shape[0], Draws = draws, Seed = seed,
            Results = results, Rho2 = rho2, Rho2PerImage = rho2PerImage, Rho1 = rho1,
        };
    }

    /// <summary>What `measure manifold --out` writes: the JSON report, a CSV and a PNG beside it.</summary>
    public static (string Path, FileKind Kind)[] ManifoldReportFiles(string jsonPath) =>
        [(jsonPath, FileKind.Json), (Path.ChangeExtension(jsonPath, ".csv"), FileKind.Csv),
            (Path.ChangeExtension(jsonPath, ".png"), FileKind.Png)];

    /// <summary>What `measure theorem1 --out` writes: out.json, out.csv and out.png.</summary>
    public static (string Path, FileKind Kind)[] Theorem1ReportFiles(string outPath) =>
        [(Path.ChangeExtension(outPath, ".json"), FileKind.Json), (Path.ChangeExtension(outPath, ".csv"), FileKind.Csv),
            (Path.ChangeExtension(outPath, ".png"), FileKind.Png)];

    public static void WriteManifoldReport(string jsonPath, ManifoldReport report)
    {
        JsonFiles.Write(jsonPath, report);
        var csv =
            new
            StringBuilder("output_measure,epsilon,direction,mean,lower,upper,std,q05,q25,median,q75,q95,max,count,"
                + "off_over_on\n");
        foreach (var r in report.Results)
            foreach (var (name, dist, perImage) in new[] { ("on", r.On, r.OnPerImage), ("off", r.Off, r.OffPerImage) })
            {
                var interval = Uncertainty.Bootstrap.Mean(Uncertainty.Bootstrap.Sample.One(perImage));
                csv.AppendLine(string.Join(",", report.Outputs, Format(r.Epsilon), name, Format(dist.Mean),
                    Format(interval.Lower),
                    Format(interval.Upper), Format(dist.Std), Format(dist.Q05), Format(dist.Q25), Format(dist.Median),
                        Format(dist.Q75),
                    Format(dist.Q95), Format(dist.Maximum), dist.Count.ToString(), Format(r.OffOverOn)));
            }
        AtomicFile.WriteAllText(Path.ChangeExtension(jsonPath, ".csv"), csv.ToString());
        ManifoldPlots.OnOff(Path.ChangeExtension(jsonPath, ".png"), report.Results,
            $"{report.Dataset}: on- vs off-manifold output change ({report.Outputs})");
    }

    /// <summary>Images `measure theorem1` uses when no count is given (or all the file holds, if fewer).</summary>
    public const int Theorem1DefaultCount = 16;

    /// <summary>The first <paramref name="count"/> tangent spaces of a file, or a one-line error when it holds
    /// fewer.</summary>
    static TangentSpaces First(TangentSpaces all, long count, string tangentsPath)
    {
        Require.That(count >= 1, $"count must be at least 1, got {count}");
        Require.That(count <= all.Count, $"count {count}: {tangentsPath} holds {all.Count} tangent spaces (one per "
            + $"image); make more with `paglab tangents --count {count}`, or ask for at most {all.Count}");
        using var first = arange(count, dtype: ScalarType.Int64);
        return all.Select(first);
    }

    /// <summary>`paglab measure theorem1`: runs in float64 so sigma can go down to 1e-4 without cancellation. Null
    /// count: <see cref="Theorem1DefaultCount"/> images, or all the file holds if fewer; more than it holds is an
    /// error.</summary>
    public static Theorem1Report MeasureTheorem1(string modelDir, string tangentsPath, int? count, IDataset dataset,
        double[] sigmas, int draws,
        GradientMode mode, long seed, int batchImages, IProgressSink progress)
    {
        using var model = SavedModel.Load(modelDir);
        model.to(ScalarType.Float64);
        using var all = TangentSpaces.Load(tangentsPath);
        using var tangents = First(all, count ?? Math.Min(Theorem1DefaultCount, all.Count), tangentsPath);
        var (images, labels) = ImagesOf(tangents, dataset, tangentsPath);
        using var _i = images; using var _l = labels;
        using var x = images.to_type(ScalarType.Float64);
        using var eval = EvalModel.For(model);
        var rows = ManifoldAlignment.Theorem1(eval.Model.call, x, tangents.Bases, sigmas, draws, mode, labels, seed,
            batchImages, progress);
        return new Theorem1Report
        {
            Model = Path.GetFullPath(modelDir), Tangents = Path.GetFullPath(tangentsPath), Dataset = dataset.Name,
            ClassMode = mode, Images = (int)images.shape[0], Draws = draws, Rows = rows,
        };
    }

    /// <summary>Writes out.json, out.csv and out.png for `paglab measure theorem1`.</summary>
    public static void WriteTheorem1Report(string outPath, Theorem1Report report)
    {
        JsonFiles.Write(Path.ChangeExtension(outPath, ".json"), report);
        var csv =
            new
            StringBuilder("sigma,rho1_mean,rho2_mean,mean_abs_difference,max_abs_difference,rho1_linear_mean,"
                + "mean_abs_to_linear\n");
        foreach (var r in report.Rows)
            csv.AppendLine(string.Join(",", Format(r.Sigma), Format(r.Rho1Mean), Format(r.Rho2Mean),
                Format(r.MeanAbsDifference), Format(r.MaxAbsDifference), Format(r.Rho1LinearMean),
                Format(r.MeanAbsToLinear)));
        AtomicFile.WriteAllText(Path.ChangeExtension(outPath, ".csv"), csv.ToString());
        ManifoldPlots.Theorem1(Path.ChangeExtension(outPath, ".png"), report.Rows,
            $"Theorem 1 on {report.Dataset} ({Vocabulary.Name(report.ClassMode)} logit, {report.Images} images)");
    }

    /// <summary>
    /// PAGs, Suppl. Figure 7: per image one row — the image, x + u_on, x + u_off (both of L2 norm
    /// epsilon, clamped to [0,1] for display), then u_on and u_off as signed maps.
    /// </summary>
    public static void ShowPerturbations(string tangentsPath, IDataset dataset, string outPath, int count,
        double epsilon, long seed, int scale)
    {
        using var tangents = TangentSpaces.Load(tangentsPath);
        ShowPerturbations(tangents, tangentsPath, dataset, outPath, count, epsilon, seed, scale);
    }

    /// <summary>The same with the tangent spaces in memory (tangentsPath names them in messages).</summary>
    public static void ShowPerturbations(TangentSpaces tangents, string tangentsPath, IDataset dataset, string outPath,
        int count, double epsilon, long seed, int scale)
    {
        int n = (int)Math.Min(count, tangents.Count);
        using var rows = arange(n, dtype: ScalarType.Int64);
        using var subset = tangents.Select(rows);
        var (images, _) = ImagesOf(subset, dataset, tangentsPath);
        using var scope = NewDisposeScope();
        using var generator = new Generator((ulong)seed, device: CPU);
        long d = subset.AmbientDim;
        var u = randn(new[] { (long)n, d }, generator: generator);
        var on = ManifoldRobustness.UnitRows(subset.ProjectOn(u)) * epsilon;
        var off = ManifoldRobustness.UnitRows(subset.ProjectOff(u)) * epsilon;
        var shape = images.shape;
        var onMaps = on.view(shape); var offMaps = off.view(shape);
        Tensor Rgb(Tensor t) => t.shape[1] == 1 ? t.expand(-1, 3, -1, -1) : t;
        var tiles = stack(new[]
        {
            Rgb(images), Rgb((images + onMaps).clamp(0, 1)), Rgb((images + offMaps).clamp(0, 1)),
            ImageGrid.SignedToImage(onMaps), ImageGrid.SignedToImage(offMaps),
        }, 1).flatten(0, 1);                                                     // (n*5, 3, H, W)
        string e = Format(epsilon);
        var captions = Enumerable.Range(0, n).SelectMany(_ => new[] { "image", $"+on {e}", $"+off {e}", "on dir",
            "off dir" }).ToArray();
        ImageGrid.SavePng(outPath, tiles, columns: 5, captions, scale);
        images.Dispose();
    }

    public static string Format(double v) => v.ToString("G6", CultureInfo.InvariantCulture);
}
