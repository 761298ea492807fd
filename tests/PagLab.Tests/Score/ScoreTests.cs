using PagLab.Data;
using PagLab.Models;
using PagLab.Score;
using PagLab.Tests.Cli;
using PagLab.Training;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Tests.Score;

[Trait("Category", "Numeric")]
public class ScoreTests
{
    static UNet Net(int classes = 0) { torch.manual_seed(1); return new UNet(new UNetSpec { Channels = 1, Height = 28,
        Width = 28, Classes = classes, BaseChannels = 16 }); }

    [Theory]
    [InlineData(0.002)]
    [InlineData(0.5)]
    [InlineData(80)]
    public void EdmCoefficients_FollowTable1(double s)
    {
        using var sigma = tensor(new[] { s }, dtype: ScalarType.Float64);
        var (cSkip, cOut, cIn, cNoise) = EdmPreconditioner.Coefficients(sigma);
        using var weight = EdmLoss.Weight(sigma);
        Assert.Equal(0.25 / (s * s + 0.25), cSkip.item<double>(), 12);
        Assert.Equal(s * 0.5 / Math.Sqrt(s * s + 0.25), cOut.item<double>(), 12);
        Assert.Equal(1 / Math.Sqrt(s * s + 0.25), cIn.item<double>(), 12);
        Assert.Equal(Math.Log(s) / 4, cNoise.item<double>(), 12);
        Assert.Equal((s * s + 0.25) / (s * s * 0.25), weight.item<double>(), 9);
        foreach (var c in new[] { cSkip, cOut, cIn, cNoise }) c.Dispose();
    }

    [Fact]
    public void EdmPreconditioner_AtSmallSigma_ReturnsInput()
    {
        var d = new EdmPreconditioner(Net());
        var x = rand(3, 1, 28, 28);
        using var _ = no_grad();
        Assert.True((d.Denoise(x, 1e-5) - x).abs().max().item<float>() < 1e-3);
    }

    [Fact]
    public void UNet_GroupNormsStartAsIdentity_AndOutputHasTheInputShapeForEveryImageSize()
    {
        foreach (var (h, w, c) in new[] { (28, 28, 1), (56, 28, 1), (32, 32, 3), (64, 64, 3) })
        {
            var net = new UNet(new UNetSpec { Channels = c, Height = h, Width = w, Classes = 10, BaseChannels = 16 });
            Assert.DoesNotContain(net.parameters(), p => p.isnan().any().item<bool>());
            using var _ = no_grad();
            var y = net.call(rand(2, c, h, w), tensor(new[] { 0.1f, -0.3f }), tensor(new long[] { 1, 7 }));
            Assert.Equal(new long[] { 2, c, h, w }, y.shape);
        }
    }

    [Fact]
    public void Score_FromTheExactPosteriorMean_EqualsTheClosedFormScore()
    {
        var ds = SubspaceGaussians.Create(new SubspaceGaussiansOptions { Seed = 1, TrainSize = 10, TestSize = 16 });
        var x = ds.Test.Images + randn(16, 1, 28, 28) * 0.1f;
        foreach (var sigma in new[] { 0.1, 0.5, 1.0 })
        {
            var viaDenoiser = ScoreFunction.Compute(new ExactDenoiser(ds), x, sigma).to_type(ScalarType.Float64);
            var exact = ds.Score(x, sigma).to_type(ScalarType.Float64);
            Assert.True(((viaDenoiser - exact).norm() / exact.norm()).item<double>() < 1e-5);
        }
    }

    [Fact]
    public void Denoiser_SaveLoad_RoundTripsExactly()
    {
        var d = new EdmPreconditioner(Net(classes: 10));
        string dir = TestPaths.TempDir("den");
        SavedDenoiser.Save(dir, d, "shapes");
        var loaded = SavedDenoiser.Load(dir);
        d.Network.eval();
        var x = rand(2, 1, 28, 28); var labels = tensor(new long[] { 3, 4 });
        using var _ = no_grad();
        Assert.Equal(d.Denoise(x, 0.3, labels).data<float>().ToArray(), loaded.Denoise(x, 0.3,
            labels).data<float>().ToArray());
        Assert.True(loaded.Conditional);
    }

