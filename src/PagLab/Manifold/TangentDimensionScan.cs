using System.Globalization;
using PagLab.Common;
using PagLab.Data;
using PagLab.IO;
using PagLab.Models;
using PagLab.Training;
using PagLab.Uncertainty;
using static TorchSharp.torch;

namespace PagLab.Manifold;

/// <summary>What `paglab measure kscan` measures: the models, the tangent dimensions k, the on/off settings.</summary>
public sealed record TangentScanRequest
{
    public required string Dataset { get; init; }
    public string? DataRoot { get; init; }
    /// <summary>Model folders (PagLab runs or imported models).</summary>
    public required IReadOnlyList<string> Models { get; init; }
    /// <summary>Latent dimensions k of the autoencoders, one tangent space of dimension k per image each.</summary>
    public IReadOnlyList<int> Latents { get; init; } = new[] { 8, 16, 32, 64 };
    /// <summary>Test images measured (the first ones of the test split).</summary>
    public int Images { get; init; } = 128;
    public int Draws { get; init; } = 8;
    public IReadOnlyList<double> Epsilons { get; init; } = new[] { 1.0, 4.0 };
    public OutputMeasure Measure { get; init; } = OutputMeasure.Default;
    /// <summary>Neighbours of each image (training split) for the local-PCA tangents the autoencoder's are compared
    /// with.</summary>
    public int Neighbours { get; init; } = 128;
    /// <summary>Measures an untrained network of each trained model's architecture beside it (the control for
    /// what the architecture and the noise alone give).</summary>
    public bool Untrained { get; init; } = true;
    public long Seed { get; init; }
    public int BatchImages { get; init; } = 16;
    /// <summary>The autoencoders' training (its latent is set per k).</summary>
    public AutoencoderSettings Autoencoder { get; init; } = new();

    /// <summary>Checks every value before any work; messages name the property.</summary>
    public void Validate()
    {
        Require.That(Latents.Count > 0 && Latents.All(k => k >= 1), "latents must be >= 1");
        Require.That(Models.Count > 0, "models must name at least one model folder");
        Require.Positive(Images, "images");
        Require.Positive(Draws, "draws");
        Require.Positive(Neighbours, "neighbours");
        Require.Positive(BatchImages, "batchImages");
        Require.That(Epsilons.Count > 0 && Epsilons.All(e => e > 0 && double.IsFinite(e)),
            "epsilons must be positive numbers");
    }
}

/// <summary>How well the k-dimensional manifold estimate fits: the autoencoder's and PCA's test reconstruction
/// error (mean squared error per pixel) and the principal angles between the autoencoder's tangent spaces and
/// local PCA's of the same dimension.</summary>
public sealed record LatentQuality(int Latent, double AutoencoderMse, double PcaMse, AngleSummary AnglesToLocalPca)
{
    /// <summary>The autoencoder's test error per pixel, mean over test images with its 95% interval (the
    /// training's last epoch gives <see cref="AutoencoderMse"/>, the same mean).</summary>
    public Estimate? AutoencoderError { get; init; }
    /// <summary>PCA's test error per pixel with its interval over test images.</summary>
    public Estimate? PcaError { get; init; }
    /// <summary>Autoencoder minus PCA error, paired over the same test images (below 0: the autoencoder fits
    /// better).</summary>
    public Estimate? AutoencoderMinusPca { get; init; }
    /// <summary>The mean principal angle to local PCA (degrees) with its interval over the measured images.
    /// </summary>
    public Estimate? MeanAngleDegrees { get; init; }
    /// <summary>How the k-dimensional tangents were estimated; null (files before it): autoencoder. For local-pca the
    /// autoencoder fields are NaN and the angles to local PCA 0 (they are local PCA's).</summary>
    public TangentEstimator? Estimator { get; init; }
    /// <summary>The mean principal angle (degrees) to the exact tangent space, on data that has one (subspace-
    /// gaussians): min(k, m) angles per image, all near 0 when the smaller space lies in the larger.</summary>
    public Estimate? MeanAngleToExactDegrees { get; init; }
}

