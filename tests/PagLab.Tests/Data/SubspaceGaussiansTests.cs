using PagLab.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Tests.Data;

public class SubspaceGaussiansTests
{
    static SubspaceGaussians Make(double tau = 0, int train = 4000) =>
        SubspaceGaussians.Create(new SubspaceGaussiansOptions { Seed = 3, TrainSize = train, TestSize = 2000,
            OffSubspaceStd = tau });

    static Tensor Some(SubspaceGaussians ds, int n = 6) => ds.Test.Images.narrow(0, 0, n).to_type(ScalarType.Float64);

    /// <summary>gradient (B, D) against central differences of f(x, b) at 8 random (image, pixel) pairs.</summary>
    static void AssertMatchesFiniteDifferences(Tensor x, Tensor gradient, Func<Tensor, int, double> f, int seed,
        int digits)
    {
        long n = x.shape[0];
        var random = new Random(seed);
        for (int trial = 0; trial < 8; trial++)
        {
            int b = (int)(trial % n), j = random.Next((int)gradient.shape[1]);
            double h = 1e-5;
            var plus = x.clone(); plus.view(n, -1)[b, j] += h;
            var minus = x.clone(); minus.view(n, -1)[b, j] -= h;
            Assert.Equal((f(plus, b) - f(minus, b)) / (2 * h), gradient[b, j].item<double>(), digits);
        }
    }

    [Fact]
    public void TangentBasis_IsOrthonormal_AndSmooth()
    {
        var ds = Make(train: 10);
        var t = ds.TangentBasis;
        Assert.True((t.T.matmul(t) - eye(16, dtype: ScalarType.Float64)).abs().max().item<double>() < 1e-12);
        // Smooth: neighbouring pixels differ far less than in white noise (where the ratio is sqrt 2).
        static double Roughness(Tensor columns)
        {
            var images = columns.T.reshape(-1, 28, 28);
            return ((images.narrow(2, 1, 27) - images.narrow(2, 0,
                27)).abs().mean() / images.abs().mean()).item<double>();
        }
        double smooth = Roughness(t);
        Assert.True(smooth < 0.6, $"roughness {smooth}");
        Assert.True(Roughness(randn(784, 16, dtype: ScalarType.Float64)) > 1.2);
    }

    [Fact]
    public void Samples_LieInTheAffineSubspace_WithTheSpecifiedMoments()
    {
        var ds = Make();
        var x = ds.Train.Images.to_type(ScalarType.Float64).flatten(1) - ds.Mean;
        var t = ds.TangentBasis;
        var residual = x - x.matmul(t).matmul(t.T);
        Assert.True(residual.abs().max().item<double>() < 1e-5); // float32 storage
        var zs = x.matmul(ds.SignalBasis);
        var within = zs - ds.ClassMeansInSignalCoordinates.index_select(0, ds.Train.Labels);
        Assert.InRange(within.std().item<double>(), 0.3 * 0.96, 0.3 * 1.04);
        Assert.InRange(x.matmul(ds.DistractorBasis).std().item<double>(), 0.6 * 0.96, 0.6 * 1.04);
        Assert.True(within.mean(new long[] { 0 }).abs().max().item<double>() < 0.03);
    }

    [Fact]
    public void BayesAccuracy_IsHighButNotPerfect()
    {
        var ds = Make(train: 10);
        double acc =
            ds.Posterior(ds.Test.Images).argmax(1).eq(ds.Test.Labels).to_type(ScalarType.Float64).mean().item<double>();
        Assert.InRange(acc, 0.88, 0.985);
    }

