using PagLab.Common;
using PagLab.Data;
using PagLab.Imaging;
using PagLab.IO;
using PagLab.Metrics;
using PagLab.Models;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Score;

/// <summary>Similarity of two sets of maps (gradients, scores) per image.</summary>
public sealed record Similarity
{
    public double? Lpips { get; init; }
    public double? OneMinusLpips => Lpips is double l ? 1 - l : null;
    public double Ssim { get; init; }
    public double Cosine { get; init; }
}

public sealed record ImageAlignment
{
    public long Index { get; init; }
    public long Label { get; init; }
    public required Similarity GradientVsScore { get; init; }
    public Similarity? GradientVsExactScore { get; init; }
    public Similarity? GradientVsBayesGradient { get; init; }
    public double? ScoreCosineToExact { get; init; }
}

/// <summary>Means over images, and what was compared (written to A.json).</summary>
public sealed record AlignmentReport
{
    public required string Dataset { get; init; }
    public required GradientMode Mode { get; init; }
    // of the model gradient compared with the score
    public GradientReadout GradientReadout { get; init; } = GradientReadout.Logits;
    public string ScoreConditioning { get; init; } = "unconditional";  // or "predicted class" / "label"
    public string? BayesReadout { get; init; }                         // "log-probabilities" on subspace-gaussians
    public string? Why { get; init; }                                  // which gradient and score, and why
    public double Sigma { get; init; }
    public int Count { get; init; }
    public Metrics.LpipsNet? LpipsNet { get; init; }
    public string? Note { get; init; }
    public required Similarity MeanGradientVsScore { get; init; }
    public Similarity? MeanGradientVsExactScore { get; init; }
    public Similarity? MeanGradientVsBayesGradient { get; init; }
    public double? MeanScoreCosineToExact { get; init; }
    public List<ImageAlignment> Images { get; init; } = new();
}

/// <summary>
/// Perceptual alignment (PAGs, Section 4.2): how close a model's input gradient is to the score
/// of the data distribution, by 1 - LPIPS, SSIM and cosine similarity. Both maps are made images by
/// <see cref="PerceptualImage.FromGradient"/> (each divided by its max |value|, as the authors do).
/// On subspace-gaussians the exact score and the Bayes-optimal gradient are compared as well.
/// </summary>
public static class AlignmentMeasurement
{
    public static Similarity[] Compare(Tensor a, Tensor b, Lpips? lpips)
    {
        using var _ = NewDisposeScope();
        var pa = PerceptualImage.FromGradient(a.to_type(ScalarType.Float32));
        var pb = PerceptualImage.FromGradient(b.to_type(ScalarType.Float32));
        double[]? l = null;
        if (lpips is not null)
            using (no_grad()) l = lpips.call(pa, pb).to_type(ScalarType.Float64).data<double>().ToArray();
        var s = Ssim.Compute(pa, pb, dataRange: 2.0).to_type(ScalarType.Float64).data<double>().ToArray();
        var c = Metrics.CosineSimilarity.Compute(a.to_type(ScalarType.Float64),
            b.to_type(ScalarType.Float64)).to_type(ScalarType.Float64).data<double>().ToArray();
        return Enumerable.Range(0, s.Length).Select(i => new Similarity { Lpips = l?[i], Ssim = s[i],
            Cosine = c[i] }).ToArray();
    }

    public static Similarity Mean(IEnumerable<Similarity> items)
    {
        var list = items.ToList();
        return new Similarity
        {
            Lpips = list.All(x => x.Lpips is not null) && list.Count > 0 ? list.Average(x => x.Lpips!.Value) : null,
            Ssim = list.Count == 0 ? 0 : list.Average(x => x.Ssim),
            Cosine = list.Count == 0 ? 0 : list.Average(x => x.Cosine),
        };
    }