/// <summary>One model at one k and epsilon: off/on as a ratio of means and as the median of per-image ratios, and
/// off over isotropic noise of the same norm; each with its 95% interval over images.</summary>
public sealed record ScanCell(string Model, int Latent, double Epsilon, Estimate OffOverOn, Estimate MedianOffOverOn,
    Estimate OffOverIsotropic);

/// <summary>A measured model: its label (folder name, or "untrained ARCH"), test accuracy with its interval.</summary>
public sealed record ScannedModel(string Label, string? Folder, bool Untrained, Estimate TestAccuracy);

/// <summary>What `paglab measure kscan` writes (kscan.json; kscan.csv beside it).</summary>
public sealed record TangentScanReport(string Dataset, string Outputs, int Images, int Draws,
    IReadOnlyList<ScannedModel> Models, IReadOnlyList<LatentQuality> Latents, IReadOnlyList<ScanCell> Cells)
{
    /// <summary>Labels of untrained models whose off/on is below 1 at some k and epsilon: there, "trained models
    /// are more robust off than on the manifold" is a property of the architecture and the noise, not of
    /// training, and cannot be tested by off/on &lt; 1.</summary>
    public IReadOnlyList<string> UntrainedBelowOne => Cells
        .Where(c => Models.Any(m => m.Untrained && m.Label == c.Model) && c.OffOverOn.Mean < 1)
        .Select(c => c.Model).Distinct().ToList();
}

/// <summary>
/// The controls of the on/off measurement (PAGs, Section 4, "Measuring On- and Off-Manifold Robustness"): the
/// same models measured with tangent spaces of several dimensions k, each from its own autoencoder (whose
/// reconstruction is compared with PCA's and whose tangents with local PCA's), beside an untrained network of
/// the same architecture and isotropic noise of the same norm; off/on as a ratio of means and as a median of
/// per-image ratios. A conclusion about off/on holds only if it holds at every k.
/// </summary>
public static class TangentDimensionScan
{
    /// <summary>The report in the scan's folder, and the prefix of its autoencoder run folders.</summary>
    public const string ReportFile = "kscan.json", AutoencoderPrefix = "autoencoder-k";

    public static TangentScanReport Run(TangentScanRequest request, string outDir, IProgressSink progress)
    {
        request.Validate();
        var dataset = Datasets.Load(request.Dataset, new DataOptions(request.DataRoot, request.Seed));
        var models = LoadModels(request, dataset, progress);
        try
        {
            using var pca = PcaBasis.Fit(dataset.Train.Images);
            var qualities = new List<LatentQuality>();
            var cells = new List<ScanCell>();
            foreach (int k in request.Latents)
            {
                var config = new AutoencoderConfig(request.Autoencoder)
                {
                    Dataset = request.Dataset, DataRoot = request.DataRoot, Seed = request.Seed, Latent = k,
                };
                using var tangents = BuildLatent(config, k, Path.Combine(outDir, $"{AutoencoderPrefix}{k}"), dataset,
                    pca, request.Images, request.Neighbours, request.BatchImages, progress, out var quality);
                qualities.Add(quality);
                var (images, _) = ManifoldExperiments.ImagesOf(tangents, dataset, $"k = {k}");
                using (images)
                    foreach (var m in models)
                        cells.AddRange(MeasureLatent(m.Model, m.Info.Label, images, tangents, k,
                                request.Epsilons.ToArray(), request.Draws, request.Measure, request.Seed,
                                request.BatchImages, progress)
                            .Select(r => Cell(m.Info.Label, k, r)));
            }
            return new TangentScanReport(dataset.Name, request.Measure.Name, request.Images, request.Draws,
                models.Select(m => m.Info).ToList(), qualities, cells);
        }
        finally { foreach (var m in models) m.Model.Dispose(); }
    }