    [Fact]
    public void MlpDenoiser_TrainedBriefly_HasCosineAtLeast0_9ToTheExactScoreAtSigmaHalf_AndWritesItsQuality()
    {
        // 3 epochs of 10k subspace-gaussians images at batch 64 (~470 Adam steps, 18 s of CPU on one thread) reach 0.93
        // (docs/score.md); the exact score is the truth, measured at clean held-out images as alignment uses it.
        string dir = TestPaths.TempDir("mlp-denoiser");
        using var data = SubspaceGaussians.Create(new SubspaceGaussiansOptions { TrainSize = 10_000, TestSize = 500 });
        var config = new DenoiserConfig
        {
            Dataset = "subspace-gaussians", Arch = DenoiserArch.Mlp, HiddenWidth = 256, Epochs = 3, BatchSize = 64,
        };
        DenoiserTrainer.Run(config, dir, dataset: data);
        var quality = DenoiserQuality.Read(dir)!;
        Assert.Equal(("mlp", 500, false), (quality.Arch, quality.Count, quality.Conditional));
        var atHalf = quality.BySigma.Single(q => q.Sigma == 0.5);
        var cosineAtHalf = atHalf.ScoreCosine!;
        Assert.True(cosineAtHalf.Mean >= 0.9, $"cosine to the exact score at sigma 0.5: {cosineAtHalf.Mean:F3}");
        Assert.True(cosineAtHalf.Lower <= cosineAtHalf.Mean && cosineAtHalf.Mean <= cosineAtHalf.Upper);
        // The ideal denoiser is the floor of the denoising error; the trained one lies above it and below the error of
        // answering the mean image (grey) for every input.
        double meanImageError = (data.Test.Images - 0.5).pow(2).mean().item<float>();
        Assert.True(atHalf.ExactMse!.Mean < atHalf.Mse.Mean && atHalf.Mse.Mean < meanImageError,
            $"{atHalf.Mse.Mean} vs {meanImageError}");
        // The exact posterior mean is the best denoiser, so it must beat the Gaussian fit on the same draws; the
        // trained denoiser is judged adequate by its cosine.
        Assert.True(atHalf.ExactMse!.Mean <= atHalf.BaselineMse!.Mean, $"{atHalf.ExactMse} vs {atHalf.BaselineMse}");
        Assert.True(quality.AdequacyAt(0.5)!.Adequate == cosineAtHalf.Lower >= DenoiserQuality.MinimumExactCosine);
        // The file's cosine is the one the score path gives (quality.json measures what alignment will use).
        using var denoiser = DenoiserTrainer.Load(dir);
        var x = data.Test.Images;
        var score = ScoreFunction.Compute(denoiser, x, 0.5).to_type(ScalarType.Float64);
        var cosine = PagLab.Metrics.CosineSimilarity.Compute(score, data.Score(x, 0.5));
        Assert.Equal(cosineAtHalf.Mean, cosine.mean().item<double>(), 5);
    }

    [Fact]
    public void Cli_DenoiserQuality_WritesQualityJson_WithTheCosineToTheExactScore()
    {
        torch.manual_seed(3);
        var spec = new UNetSpec { Channels = 1, Height = 28, Width = 28, Arch = DenoiserArch.Mlp, HiddenWidth = 32 };
        using var d = new EdmPreconditioner(DenoiserNetworks.Create(spec));
        string dir = TestPaths.TempDir("den-quality");
        DenoiserTrainer.Save(dir, d, "subspace-gaussians");
        var r = CliProcess.Run("denoiser", "quality", "--denoiser", dir, "--dataset", "subspace-gaussians",
            "--count", "40");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var quality = DenoiserQuality.Read(dir)!;
        Assert.Equal((40, "mlp"), (quality.Count, quality.Arch));
        Assert.Equal(DenoiserQuality.DefaultSigmas, quality.BySigma.Select(q => q.Sigma).ToArray());
        Assert.All(quality.BySigma, q => Assert.InRange(q.ScoreCosine!.Mean, -1, 1));
        Assert.Contains("cosine to the exact score", r.Stdout);
        var bad = CliProcess.Run("denoiser", "quality", "--denoiser", TestPaths.TempDir("empty"),
            "--dataset", "subspace-gaussians");
        Assert.NotEqual(0, bad.ExitCode);
        Assert.Contains("not a denoiser folder", bad.Stderr + bad.Stdout);
    }