    /// <summary>
    /// Model gradients of `mode` for the split's first count test images, beside the denoiser's score at sigma:
    /// `sum` with the unconditional score, `predicted` / `label` with the score conditioned on the same class
    /// when the denoiser is conditional (PAGs, Suppl. B.4-B.5). On subspace-gaussians also against the exact
    /// score (same conditioning) and, as log-probability gradients, against the Bayes classifier's.
    /// </summary>
    public static AlignmentReport Measure(Module<Tensor, Tensor> model, IDenoiser denoiser, IDataset dataset,
        double sigma, GradientMode mode, int count, Lpips? lpips, int batchSize = 64)
    {
        Require.Positive(sigma, "sigma");
        Require.That(count >= 1, "count must be >= 1");
        var split = dataset.Test.Take(count);
        var exact = dataset as SubspaceGaussians;
        var images = new List<ImageAlignment>();
        using var eval = EvalModel.For(model);                       // folded once for every batch
        for (long start = 0; start < split.Count; start += batchSize)
        {
            using var scope = NewDisposeScope();
            long n = Math.Min(batchSize, split.Count - start);
            var x = split.Images.narrow(0, start, n);
            var y = split.Labels.narrow(0, start, n);
            var gradient = ModelGradients.Compute(eval.Model, x, mode, y);
            var targets = Targets(eval.Model, x, mode, y);
            var scoreLabels = denoiser.Conditional ? targets : null;
            var score = ScoreFunction.Compute(denoiser, x, sigma, scoreLabels);
            string batch = $"batch {start / batchSize + 1} (images {start}..{start + n - 1})";
            Finite.Check(gradient, $"the model's input gradient in {batch}");
            Finite.Check(score, $"the score at sigma {sigma:G4} in {batch}");
            var vsScore = Compare(gradient, score, lpips);
            Similarity[]? vsExact = null, vsBayes = null;
            double[]? scoreCosine = null;
            if (exact is not null)
            {
                var trueScore = exact.Score(x, sigma, scoreLabels);
                vsExact = Compare(gradient, trueScore, lpips);
                scoreCosine = Metrics.CosineSimilarity.Compute(score.to_type(ScalarType.Float64),
                    trueScore.to_type(ScalarType.Float64)).data<double>().ToArray();
                var logProbability = ModelGradients.Compute(eval.Model, x, mode, y,
                    readout: GradientReadout.LogProbabilities);
                vsBayes = Compare(logProbability, exact.BayesLogPosteriorGradient(x, targets), lpips);
            }
            var labels = y.data<long>().ToArray();
            for (int i = 0; i < n; i++)
                images.Add(new ImageAlignment
                {
                    Index = start + i, Label = labels[i], GradientVsScore = vsScore[i],
                    GradientVsExactScore = vsExact?[i], GradientVsBayesGradient = vsBayes?[i],
                        ScoreCosineToExact = scoreCosine?[i],
                });
        }
        string conditioning = mode == GradientMode.Sum || !denoiser.Conditional ? "unconditional"
            : mode == GradientMode.Label ? "label" : "predicted class";
        return new AlignmentReport
        {
            Dataset = dataset.Name, Mode = mode, Sigma = sigma, Count = images.Count,
            LpipsNet = lpips?.Net,
            ScoreConditioning = conditioning, BayesReadout = exact is null ? null : "log-probabilities",
            Why = Explain(mode, denoiser.Conditional, exact is not null),
            Note = lpips is null ? "LPIPS weights absent: only SSIM and cosine are reported (name a weight file, or "
                                   + "`paglab weights fetch lpips-alex` for AlexNet)" : null,
            MeanGradientVsScore = Mean(images.Select(i => i.GradientVsScore)),
            MeanGradientVsExactScore = exact is null ? null : Mean(images.Select(i => i.GradientVsExactScore!)),
            MeanGradientVsBayesGradient = exact is null ? null : Mean(images.Select(i => i.GradientVsBayesGradient!)),
            MeanScoreCosineToExact = exact is null ? null : images.Average(i => i.ScoreCosineToExact!.Value),
            Images = images,
        };
    }

    /// <summary>The class each image's gradient is of: none for `sum`, the label, or the model's prediction.</summary>
    static Tensor? Targets(Module<Tensor, Tensor> model, Tensor x, GradientMode mode, Tensor labels) => mode switch
    {
        GradientMode.Sum => null, GradientMode.Label => labels, _ => ModelGradients.PredictedClasses(model, x),
    };

    static string Explain(GradientMode mode, bool conditionalDenoiser, bool bayes)
    {
        string which = mode == GradientMode.Label ? "label" : "predicted class";
        string score = mode == GradientMode.Sum
            ? "the summed logits' gradient against the unconditional score"
              + " (the authors' CIFAR-10 choice, PAGs Suppl. B.4-B.5)"
            : conditionalDenoiser
                ? $"the {which}'s logit gradient against the score conditioned on that class"
                  + " (the authors' ImageNet-64 choice, Suppl. B.4-B.5)"
                : $"the {which}'s logit gradient against the unconditional score, because the denoiser is not"
                  + " class-conditional (the paper pairs a class gradient with a conditional score, Suppl. B.4)";
        string bayesPart = " The Bayes comparison differentiates log-probabilities on both sides"
            + " (log_softmax of the model, the exact log p(y|x)), because logits are log-probabilities only"
            + " up to a per-input constant whose gradient does not vanish.";
        return "Compared " + score + "; logits, as the paper takes gradients before the softmax (Suppl. B.5)."
            + (bayes ? bayesPart : "");
    }

    /// <summary>
    /// The paper's Figure 6 layout, one row per image: the image, the score, then each model's
    /// gradient with its LPIPS (or SSIM) to the score above it.
    /// </summary>
    public static void Figure(string path, IReadOnlyList<(string Name, Module<Tensor, Tensor> Model)> models,
        IDenoiser denoiser, IDataset dataset, double sigma, GradientMode mode, int count, Lpips? lpips)
    {
        using var _ = NewDisposeScope();
        var split = dataset.Test.Take(count);
        var x = split.Images; var y = split.Labels;
        var columns = new List<Tensor> { x.expand(-1, 3, -1, -1).contiguous() };
        var captions = new List<string[]> { Enumerable.Repeat("image", (int)split.Count).ToArray(),
            Enumerable.Repeat("score", (int)split.Count).ToArray() };
        // One score column: with a conditional denoiser and a class mode it is conditioned on the label (the first
        // model's prediction could differ from the others'); `sum` takes the unconditional score.
        var score = ScoreFunction.Compute(denoiser, x, sigma,
            denoiser.Conditional && mode != GradientMode.Sum ? y : null);
        columns.Add(ImageGrid.SignedToImage(score));
        foreach (var (name, model) in models)
        {
            var g = ModelGradients.Compute(model, x, mode, y);
            var sims = Compare(g, score, lpips);
            columns.Add(ImageGrid.SignedToImage(g));
            captions.Add(sims.Select(s => lpips is null
                ? $"{name}\nssim {s.Ssim:F2}" : $"{name}\nlpips {s.Lpips:F2}").ToArray());
        }
        var tiles = stack(columns.ToArray(), 1).flatten(0, 1);        // row-major: image, score, models...
        var labels = Enumerable.Range(0, (int)split.Count).SelectMany(i => captions.Select(c => c[i])).ToList();
        ImageGrid.SavePng(path, tiles, columns.Count, labels, scale: 4);
    }

    public static void Write(string path, AlignmentReport report) => JsonFiles.Write(path, report);
}
