using PagLab.Uncertainty;
using Sample = PagLab.Uncertainty.Bootstrap.Sample;

namespace PagLab.Tests.Uncertainty;

public class BootstrapTests
{
    /// <summary>n normal draws (Box-Muller).</summary>
    static double[] Normal(Random rng, int n, double mean, double std) => Enumerable.Range(0, n)
        .Select(_ => mean + std * Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble()))
                              * Math.Cos(2 * Math.PI * rng.NextDouble()))
        .ToArray();

    [Fact]
    public void MeanInterval_CoversTheTrueMean_AboutNinetyFivePercentOfTheTime()
    {
        var rng = new Random(7);
        int trials = 300, covered = 0;
        for (int t = 0; t < trials; t++)
        {
            var sample = new Bootstrap.Group(new[] { Sample.One(Normal(rng, 60, 2.0, 1.0)) });
            var e = Bootstrap.Of(new[] { sample }, m => m[0][0], seed: t, replicates: 400);
            if (e.Lower <= 2.0 && 2.0 <= e.Upper) covered++;
        }
        // Percentile bootstrap of a mean of 60 normals: ~94%; 300 trials give a binomial sd of 1.4 points.
        Assert.InRange(covered / (double)trials, 0.89, 0.98);
    }

    [Fact]
    public void DegenerateSamples_GiveNoIntervalOrAPointInterval()
    {
        var empty = Bootstrap.Mean(new Sample(Array.Empty<double[]>()));
        Assert.True(double.IsNaN(empty.Mean) && double.IsNaN(empty.Lower) && empty.N == 0);
        var one = Bootstrap.Mean(Sample.One(new[] { 3.0 }));
        Assert.Equal(3.0, one.Mean);
        Assert.True(double.IsNegativeInfinity(one.Lower) && double.IsPositiveInfinity(one.Upper));
        Assert.False(one.Above(0) || one.Below(10));
        var constant = Bootstrap.Mean(Sample.One(Enumerable.Repeat(0.25, 20).ToArray()));
        Assert.Equal((0.25, 0.25, 0.25), (constant.Mean, constant.Lower, constant.Upper));
    }

    [Fact]
    public void Ratio_WithAZeroDenominator_IsInfinite_AndZeroOverZeroIsUndefined()
    {
        var signal = Sample.One(new[] { 0.5, 0.7, 0.6, 0.4 });
        var zero = Sample.One(new double[4]);
        var infinite = Bootstrap.Ratio(signal, zero);
        Assert.True(double.IsPositiveInfinity(infinite.Mean) && double.IsPositiveInfinity(infinite.Lower));
        Assert.True(infinite.Above(1));
        var undefined = Bootstrap.Ratio(zero, zero);
        Assert.True(double.IsNaN(undefined.Mean) && double.IsNaN(undefined.Lower));
        Assert.False(undefined.Above(1) || undefined.Below(1));
    }

    [Fact]
    public void Seeds_AreResampledBeforeImages_SoSpreadBetweenSeedsWidensTheInterval()
    {
        var rng = new Random(3);
        var within = new Sample(new[] { Normal(rng, 100, 1, 0.1), Normal(rng, 100, 1, 0.1), Normal(rng, 100, 1, 0.1) });
        var between = new Sample(new[] { Normal(rng, 100, 0.5, 0.1), Normal(rng, 100, 1, 0.1), Normal(rng, 100, 1.5,
            0.1) });
        var a = Bootstrap.Mean(within);
        var b = Bootstrap.Mean(between);
        Assert.Equal(1.0, b.Mean, 1);
        Assert.True(b.Upper - b.Lower > 10 * (a.Upper - a.Lower), $"{a.Text()} vs {b.Text()}");
        Assert.Equal(300, b.N);
    }

    [Fact]
    public void Bootstrap_IsReproducible_WithItsSeed()
    {
        var s = Sample.One(Normal(new Random(1), 30, 0, 1));
        Assert.Equal(Bootstrap.Mean(s, seed: 5), Bootstrap.Mean(s, seed: 5));
    }

    [Fact]
    public void Spearman_IsOneForAnyIncreasingCurve_AndHandlesTies()
    {
        Assert.Equal(1.0, Ranks.Spearman(new[] { 0.0, 1, 2, 3 }, new[] { 0.1, 5, 6, 100 }), 12);
        Assert.Equal(-1.0, Ranks.Spearman(new[] { 0.0, 1, 2, 3 }, new[] { 4.0, 3, 2, 1 }), 12);
        Assert.Equal(new[] { 1, 2.5, 2.5, 4 }, Ranks.Of(new[] { 1.0, 2, 2, 3 }));
        Assert.True(double.IsNaN(Ranks.Spearman(new[] { 0.0, 1, 2 }, new[] { 1.0, 1, 1 })));
        var levels = new[] { 3.0, 2, 1, 0 }.Select(m => Sample.One(Normal(new Random((int)m), 40, m, 0.1))).ToList();
        var rho = Bootstrap.Spearman(new[] { 0.0, 1, 2, 3 }, levels);
        Assert.Equal(-1.0, rho.Mean);
        Assert.True(rho.Below(0));
    }

    [Fact]
    public void Binomial_IsExact_AtTheEnds()
    {
        var none = Estimate.Binomial(0, 50);
        Assert.Equal(0, none.Lower);
        Assert.Equal(1 - Math.Pow(0.025, 1.0 / 50), none.Upper, 9);
        var all = Estimate.Binomial(50, 50);
        Assert.Equal(1, all.Upper);
        Assert.Equal(Math.Pow(0.025, 1.0 / 50), all.Lower, 9);
        var half = Estimate.Binomial(500, 1000);
        Assert.InRange(half.Upper - half.Lower, 0.06, 0.064); // about 2 x 1.96 x sqrt(0.25 / 1000)
    }

    /// <summary>99 images with off/on 0.01 and one low-margin image with off 100 x its on: the ratio of the means is
    /// dominated by that image, the median per image is 0.01 exactly, and its interval is the single value.</summary>
    [Fact]
    public void MedianRatio_IsThePerImageMedian_UnmovedByOneLargeImage()
    {
        var on = Enumerable.Repeat(1.0, 99).Append(1.0).ToArray();
        var off = Enumerable.Repeat(0.01, 99).Append(100.0).ToArray();
        var mean = Bootstrap.Ratio(Bootstrap.Sample.One(off), Bootstrap.Sample.One(on));
        var median = Bootstrap.MedianRatio(Bootstrap.Sample.One(off), Bootstrap.Sample.One(on));
        Assert.Equal((0.99 + 100) / 100, mean.Mean, 12);
        Assert.Equal((0.01, 0.01, 0.01), (median.Mean, median.Lower, median.Upper));
        // two seeds of 3 images: ratios {1, 2, 3} and {4, 5, 6} pooled have median 3.5; 0/0 carries no ratio
        var twoSeeds = Bootstrap.MedianRatio(new Bootstrap.Sample(new[] { new[] { 1.0, 2, 3, 0 }, new[] { 4.0, 5, 6 } }),
            new Bootstrap.Sample(new[] { new[] { 1.0, 1, 1, 0 }, new[] { 1.0, 1, 1 } }));
        Assert.Equal(3.5, twoSeeds.Mean, 12);
        Assert.True(twoSeeds.Lower >= 1 && twoSeeds.Upper <= 6 && twoSeeds.Lower < twoSeeds.Upper);
    }
}