    [Fact]
    public void EmaDecay_RampsUp_SoEarlyAveragesForgetTheInitialisation()
    {
        Assert.Equal(Math.Pow(0.5, 1 / 0.05), DenoiserStep.EmaDecayAt(0.995, 1), 12);   // step 1: half-life 0.05
        Assert.Equal(Math.Pow(0.5, 1 / 5.0), DenoiserStep.EmaDecayAt(0.995, 100), 12);  // half-life 5 steps
        Assert.Equal(0.995, DenoiserStep.EmaDecayAt(0.995, 1_000_000));                   // the configured decay
        double initialShare = Enumerable.Range(1, 150)
            .Aggregate(1.0, (share, t) => share * DenoiserStep.EmaDecayAt(0.995, t));
        Assert.True(initialShare < 1e-6, $"{initialShare}");
    }

    static Module<Tensor, Tensor> Smooth()
    {
        torch.manual_seed(5);
        var m = Sequential(Flatten(), Linear(16, 8), Softplus(3), Linear(8, 4));
        m.to(ScalarType.Float64);
        return m;
    }

    [Theory]
    [InlineData(GradientMode.Sum)]
    [InlineData(GradientMode.Predicted)]
    [InlineData(GradientMode.Label)]
    public void ModelGradients_MatchFiniteDifferences_InEveryMode(GradientMode mode)
    {
        var model = Smooth();
        var x = rand(3, 1, 4, 4, dtype: ScalarType.Float64);
        var labels = tensor(new long[] { 2, 0, 3 });
        var g = ModelGradients.Compute(model, x, mode, labels).flatten(1);
        Tensor target;
        using (no_grad()) target = mode switch
        {
            GradientMode.Label => labels, GradientMode.Predicted => model.call(x).argmax(1), _ => labels,
        };
        double F(Tensor input, int b)
        {
            using var _ = no_grad();
            var logits = model.call(input)[b];
            return mode == GradientMode.Sum ? logits.sum().item<double>() : logits[target[b]].item<double>();
        }
        for (int b = 0; b < 3; b++)
            foreach (var j in new[] { 0, 5, 15 })
            {
                var plus = x.clone(); plus.view(3, -1)[b, j] += 1e-6;
                var minus = x.clone(); minus.view(3, -1)[b, j] -= 1e-6;
                Assert.Equal((F(plus, b) - F(minus, b)) / 2e-6, g[b, j].item<double>(), 6);
            }
    }

    [Fact]
    public void SmoothGrad_WithSigmaZero_EqualsThePlainGradient_AndTheInputIsLeftAsItWas()
    {
        var model = Smooth();
        var x = rand(2, 1, 4, 4, dtype: ScalarType.Float64);
        var plain = ModelGradients.Compute(model, x, GradientMode.Sum);
        var smooth = ModelGradients.Compute(model, x, GradientMode.Sum, attribution: new PagLab.Attributions.AttributionSettings
            { Method = PagLab.Attributions.AttributionKind.SmoothGrad, Draws = 5, NoiseSigma = 0 });
        Assert.True((plain - smooth).abs().max().item<double>() < 1e-12);
        Assert.False(x.requires_grad);
        Assert.Null(x.grad);
    }

    [Theory]
    [InlineData(GradientMode.Predicted)]
    [InlineData(GradientMode.Label)]
    [InlineData(GradientMode.Sum)]
    public void BayesClassifierAsAModel_HasBayesCosineOne_EvenWithAnInputDependentOffsetOnItsLogits(GradientMode mode)
    {
        // Logits = exact log p(y|x) + c(x): a classifier with the Bayes posterior. Logit gradients differ from
        // the log-posterior's by grad c(x); the comparison of log-probabilities must not see it.
        var ds = SubspaceGaussians.Create(new SubspaceGaussiansOptions { Seed = 2, TrainSize = 10, TestSize = 8 });
        foreach (var offset in new[] { 0.0, 5.0 })
        {
            var report = AlignmentMeasurement.Measure(new BayesModel(ds, offset), new ExactDenoiser(ds), ds, 0.5,
                mode, 8, lpips: null);
            Assert.Equal(8, report.Count);
            double bayes = report.MeanGradientVsBayesGradient!.Cosine;
            Assert.True(bayes > 0.9999, $"{mode}, offset {offset}: {bayes}");
            Assert.True(report.MeanScoreCosineToExact > 0.999999);
            Assert.Equal("log-probabilities", report.BayesReadout);
            Assert.NotNull(report.Note);
        }
    }