    sealed record LoadedModel(ScannedModel Info, ImageClassifier Model);

    static List<LoadedModel> LoadModels(TangentScanRequest request, IDataset dataset, IProgressSink progress)
    {
        var models = new List<LoadedModel>();
        foreach (string dir in request.Models)
        {
            var model = SavedModel.Load(dir);
            string full = Path.GetFullPath(dir);
            string label = Path.GetFileName(Path.TrimEndingDirectorySeparator(full));
            models.Add(new(new ScannedModel(label, full, false, Accuracy(model, dataset)), model));
        }
        if (!request.Untrained) return models;
        foreach (var spec in models.Select(m => m.Model.Spec).Where(s => s.Arch != Architecture.TorchScript)
                     .Distinct().ToList())
        {
            var untrained = ModelFactory.Create(spec, request.Seed);
            string label = "untrained " + Vocabulary.Name(spec.Arch);
            progress.Line($"{label}: the control for what the architecture and the noise give without training");
            models.Insert(0, new(new ScannedModel(label, null, true, Accuracy(untrained, dataset)), untrained));
        }
        return models;
    }

    static Estimate Accuracy(ImageClassifier model, IDataset dataset)
    {
        double accuracy = Evaluation.Accuracy(model, dataset.Test);
        long n = dataset.Test.Count;
        return Estimate.Binomial((long)Math.Round(accuracy * n), n);
    }

    /// <summary>
    /// One k of the scan: the autoencoder of latent k (config's latent, or its default when that is k) trained into
    /// dir, or resumed or reused when there; the tangent spaces of the first <paramref name="count"/> test images;
    /// and how well it fits: its and PCA's test error, and the principal angles to local PCA's tangents of the same
    /// dimension.
    /// </summary>
    public static TangentSpaces BuildLatent(AutoencoderConfig config, int k, string dir, IDataset dataset,
        PcaBasis pca, int count, int neighbours, int batchImages, IProgressSink progress, out LatentQuality quality,
        string? tensorboard = null)
    {
        config.Validate();
        progress.Line($"autoencoder k = {k} ({dir})");
        TangentSpaces tangents;
        double[] autoencoderErrors;
        using (var autoencoder = AutoencoderTrainer.Run(config, dir, progress, resume: Directory.Exists(dir),
                   tensorboard: tensorboard))
        {
            tangents = ManifoldExperiments.EstimateWithAutoencoder(autoencoder, dir, dataset, Split.Test, count,
                batchImages, progress);
            autoencoderErrors = ErrorPerImage(autoencoder, dataset.Test.Images);
        }
        try
        {
            using var scope = NewDisposeScope();                      // the comparison's tensors, not the tangents
            double testMse = AutoencoderTrainer.ReadMetrics(dir).Last().TestReconstruction;
            using var local = ManifoldExperiments.EstimateWithLocalPca(dataset, Split.Test, count, neighbours, k);
            using var angles = PrincipalAngles.Between(tangents.Bases, local.Bases);
            using var meanAngles = (angles.to_type(ScalarType.Float64) * (180.0 / Math.PI)).mean(new long[] { 1 });
            var ae = Bootstrap.Sample.One(autoencoderErrors);
            var linear = Bootstrap.Sample.One(pca.ErrorPerImage(dataset.Test.Images, k));
            quality = new LatentQuality(k, testMse, pca.TestMse(dataset.Test.Images, k),
                PrincipalAngles.Summarise(angles))
            {
                AutoencoderError = Bootstrap.Mean(ae), PcaError = Bootstrap.Mean(linear),
                AutoencoderMinusPca = Bootstrap.Difference(ae, linear),
                MeanAngleDegrees = Bootstrap.Mean(Bootstrap.Sample.One(meanAngles.data<double>().ToArray())),
            };
            return tangents;
        }
        catch
        {
            tangents.Dispose();
            throw;
        }
    }

