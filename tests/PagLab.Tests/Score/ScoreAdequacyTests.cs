using PagLab.Data;
using PagLab.Score;
using PagLab.Uncertainty;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Tests.Score;

public class ScoreAdequacyTests
{
    static Estimate E(double mean, double half) => new(mean, mean - half, mean + half, 100);

    static DenoiserQuality Quality(params DenoiserQualityAtSigma[] bySigma) => new()
    {
        Dataset = "d", Arch = "unet", Count = 100, EdmLoss = E(0.3, 0.01), BySigma = bySigma.ToList(),
    };

    [Theory]
    [InlineData(0.95, 0.02, true)]
    [InlineData(0.91, 0.02, false)]   // the interval reaches below 0.9
    [InlineData(0.5, 0.02, false)]
    public void WithTheExactScore_TheCosineIntervalMustReach09(double cosine, double half, bool adequate)
    {
        var q = Quality(new DenoiserQualityAtSigma { Sigma = 0.5, Mse = E(0.01, 0.001), ScoreCosine = E(cosine, half),
            BaselineMse = E(0.5, 0.01), GainOverBaseline = E(0.49, 0.01) });
        var verdict = q.AdequacyAt(0.5)!;
        Assert.Equal(adequate, verdict.Adequate);
        Assert.Contains("cosine to the exact score", verdict.Reason);
    }

    [Theory]
    [InlineData(0.02, 0.005, true)]
    [InlineData(0.002, 0.005, false)]   // the gain's interval contains 0
    [InlineData(-0.02, 0.005, false)]
    public void WithoutTruth_TheDenoiserMustBeatTheGaussianFit(double gain, double half, bool adequate)
    {
        var q = Quality(new DenoiserQualityAtSigma { Sigma = 0.25, Mse = E(0.05 - gain, 0.001),
            BaselineMse = E(0.05, 0.001), GainOverBaseline = E(gain, half) });
        var verdict = q.AdequacyAt(0.25)!;
        Assert.Equal(adequate, verdict.Adequate);
        Assert.Equal(!adequate, verdict.Reason.Contains("not better than the Gaussian fit"));
    }

    [Fact]
    public void NearestSigmaIsUsed_AndOldFilesAreNotJudged()
    {
        var q = Quality(new DenoiserQualityAtSigma { Sigma = 0.1, Mse = E(0.01, 0.001) },
            new DenoiserQualityAtSigma { Sigma = 0.5, Mse = E(0.01, 0.001), BaselineMse = E(0.05, 0.001),
                GainOverBaseline = E(0.04, 0.001) });
        var verdict = q.AdequacyAt(0.6)!;
        Assert.True(verdict.Adequate);
        Assert.Contains("nearest measured to 0.6", verdict.Reason);
        Assert.Null(q.AdequacyAt(0.1));   // measured before the baseline existed
        Assert.Null(Quality().AdequacyAt(0.25));
    }

    [Fact]
    public void GaussianPrior_IsThePerPixelPosteriorMean_PerClassWhenConditional()
    {
        // Two pixels, two classes: class 0 has pixel values {0, 2} and {1, 1}; class 1 has {4, 0} and {4, 2}.
        var labels = tensor(new long[] { 0, 0, 1, 1 });
        var images = tensor(new float[] { 0, 2, 1, 1, 4, 0, 4, 2 }).reshape(4, 1, 1, 2);
        using var split = new DataSplit(images, labels);
        var y = tensor(new float[] { 1, 1 }).reshape(1, 1, 1, 2);
        const double sigma = 0.5, s2 = sigma * sigma;
        using (var prior = GaussianPrior.Fit(split, conditional: false))
        {
            // Pixel 0: values 0,1,4,4: mean 2.25, variance 3.1875; pixel 1: 2,1,0,2: mean 1.25, variance 0.6875.
            var d = prior.PosteriorMean(y, sigma, null).flatten().to_type(ScalarType.Float64).data<double>().ToArray();
            Assert.Equal(2.25 + 3.1875 / (3.1875 + s2) * (1 - 2.25), d[0], 5);
            Assert.Equal(1.25 + 0.6875 / (0.6875 + s2) * (1 - 1.25), d[1], 5);
        }
        using (var prior = GaussianPrior.Fit(split, conditional: true))
        {
            // Class 1, pixel 0: values 4, 4: variance 0, so the posterior mean is the class mean whatever y is.
            var d = prior.PosteriorMean(y, sigma, tensor(new long[] { 1 })).flatten().to_type(ScalarType.Float64)
                .data<double>().ToArray();
            Assert.Equal(4, d[0], 5);
            Assert.Equal(1 + 1.0 / (1 + s2) * (1 - 1), d[1], 5);   // pixel 1 of class 1: 0, 2: mean 1, variance 1
        }
    }
}
