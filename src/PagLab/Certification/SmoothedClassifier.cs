using PagLab.Data;
using PagLab.Models;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Certification;

/// <summary>What certification of a split reports.</summary>
public sealed record CertificationResult
{
    public double Sigma { get; init; }
    public int N0 { get; init; }
    public int N { get; init; }
    public double Alpha { get; init; }
    public double Accuracy { get; init; }          // predicted (not abstained) and correct
    public double AbstainRate { get; init; }
    public double MeanRadius { get; init; }        // over correct, certified images
    public Dictionary<string, double> CertifiedAccuracyAt { get; init; } = new();
    public long[] Predictions { get; init; } = Array.Empty<long>();  // -1 = abstain
    public double[] Radii { get; init; } = Array.Empty<double>();
}

/// <summary>
/// The smoothed classifier g(x) = argmax_c P(f(x + eps) = c), eps ~ N(0, sigma^2 I), certified
/// with CERTIFY of Cohen, Rosenfeld &amp; Kolter (2019): select the top class from n0 draws, estimate
/// its probability from n fresh draws, lower-bound it (Clopper-Pearson, level alpha); abstain when
/// the bound is below 1/2, else certify the L2 radius sigma * Phi^-1(pA_lower). Batched over images
/// and draws.
/// </summary>
public static class SmoothedClassifier
{
    public static readonly double[] Radii = { 0, 0.25, 0.5, 1.0, 2.0 };

    public static CertificationResult Certify(Module<Tensor, Tensor> model, DataSplit split, double sigma, int n0,
        int n, double alpha, long seed = 0, int drawBatch = 1000)
    {
        Common.Require.Positive(sigma, "sigma");
        Common.Require.That(n0 >= 1 && n >= 1, "n0 and `n` must be >= 1");
        Common.Require.That(alpha > 0 && alpha < 0.5, $"alpha must be in (0, 0.5), got {alpha}");
        using var eval = EvalModel.For(model);                       // eval mode, batch norm folded
        using var generator = new Generator(unchecked((ulong)seed + 17), device: CPU);
        var predictions = new long[split.Count];
        var radii = new double[split.Count];
        var labels = split.Labels.data<long>().ToArray();
        for (long i = 0; i < split.Count; i++)
        {
            using var scope = NewDisposeScope();
            var x = split.Images.narrow(0, i, 1);
            var selection = Counts(eval.Model, x, sigma, n0, drawBatch, generator);
            long top = selection.argmax().item<long>();
            long nA = Counts(eval.Model, x, sigma, n, drawBatch, generator)[top].item<long>();
            double pLower = Statistics.ClopperPearsonLower(nA, n, alpha);
            if (pLower < 0.5) { predictions[i] = -1; radii[i] = 0; }
            else { predictions[i] = top; radii[i] = sigma * Statistics.NormalQuantile(pLower); }
        }
        long count = split.Count;
        var correct = Enumerable.Range(0, (int)count).Where(i => predictions[i] == labels[i]).ToArray();
        return new CertificationResult
        {
            Sigma = sigma, N0 = n0, N = n, Alpha = alpha,
            Accuracy = count == 0 ? 0 : (double)correct.Length / count,
            AbstainRate = count == 0 ? 0 : (double)predictions.Count(p => p < 0) / count,
            MeanRadius = correct.Length == 0 ? 0 : correct.Average(i => radii[i]),
            CertifiedAccuracyAt = Radii.ToDictionary(r => r.ToString(System.Globalization.CultureInfo.InvariantCulture),
                                                     r => count == 0 ? 0 : (double)correct.Count(i => radii[i] >= r)
                                                         / count),
            Predictions = predictions, Radii = radii,
        };
    }

    /// <summary>Class counts of f(x + eps) over `draws` noise draws of one image x (1, C, H, W), in batches.</summary>
    static Tensor Counts(Module<Tensor, Tensor> model, Tensor x, double sigma, int draws, int drawBatch,
        Generator generator)
    {
        Tensor? counts = null;
        using (no_grad())
            for (int done = 0; done < draws; done += drawBatch)
            {
                int b = Math.Min(drawBatch, draws - done);
                using var scope = NewDisposeScope();
                var batch = x.expand(b, -1, -1, -1);
                var noisy = batch + randn(batch.shape, generator: generator) * sigma;
                var logits = model.call(noisy);
                var votes = logits.argmax(1).bincount(null, logits.shape[1]);
                counts = counts is null ? votes.MoveToOuterDisposeScope() : (counts + votes).MoveToOuterDisposeScope();
            }
        return counts!;
    }
}