    /// <summary>
    /// One k of the scan by local PCA (no autoencoder): each image's k principal directions among its
    /// <paramref name="neighbours"/> nearest training images; its fit is PCA's test error with that k.
    /// </summary>
    public static TangentSpaces BuildLocalPcaLatent(IDataset dataset, PcaBasis pca, int k, int count, int neighbours,
        out LatentQuality quality)
    {
        var tangents = ManifoldExperiments.EstimateWithLocalPca(dataset, Split.Test, count, neighbours, k);
        var linear = Bootstrap.Sample.One(pca.ErrorPerImage(dataset.Test.Images, k));
        quality = new LatentQuality(k, double.NaN, pca.TestMse(dataset.Test.Images, k),
            new AngleSummary(0, 0, 0, tangents.Count))
        {
            PcaError = Bootstrap.Mean(linear), Estimator = TangentEstimator.LocalPca,
        };
        return tangents;
    }

    /// <summary>The mean principal angle of each image's tangents to the exact tangent space (degrees, interval over
    /// images); null for data without one.</summary>
    public static Estimate? MeanAngleToExact(TangentSpaces tangents, IDataset dataset)
    {
        if (dataset is not SubspaceGaussians) return null;
        using var _ = NewDisposeScope();
        var exact = TangentCheck.TrueBasis(dataset).to_type(ScalarType.Float32);                // (d, m)
        var angles = PrincipalAngles.Between(tangents.Bases, exact) * (180.0 / Math.PI);       // (N, min(k, m))
        return Bootstrap.Mean(Bootstrap.Sample.One(angles.mean(new long[] { 1 }).data<double>().ToArray()));
    }

    /// <summary>Each image's reconstruction error, mean squared error per pixel.</summary>
    static double[] ErrorPerImage(ConvAutoencoder autoencoder, Tensor images, int batchSize = 256)
    {
        autoencoder.eval();
        using var noGrad = no_grad();
        var errors = new List<double>();
        for (long start = 0; start < images.shape[0]; start += batchSize)
        {
            using var _ = NewDisposeScope();
            var x = images.narrow(0, start, Math.Min(batchSize, images.shape[0] - start));
            var perImage = (autoencoder.call(x) - x).square().flatten(1).mean(new long[] { 1 })   // (B)
                .to_type(ScalarType.Float64);
            errors.AddRange(perImage.data<double>().ToArray());
        }
        return errors.ToArray();
    }

    /// <summary>On, off and isotropic output changes of one model on the tangents of latent k (the images are
    /// theirs, <see cref="ManifoldExperiments.ImagesOf"/>), every value checked finite.</summary>
    public static IReadOnlyList<EpsilonResult> MeasureLatent(ImageClassifier model, string label, Tensor images,
        TangentSpaces tangents, int k, double[] epsilons, int draws, OutputMeasure measure, long seed,
        int batchImages, IProgressSink progress)
    {
        using var eval = EvalModel.For(model);
        var results = ManifoldRobustness.Measure(eval.Model.call, images, tangents, epsilons, draws, measure, seed,
            batchImages, progress, isotropic: true);
        foreach (var r in results)
            Finite.Check(r.OffPerImage.Concat(r.OnPerImage).Concat(r.IsotropicPerImage),
                $"the output change of {label} at k = {k}, eps {r.Epsilon}");
        return results;
    }

    static ScanCell Cell(string label, int k, EpsilonResult r) => new(label, k, r.Epsilon,
        Bootstrap.Ratio(Bootstrap.Sample.One(r.OffPerImage), Bootstrap.Sample.One(r.OnPerImage)),
        Bootstrap.MedianRatio(Bootstrap.Sample.One(r.OffPerImage), Bootstrap.Sample.One(r.OnPerImage)),
        Bootstrap.Ratio(Bootstrap.Sample.One(r.OffPerImage), Bootstrap.Sample.One(r.IsotropicPerImage)));

