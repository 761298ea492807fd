using PagLab.Common;
using PagLab.Data;
using PagLab.IO;
using PagLab.Uncertainty;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Score;

/// <summary>The denoiser at one pixel-space noise level.</summary>
public sealed record DenoiserQualityAtSigma
{
    public double Sigma { get; init; }
    /// <summary>||D(x0 + sigma n, sigma) - x0||^2 per pixel on held-out images.</summary>
    public required Estimate Mse { get; init; }
    /// <summary>The same for the exact posterior mean on the same draws (the floor), where it exists.</summary>
    public Estimate? ExactMse { get; init; }
    /// <summary>Cosine of the score (D(x0) - x0) / sigma^2 at clean held-out images to the exact score, where known.
    /// </summary>
    public Estimate? ScoreCosine { get; init; }
    /// <summary>The same error for the posterior mean under a Gaussian fit to the training images (per-pixel mean
    /// and variance, per class when the denoiser is conditional): the best denoiser that knows only those.</summary>
    public Estimate? BaselineMse { get; init; }
    /// <summary>Baseline error minus the denoiser's, paired per image: above 0 means it learned more than the
    /// Gaussian fit.</summary>
    public Estimate? GainOverBaseline { get; init; }
}

/// <summary>Whether a score is good enough to support an alignment finding, and why.</summary>
public sealed record ScoreAdequacy(bool Adequate, string Reason);

/// <summary>quality.json beside a trained denoiser: how far its score can be trusted.</summary>
public sealed record DenoiserQuality
{
    public int FormatVersion { get; init; } = 1;
    public required string Dataset { get; init; }
    public required string Arch { get; init; }
    public bool Conditional { get; init; }
    public int Count { get; init; }
    /// <summary>The EDM training loss (weighted, ln s ~ N(-1.2, 1.2^2)) on held-out images.</summary>
    public required Estimate EdmLoss { get; init; }
    public List<DenoiserQualityAtSigma> BySigma { get; init; } = new();
    public string Interval { get; init; } = "95% normal interval over images: mean -/+ 1.96 sd / sqrt(n)";

    public const string FileName = "quality.json";
    /// <summary>Where the exact score is known, the cosine a usable score must reach (its interval's lower end).
    /// </summary>
    public const double MinimumExactCosine = 0.9;
    public static readonly double[] DefaultSigmas = { 0.1, 0.25, 0.5, 1 };
    public const int DefaultCount = 500;         // held-out images (fewer if the test split is smaller)

