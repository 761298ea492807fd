using PagLab.Experiments;
using PagLab.Uncertainty;

namespace PagLab.Tests.Experiments;

/// <summary>Constructed sweep results with per-image values for the regime and findings tests.</summary>
public static class Tables
{
    /// <summary>n per-image values around mean with a relative spread (deterministic); a zero mean gives
    /// zeros.</summary>
    public static double[] Around(double mean, double spread, int n, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => mean * (1 + spread * (2 * rng.NextDouble() - 1))).ToArray();
    }

    /// <summary>
    /// One completed job at epsilon 1; accuracy over testImages images. The per-image values depend only
    /// on the mean (and the seed), so equal means are equal samples: a table's outcome does not depend on
    /// the order the tests run in, and a level "as sensitive as the standard" is exactly that.
    /// </summary>
    public static JobResult Run(string objective, double strength, double accuracy, double on, double off,
        long seed = 0, double spread = 0.1, int images = 40, int testImages = 2000, int classes = 10)
    {
        int Of(double mean, int which) => unchecked((int)Math.Round(mean * 100_003) * 31 + which + (int)seed * 7);
        var onImages = Around(on, spread, images, Of(on, 1));
        var offImages = Around(off, spread, images, Of(off, 2));
        long correct = (long)Math.Round(accuracy * testImages);
        return new JobResult
        {
            Format = JobResult.CurrentFormat, Id = $"{objective}-{strength}-s{seed}", Dataset = "d",
                Objective = objective, Strength = strength,
            Seed = seed, Status = JobState.Completed, Classes = classes, TestCorrect = correct,
                TestImages = testImages,
            TestAccuracy = Estimate.Binomial(correct, testImages), 
            OutputMeasure = PagLab.Manifold.OutputChange.SoftmaxL1,
            Sensitivity = new()
            {
                SensitivityResult.From(new PagLab.Manifold.EpsilonResult(1, null!, null!,
                    off / on) { OnPerImage = onImages, OffPerImage = offImages }),
            },
        };
    }

    public static JobResult WithAlignment(this JobResult r, double alignment, double bayesCosine = double.NaN,
        double spread = 0.1)
    {
        var values = Around(alignment, spread, 40, (int)(alignment * 1000) + r.Id.Length);
        var bayes = double.IsNaN(bayesCosine) ? null : Around(bayesCosine, spread, 40, (int)(bayesCosine * 977) + 3);
        return r with
        {
            Alignment = new AlignmentResult
            {
                Mode = PagLab.Models.GradientMode.Predicted, Sigma = 0.25, OneMinusLpipsPerImage = values,
                    OneMinusLpips = Bootstrap.Mean(Bootstrap.Sample.One(values)),
                SsimPerImage = values, Ssim = Bootstrap.Mean(Bootstrap.Sample.One(values)), CosinePerImage = values,
                Cosine = Bootstrap.Mean(Bootstrap.Sample.One(values)), BayesCosinePerImage = bayes,
                BayesCosine = bayes is null ? null : Bootstrap.Mean(Bootstrap.Sample.One(bayes)),
            },
        };
    }

    /// <summary>Signal and distractor output changes at two noise levels (plus sigma 0).</summary>
    public static JobResult WithNoise(this JobResult r, double signal, double distractor, double spread = 0.1)
    {
        DistractorPoint Point(double sigma, double scale)
        {
            var s = Around(signal * scale, spread, 40, (int)(sigma * 100) + 11);
            var d = Around(distractor * scale, spread, 40, (int)(sigma * 100) + 12);
            var a = Estimate.Binomial(1, 1);
            return new DistractorPoint
            {
                Sigma = sigma, SignalAccuracy = a, DistractorAccuracy = a,
                    SignalChange = Bootstrap.Mean(Bootstrap.Sample.One(s)),
                DistractorChange = Bootstrap.Mean(Bootstrap.Sample.One(d)),
                RelativeRobustness = Bootstrap.Ratio(Bootstrap.Sample.One(s), Bootstrap.Sample.One(d)),
                    SignalPerImage = s, DistractorPerImage = d,
            };
        }
        return r with { Distractor = new() { Point(0, 0), Point(0.1, 0.5), Point(1, 1) } };
    }

    public static JobResult Diverged(string objective, double strength) => new()
    {
        Format = JobResult.CurrentFormat, Id = $"{objective}-{strength}", Dataset = "d", Objective = objective,
            Strength = strength,
        Status = JobState.Diverged, TestAccuracy = Estimate.Empty, Classes = 10,
    };
}