    /// <summary>kscan.json, kscan.csv (one row per model, k and epsilon) and kscan-latents.csv.</summary>
    public static void Write(string outDir, TangentScanReport report)
    {
        JsonFiles.Write(Path.Combine(outDir, ReportFile), report);
        CsvTable.Write(Path.Combine(outDir, "kscan.csv"), CellColumns, report.Cells.Select(c =>
        {
            var m = report.Models.First(x => x.Label == c.Model);
            return new[] { CsvTable.Quote(c.Model), m.Untrained ? "true" : "false", F(m.TestAccuracy.Mean),
                c.Latent.ToString(CultureInfo.InvariantCulture), F(c.Epsilon) }
                .Concat(new[] { c.OffOverOn, c.MedianOffOverOn, c.OffOverIsotropic }.SelectMany(Cells));
        }));
        CsvTable.Write(Path.Combine(outDir, "kscan-latents.csv"), LatentColumns, report.Latents.Select(q => new[]
        {
            q.Latent.ToString(CultureInfo.InvariantCulture), F(q.AutoencoderMse), F(q.PcaMse),
            F(q.AnglesToLocalPca.MeanDegrees), F(q.AnglesToLocalPca.MaxDegrees),
        }.Concat(Cells(q.AutoencoderMinusPca))
            .Concat(q.MeanAngleDegrees is { } a ? new[] { F(a.Lower), F(a.Upper) } : new[] { "", "" })));
    }

    static readonly string[] CellColumns = ["model", "untrained", "test_accuracy", "latent", "epsilon", "off_over_on",
        "off_over_on_lower", "off_over_on_upper", "median_off_over_on", "median_off_over_on_lower",
        "median_off_over_on_upper", "off_over_isotropic", "off_over_isotropic_lower", "off_over_isotropic_upper"];

    static readonly string[] LatentColumns = ["latent", "autoencoder_test_mse", "pca_test_mse",
        "mean_angle_to_local_pca_degrees", "max_angle_to_local_pca_degrees", "autoencoder_minus_pca",
        "autoencoder_minus_pca_lower", "autoencoder_minus_pca_upper", "mean_angle_lower", "mean_angle_upper"];

    static string[] Cells(Estimate? e) => e is null ? ["", "", ""] : [F(e.Mean), F(e.Lower), F(e.Upper)];

    static string F(double v) => ManifoldExperiments.Format(v);
}

/// <summary>Principal components of the training images (the linear manifold estimate the autoencoders are
/// compared with).</summary>
public sealed class PcaBasis : IDisposable
{
    readonly Tensor mean, components;   // (d), (d, d) columns by decreasing variance

    PcaBasis(Tensor mean, Tensor components) { this.mean = mean; this.components = components; }

    public static PcaBasis Fit(Tensor trainImages)
    {
        using var _ = NewDisposeScope();
        var x = trainImages.flatten(1).to_type(ScalarType.Float64);                 // (N, d)
        var mean = x.mean(new long[] { 0 });
        var centred = x - mean;
        var covariance = centred.T.matmul(centred) / x.shape[0];                    // (d, d)
        var (_, vectors) = linalg.eigh(covariance);                                 // ascending eigenvalues
        return new PcaBasis(mean.MoveToOuterDisposeScope(), vectors.flip(1).MoveToOuterDisposeScope());
    }

    /// <summary>Mean squared error per pixel of the test images projected on the top k components.</summary>
    public double TestMse(Tensor testImages, int k) => ErrorPerImage(testImages, k).Average();

    /// <summary>The same per image.</summary>
    public double[] ErrorPerImage(Tensor testImages, int k)
    {
        using var _ = NewDisposeScope();
        var x = testImages.flatten(1).to_type(ScalarType.Float64) - mean;          // (N, d)
        var v = components.narrow(1, 0, Math.Min(k, components.shape[1]));         // (d, k)
        var residual = x - x.matmul(v).matmul(v.T);
        return residual.square().mean(new long[] { 1 }).data<double>().ToArray();
    }

    public void Dispose() { mean.Dispose(); components.Dispose(); }
}
