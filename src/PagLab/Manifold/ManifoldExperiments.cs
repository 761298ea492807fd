using System.Globalization;
using PagLab.Common;
using PagLab.Data;
using PagLab.Imaging;
using PagLab.IO;
using PagLab.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Manifold;

/// <summary>The library side of the manifold commands: load inputs, run the estimators and measurements (their
/// files: ManifoldReportFiles).</summary>
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

    /// <summary>`paglab measure manifold`: the model and the tangent spaces loaded from the request's paths.
    /// </summary>
    public static ManifoldReport MeasureManifold(ManifoldRequest request, IProgressSink progress)
    {
        using var model = SavedModel.Load(request.ModelDir, channelsLast: request.ChannelsLast);
        using var tangents = TangentSpaces.Load(request.TangentsPath);
        return MeasureManifold(request, model, tangents, progress);
    }

    /// <summary>
    /// The same with the model and tangent spaces in memory (the request's paths name them in the report).
    /// rho_1 (Monte Carlo, the costliest part: an input gradient per draw and epsilon) is measured for the request's
    /// Rho1Modes; rho_2 for every mode.
    /// </summary>
    public static ManifoldReport MeasureManifold(ManifoldRequest request, ImageClassifier model,
        TangentSpaces tangents, IProgressSink progress)
    {
        using var first = request.Count is int count ? First(tangents, count, request.TangentsPath) : null;
        tangents = first ?? tangents;
        var (images, labels) = ImagesOf(tangents, request.Dataset, request.TangentsPath);
        using var _i = images; using var _l = labels;
        using var eval = EvalModel.For(model);                       // folded once for the whole measurement
        model = (ImageClassifier)eval.Model;                         // a classifier's fold is a classifier
        var results = ManifoldRobustness.Measure(model.call, images, tangents, request.Epsilons, request.Draws,
            request.Measure, request.Seed, request.BatchImages, progress, request.Isotropic);
        var report = new ManifoldReport
        {
            Model = Path.GetFullPath(request.ModelDir), Tangents = Path.GetFullPath(request.TangentsPath),
            Dataset = request.Dataset.Name, Outputs = request.Measure.Name, Images = (int)images.shape[0],
            Draws = request.Draws, Seed = request.Seed, Results = results, Rho2 = new(), Rho1 = new(),
        };
        foreach (var mode in Vocabulary.All<GradientMode>())
            AddRho(report, request, mode, model, images, labels, tangents);
        return report;
    }

    /// <summary>rho_2 (Definition 2) of one gradient mode per image, and rho_1 (Definition 1) per epsilon when the
    /// request asks for the mode's, into the report.</summary>
    static void AddRho(ManifoldReport report, ManifoldRequest request, GradientMode mode, ImageClassifier model,
        Tensor images, Tensor labels, TangentSpaces tangents)
    {
        string key = Vocabulary.Name(mode);
        double[] epsilons = request.Epsilons;
        int batchImages = request.BatchImages;
        var r2 = new List<Tensor>();
        var r1 = epsilons.Select(_ => new List<Tensor>()).ToArray();
        bool withRho1 = request.Rho1Modes is null || request.Rho1Modes.Contains(mode);
        long d = tangents.AmbientDim;
        using var generator = new Generator((ulong)request.Seed, device: CPU);
        for (long start = 0; start < images.shape[0]; start += batchImages)
        {
            using var scope = NewDisposeScope();
            long b = Math.Min(batchImages, images.shape[0] - start);
            var x = images.narrow(0, start, b);
            var q = tangents.Bases.narrow(0, start, b);
            var y = labels.narrow(0, start, b);
            var g = ManifoldAlignment.ScalarGradient(model.call, x, mode, y);
            string batch = $"batch {start / batchImages + 1} (images {start}..{start + b - 1})";
            Finite.Check(g, $"the input gradient of {request.ModelDir} in {batch}");  // broken; zero is undefined
            r2.Add(ManifoldAlignment.Rho2(g, q).MoveToOuterDisposeScope());
            if (!withRho1) continue;
            var noise = randn(new[] { b, request.Draws, d }, generator: generator);
            for (int e = 0; e < epsilons.Length; e++)
            {
                var rho1 = ManifoldAlignment.Rho1(model.call, x, q, noise, epsilons[e] / Math.Sqrt(d), mode, y);
                r1[e].Add(rho1.MoveToOuterDisposeScope());
            }
        }
        using (var all = cat(r2, 0))
        {
            report.Rho2[key] = Distribution.OfDefined(all);
            using var values = all.to_type(ScalarType.Float64);
            report.Rho2PerImage[key] = values.data<double>().ToArray();
        }
        if (withRho1)
        {
            report.Rho1[key] = new();
            for (int e = 0; e < epsilons.Length; e++)
                using (var all = cat(r1[e], 0)) report.Rho1[key][Format(epsilons[e])] = Distribution.OfDefined(all);
        }
        foreach (var t in r2.Concat(r1.SelectMany(l => l))) t.Dispose();
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
    public static Theorem1Report MeasureTheorem1(Theorem1Request request, IProgressSink progress)
    {
        using var model = SavedModel.Load(request.ModelDir);
        model.to(ScalarType.Float64);
        using var all = TangentSpaces.Load(request.TangentsPath);
        using var tangents = First(all, request.Count ?? Math.Min(Theorem1DefaultCount, all.Count),
            request.TangentsPath);
        var (images, labels) = ImagesOf(tangents, request.Dataset, request.TangentsPath);
        using var _i = images; using var _l = labels;
        using var x = images.to_type(ScalarType.Float64);
        using var eval = EvalModel.For(model);
        var rows = ManifoldAlignment.Theorem1(eval.Model.call, x, tangents.Bases, request.Sigmas, request.Draws,
            request.Mode, labels, request.Seed, request.BatchImages, progress);
        return new Theorem1Report
        {
            Model = Path.GetFullPath(request.ModelDir), Tangents = Path.GetFullPath(request.TangentsPath),
            Dataset = request.Dataset.Name, ClassMode = request.Mode, Images = (int)images.shape[0],
            Draws = request.Draws, Rows = rows,
        };
    }

    /// <summary>
    /// PAGs, Suppl. Figure 7: per image one row — the image, x + u_on, x + u_off (both of L2 norm
    /// epsilon, clamped to [0,1] for display), then u_on and u_off as signed maps.
    /// </summary>
    public static void ShowPerturbations(PerturbationRequest request)
    {
        using var tangents = TangentSpaces.Load(request.TangentsPath);
        ShowPerturbations(request, tangents);
    }

    /// <summary>The same with the tangent spaces in memory (the request's path names them in messages).</summary>
    public static void ShowPerturbations(PerturbationRequest request, TangentSpaces tangents)
    {
        int n = (int)Math.Min(request.Count, tangents.Count);
        double epsilon = request.Epsilon;
        using var rows = arange(n, dtype: ScalarType.Int64);
        using var subset = tangents.Select(rows);
        var (images, _) = ImagesOf(subset, request.Dataset, request.TangentsPath);
        using var scope = NewDisposeScope();
        using var generator = new Generator((ulong)request.Seed, device: CPU);
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
        ImageGrid.SavePng(request.OutPath, tiles, columns: 5, captions, request.Scale);
        images.Dispose();
    }

    public static string Format(double v) => v.ToString("G6", CultureInfo.InvariantCulture);
}