    [Fact]
    public void ModelWithTheBayesLogits_IsNotTheBayesClassifier_ForTheLogitComparison_ButIsForLogProbabilities()
    {
        // The old comparison (logit gradients on both sides) called a model equal to the Bayes classifier up to an
        // x-dependent offset misaligned; its log-probability gradients coincide.
        var ds = SubspaceGaussians.Create(new SubspaceGaussiansOptions { Seed = 2, TrainSize = 10, TestSize = 8 });
        var x = ds.Test.Images.to_type(ScalarType.Float64);
        var model = new BayesModel(ds, offset: 5.0);
        var classes = ModelGradients.PredictedClasses(model, x);
        var logit = ModelGradients.Compute(model, x, GradientMode.Predicted);
        var logProbability = ModelGradients.Compute(model, x, GradientMode.Predicted,
            readout: GradientReadout.LogProbabilities);
        var bayes = ds.BayesLogPosteriorGradient(x, classes);
        double Cos(Tensor a, Tensor b) => PagLab.Metrics.CosineSimilarity.Compute(a, b).mean().item<double>();
        Assert.True(Cos(logit, bayes) < 0.9);
        Assert.True(Cos(logProbability, bayes) > 0.999999);
    }

    /// <summary>The Bayes classifier as a Module: log p(y|x) in torch ops, plus offset * ||x - mean||^2.</summary>
    sealed class BayesModel : Module<Tensor, Tensor>
    {
        readonly SubspaceGaussians data;
        readonly double offset;
        public BayesModel(SubspaceGaussians data, double offset = 0) : base("bayes")
        {
            this.data = data;
            this.offset = offset;
        }

        public override Tensor forward(Tensor x)
        {
            var centred = x.to_type(ScalarType.Float64).flatten(1) - data.Mean;
            var zs = centred.matmul(data.SignalBasis);
            var d2 = (zs.unsqueeze(1) - data.ClassMeansInSignalCoordinates.unsqueeze(0)).pow(2).sum(2);
            var logPosterior = (d2 * (-0.5 / 0.09)).log_softmax(1);
            return (logPosterior + offset * centred.pow(2).sum(1, keepdim: true)).to_type(x.dtype);
        }
    }

    [Fact]
    public void Alignment_ConditionsTheScoreOnTheGradientsClass_AndSumUsesTheUnconditionalScore()
    {
        var ds = SubspaceGaussians.Create(new SubspaceGaussiansOptions { Seed = 2, TrainSize = 10, TestSize = 8 });
        var model = new BayesModel(ds);
        var expected = new[] { (GradientMode.Predicted, "predicted class"), (GradientMode.Label, "label"),
            (GradientMode.Sum, "unconditional") };
        foreach (var (mode, conditioning) in expected)
        {
            var report = AlignmentMeasurement.Measure(model, new ExactDenoiser(ds), ds, 0.1, mode, 8, lpips: null);
            Assert.Equal(conditioning, report.ScoreConditioning);
            Assert.Contains(mode == GradientMode.Sum ? "unconditional score" : "conditioned on that class", report.Why);
        }
        var unconditional = AlignmentMeasurement.Measure(model, new ExactDenoiser(ds, conditional: false), ds, 0.1,
            GradientMode.Predicted, 8, lpips: null);
        Assert.Equal("unconditional", unconditional.ScoreConditioning);
        Assert.Contains("not class-conditional", unconditional.Why);
        var e = Assert.Throws<PagLab.Common.PagLabException>(() =>
            AlignmentMeasurement.Measure(model, new EdmPreconditioner(Net(classes: 10)), ds, 0.1, GradientMode.Sum, 8,
                lpips: null));
        Assert.Contains("class-conditional", e.Message);
    }

    [Fact]
    public void Cli_MeasureAlignment_WithTheExactScore_WritesAReport()
    {
        string dir = TestPaths.TempDir("align");
        var config = new PagLab.Training.TrainConfig { Dataset = "subspace-gaussians",
            Arch = PagLab.Models.Architecture.Mlp, TrainSize = 500,
            TestSize = 50 };
        PagLab.Training.Trainer.Run(config, Path.Combine(dir, "m"));
        var r = CliProcess.Run("measure", "alignment", "--model", Path.Combine(dir, "m"), "--denoiser", "exact",
            "--dataset", "subspace-gaussians",
            "--count", "16", "--out", Path.Combine(dir, "a.json"));
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("gradient vs Bayes-optimal log p(y|x) gradient", r.Stdout);
        Assert.Contains("predicted class score", r.Stdout);
        Assert.True(File.Exists(Path.Combine(dir, "a.json")));
    }
}