    [Fact]
    public void Posterior_SumsToOne_AndEqualsGaussianResponsibilities()
    {
        var ds = Make(tau: 0.05, train: 10);
        var x = Some(ds);
        var p = ds.Posterior(x);
        Assert.True((p.sum(1) - 1).abs().max().item<double>() < 1e-12);
        // Direct full-covariance Gaussian likelihoods (tau > 0 makes Sigma invertible).
        var sigma = ds.SignalBasis.matmul(ds.SignalBasis.T) * 0.09 + ds.DistractorBasis.matmul(ds.DistractorBasis.T)
            * 0.36 + eye(784, dtype: ScalarType.Float64) * 0.0025;
        var inverse = linalg.inv(sigma);
        var diff = x.flatten(1).unsqueeze(1) - ds.ClassMeans.unsqueeze(0);            // (B, C, D)
        var quad = (diff.matmul(inverse) * diff).sum(2) * -0.5;
        Assert.True((quad.softmax(1) - p).abs().max().item<double>() < 1e-8);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.05)]
    public void BayesLogitGradient_MatchesFiniteDifferences_AndLiesInTheSignalSpan(double tau)
    {
        var ds = Make(tau, train: 10);
        var x = Some(ds, 3);
        var classes = tensor(new long[] { 0, 4, 7 });
        var g = ds.BayesLogitGradient(x, classes).flatten(1);
        AssertMatchesFiniteDifferences(x, g, (input, b) => ds.BayesLogits(input)[b, classes[b]].item<double>(),
            seed: 1, digits: 6);
        var s = ds.SignalBasis;
        Assert.True((g - g.matmul(s).matmul(s.T)).abs().max().item<double>() < 1e-10);
    }

    [Theory]
    [InlineData(0.0, false)]
    [InlineData(0.05, false)]
    [InlineData(0.0, true)]
    public void BayesLogPosteriorGradient_MatchesFiniteDifferencesOfTheLogPosterior(double tau, bool summed)
    {
        var ds = Make(tau, train: 10);
        var x = Some(ds, 3);
        var classes = tensor(new long[] { 0, 4, 7 });
        var g = ds.BayesLogPosteriorGradient(x, summed ? null : classes).flatten(1);
        double F(Tensor input, int b)
        {
            var logPosterior = ds.BayesLogPosterior(input)[b];
            return summed ? logPosterior.sum().item<double>() : logPosterior[classes[b]].item<double>();
        }
        AssertMatchesFiniteDifferences(x, g, F, seed: 3, digits: 6);
        // exp(log p) sums to one, and the log-evidence's gradient is what separates it from the logit gradient.
        Assert.True((ds.BayesLogPosterior(x).exp().sum(1) - 1).abs().max().item<double>() < 1e-12);
        var logitGradient = ds.BayesLogitGradient(x, classes).flatten(1);
        if (!summed) Assert.True((g - logitGradient).norm().item<double>() > 0.1 * g.norm().item<double>());
    }

    [Theory]
    [InlineData(0.0, 0.5)]
    [InlineData(0.05, 0.2)]
    public void ClassConditionalScore_IsTheGradientOfTheClassLogDensity_AndAveragesToTheScore(double tau, double sigma)
    {
        var ds = Make(tau, train: 10);
        var x = Some(ds, 2) + randn(2, 1, 28, 28, dtype: ScalarType.Float64) * sigma;
        var labels = tensor(new long[] { 3, 8 });
        var score = ds.Score(x, sigma, labels).flatten(1);
        AssertMatchesFiniteDifferences(x, score, (input, b) => ds.LogDensity(input, sigma, labels)[b].item<double>(),
            seed: 4, digits: 4);
        // grad log p_sigma(x) = sum_y p_sigma(y | x) grad log p_sigma(x | y); p_sigma(y | x) from the class densities.
        var classes = Enumerable.Range(0, 10).Select(c => full(2, c, dtype: ScalarType.Int64)).ToArray();
        var weights = stack(classes.Select(c => ds.LogDensity(x, sigma, c)).ToArray(), 1).softmax(1);     // (2, 10)
        var scores = stack(classes.Select(c => ds.Score(x, sigma, c).flatten(1)).ToArray(), 1);           // (2, 10, D)
        var mixed = (weights.unsqueeze(2) * scores).sum(1);
        var marginal = ds.Score(x, sigma).flatten(1);
        Assert.True(((mixed - marginal).norm() / marginal.norm()).item<double>() < 1e-10);
    }

    [Theory]
    [InlineData(0.0, 0.5)]
    [InlineData(0.0, 0.1)]
    [InlineData(0.05, 0.3)]
    public void Score_IsTheGradientOfTheSmoothedLogDensity(double tau, double sigma)
    {
        var ds = Make(tau, train: 10);
        var x = Some(ds, 2) + randn(2, 1, 28, 28, dtype: ScalarType.Float64) * sigma;
        var score = ds.Score(x, sigma).flatten(1);
        AssertMatchesFiniteDifferences(x, score, (input, b) => ds.LogDensity(input, sigma)[b].item<double>(),
            seed: 2, digits: 4);
    }

    [Fact]
    public void LogDensity_IsHigherOnNoisySamplesThanOnPointsPushedOffTheSubspace()
    {
        var ds = Make(train: 10);
        double sigma = 0.2;
        var x = ds.Test.Images.to_type(ScalarType.Float64) + randn(2000, 1, 28, 28, dtype: ScalarType.Float64) * sigma;
        var off = x + (randn(2000, 1, 28, 28, dtype: ScalarType.Float64) - ds.ProjectOnManifold(randn(2000, 1, 28, 28,
            dtype: ScalarType.Float64))) * 0.5;
        Assert.True(ds.LogDensity(x, sigma).mean().item<double>() > ds.LogDensity(off, sigma).mean().item<double>());
    }

    [Fact]
    public void PosteriorMean_SatisfiesTweedie_AndIsTheMinimumMeanSquaredErrorDenoiser()
    {
        var ds = Make(train: 20000);
        double sigma = 0.3;
        using var g = new Generator(4, device: CPU);
        var x0 = ds.Train.Images.to_type(ScalarType.Float64);
        var x = x0 + randn(x0.shape, dtype: ScalarType.Float64, generator: g) * sigma;
        var denoised = ds.PosteriorMean(x, sigma);
        var tweedie = x + ds.Score(x, sigma) * (sigma * sigma);
        Assert.True((denoised - tweedie).abs().max().item<double>() < 1e-12);
        double Mse(Tensor d) => (d - x0).pow(2).sum(new long[] { 1, 2, 3 }).mean().item<double>();
        double best = Mse(denoised);
        // Orthogonality principle: the error is uncorrelated with the observation.
        var error = (x0 - denoised).flatten(1);
        double correlation = (error * (x - ds.Mean.reshape(1, 1, 28, 28)).flatten(1)).sum(1).mean().item<double>();
        Assert.True(Math.Abs(correlation) < 0.02 * best * 10, $"error correlates with x: {correlation}");
        Assert.True(best < Mse(x) / 10);
        Assert.True(best < Mse(denoised * 0.95 + x * 0.05));
        Assert.True(best < Mse(denoised * 0.95 + ds.Mean.reshape(1, 1, 28, 28) * 0.05));
    }

    [Fact]
    public void Score_OffManifoldPart_PointsBackToTheSubspace_AsSigmaFalls()
    {
        var ds = Make(train: 10);
        var x = Some(ds, 4) + randn(4, 1, 28, 28, dtype: ScalarType.Float64) * 0.01;
        foreach (var sigma in new[] { 0.1, 0.01, 0.001 })
        {
            var score = ds.Score(x, sigma);
            var off = score - ds.ProjectOnManifold(score);
            var expected = -(x - ds.Mean.reshape(1, 1, 28, 28) - ds.ProjectOnManifold(x - ds.Mean.reshape(1, 1, 28,
                28))) / (sigma * sigma);
            Assert.True(((off - expected).norm() / expected.norm()).item<double>() < 1e-8);
        }
    }

    [Fact]
    public void Registry_LoadsItByName_AtTheRequestedSize()
    {
        var ds = Datasets.Load("subspace-gaussians", new DataOptions(Seed: 2, TrainSize: 300, TestSize: 100));
        Assert.Equal(300, ds.Train.Count);
        Assert.Equal(new ImageShape(1, 28, 28), ds.Shape);
    }

    /// <summary>The weak variant: 4 single-pixel signal directions, 60 near-zero pixels of std tau = 0.02, antipodal
    /// class means, and the Bayes classifier's accuracy Phi(1.2 / sqrt(1 + tau^2)) = 0.8849 (docs).</summary>
    [Fact]
    public void WeakVariant_HasSinglePixelSignal_ThinZeroPixels_AndItsBayesAccuracy()
    {
        using var ds = SubspaceGaussians.Create(SubspaceGaussiansOptions.Weak(seed: 0, trainSize: 64, testSize: 20_000));
        Assert.Equal(("subspace-gaussians-weak", 64L, 2), (ds.Name, ds.Shape.Pixels, ds.Classes));
        var basis = ds.TangentBasis;                                                        // (64, 4)
        Assert.Equal(new long[] { 64, 4 }, basis.shape);
        Assert.Equal(4.0, basis.eq(1).sum().item<long>());
        Assert.Equal(4.0, basis.abs().sum().item<double>(), 12);
        var means = ds.ClassMeansInSignalCoordinates;
        Assert.Equal(new[] { 0.6, 0.6, 0.6, 0.6, -0.6, -0.6, -0.6, -0.6 }, means.flatten().data<double>().ToArray());
        var x = ds.Test.Images.to_type(ScalarType.Float64).reshape(20_000, 64);
        var off = x.index_select(1, basis.sum(1).eq(0).nonzero().squeeze(1));                // the 60 thin pixels
        Assert.Equal(60, off.shape[1]);
        Assert.Equal(0.02, off.std().item<double>(), 3);
        Assert.Equal(0.0, off.mean().item<double>(), 3);
        double accuracy = ds.Posterior(ds.Test.Images).argmax(1).eq(ds.Test.Labels).to_type(ScalarType.Float64)
            .mean().item<double>();
        Assert.InRange(accuracy, 0.8849 - 0.007, 0.8849 + 0.007);                           // 3 binomial SE
    }
}