    /// <summary>
    /// EDM loss, denoising error and (on subspace-gaussians) cosine to the exact score, on the first count test
    /// images, conditioned on their labels when the denoiser is conditional. Fixed draws (seed) for reproducibility.
    /// </summary>
    public static DenoiserQuality Measure(EdmPreconditioner denoiser, IDataset dataset, int count = DefaultCount,
        double[]? sigmas = null, long seed = 0, int batchSize = 250)
    {
        sigmas ??= DefaultSigmas;
        var split = dataset.Test.Take(count);
        var exact = dataset as SubspaceGaussians;
        using var generator = new Generator((ulong)seed + 104729, device: CPU);
        var loss = new List<double>();
        var mse = sigmas.Select(_ => new List<double>()).ToArray();
        var exactMse = sigmas.Select(_ => new List<double>()).ToArray();
        var cosine = sigmas.Select(_ => new List<double>()).ToArray();
        var baselineMse = sigmas.Select(_ => new List<double>()).ToArray();
        using var prior = GaussianPrior.Fit(dataset.Train, denoiser.Conditional);
        bool wasTraining = denoiser.Network.training;
        denoiser.Network.eval();
        try
        {
            for (long start = 0; start < split.Count; start += batchSize)
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                long n = Math.Min(batchSize, split.Count - start);
                var x0 = split.Images.narrow(0, start, n);
                var labels = denoiser.Conditional ? split.Labels.narrow(0, start, n) : null;
                var edm = Score.EdmLoss.PerExample(denoiser, x0, labels, generator).Loss;
                loss.AddRange(edm.to_type(ScalarType.Float64).data<double>());
                for (int i = 0; i < sigmas.Length; i++)
                {
                    var noisy = x0 + randn(x0.shape, dtype: x0.dtype, generator: generator) * sigmas[i];
                    mse[i].AddRange(PerPixelError(denoiser.Denoise(noisy, sigmas[i], labels), x0));
                    baselineMse[i].AddRange(PerPixelError(prior.PosteriorMean(noisy, sigmas[i], labels), x0));
                    if (exact is null) continue;
                    exactMse[i].AddRange(PerPixelError(exact.PosteriorMean(noisy, sigmas[i], labels), x0));
                    var score = ScoreFunction.Compute(denoiser, x0, sigmas[i], labels).to_type(ScalarType.Float64);
                    var truth = exact.Score(x0, sigmas[i], labels);
                    var agreement = Metrics.CosineSimilarity.Compute(score, truth).to_type(ScalarType.Float64);
                    cosine[i].AddRange(agreement.data<double>());
                }
            }
        }
        finally { if (wasTraining) denoiser.Network.train(); }
        return new DenoiserQuality
        {
            Dataset = dataset.Name, Arch = Common.Vocabulary.Name(denoiser.Network.Spec.Arch),
            Conditional = denoiser.Conditional,
            Count = (int)split.Count,
            EdmLoss = Estimate.Normal(loss),
            BySigma = sigmas.Select((s, i) => new DenoiserQualityAtSigma
            {
                Sigma = s, Mse = Estimate.Normal(mse[i]),
                ExactMse = exact is null ? null : Estimate.Normal(exactMse[i]),
                ScoreCosine = exact is null ? null : Estimate.Normal(cosine[i]),
                BaselineMse = Estimate.Normal(baselineMse[i]),
                GainOverBaseline = Estimate.Normal(baselineMse[i].Zip(mse[i], (b, m) => b - m).ToList()),
            }).ToList(),
        };
    }

    /// <summary>The measured noise level nearest to sigma (on a log scale), or null when none was measured.</summary>
    public DenoiserQualityAtSigma? NearestTo(double sigma) => BySigma.MinBy(b => Math.Abs(Math.Log(b.Sigma / sigma)));

    /// <summary>
    /// Is the score at the alignment noise level good enough to support an alignment finding? Where the exact
    /// score is known: its cosine's interval must lie at or above <see cref="MinimumExactCosine"/>. Elsewhere:
    /// the denoiser must beat the Gaussian-fit baseline (the gain's interval above 0); otherwise its score says no
    /// more about the data than their per-pixel mean and variance. Null when quality was not measured.
    /// </summary>
    public ScoreAdequacy? AdequacyAt(double sigma)
    {
        if (NearestTo(sigma) is not { } q) return null;
        string at = q.Sigma == sigma ? FormattableString.Invariant($"sigma {q.Sigma:G3}")
            : FormattableString.Invariant($"sigma {q.Sigma:G3} (nearest measured to {sigma:G3})");
        if (q.ScoreCosine is Estimate c)
            return new ScoreAdequacy(c.Lower >= MinimumExactCosine, FormattableString.Invariant(
                $"cosine to the exact score {c.Text()} at {at}; a usable score needs >= {MinimumExactCosine:G2}"));
        if (q.GainOverBaseline is not Estimate g || q.BaselineMse is not Estimate b)
            return null;   // quality.json written before the baseline existed
        return new ScoreAdequacy(g.Above(0), $"denoising error {q.Mse.Text()} vs {b.Text()} for a Gaussian fit at "
            + at + (g.Above(0) ? "" : ": not better than the Gaussian fit"));
    }

    static double[] PerPixelError(Tensor denoised, Tensor x0) =>
        (denoised.to_type(ScalarType.Float64) - x0.to_type(ScalarType.Float64)).pow(2).flatten(1).mean(new long[] { 1 })
            .data<double>().ToArray();

    public static void Write(string denoiserDir, DenoiserQuality quality) =>
        JsonFiles.Write(Path.Combine(denoiserDir, FileName), quality);

    /// <summary>quality.json of a denoiser folder, or null when it has none (trained before it existed).</summary>
    public static DenoiserQuality? Read(string denoiserDir)
    {
        string path = Path.Combine(denoiserDir, FileName);
        return File.Exists(path) ? JsonFiles.Read<DenoiserQuality>(path) : null;
    }
}
