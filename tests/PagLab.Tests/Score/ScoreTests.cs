using PagLab.Data;
using PagLab.Models;
using PagLab.Score;
using PagLab.Tests.Cli;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Tests.Score;

public class ScoreTests
{
    static UNet Net(int classes = 0) { torch.manual_seed(1); return new UNet(new UNetSpec { Channels = 1, Height = 28, Width = 28, Classes = classes, BaseChannels = 16 }); }

    [Theory]
    [InlineData(0.002)]
    [InlineData(0.5)]
    [InlineData(80)]
    public void EdmCoefficients_FollowTable1(double s)
    {
        var (cSkip, cOut, cIn, cNoise) = EdmPreconditioner.Coefficients(s);
        Assert.Equal(0.25 / (s * s + 0.25), cSkip, 12);
        Assert.Equal(s * 0.5 / Math.Sqrt(s * s + 0.25), cOut, 12);
        Assert.Equal(1 / Math.Sqrt(s * s + 0.25), cIn, 12);
        Assert.Equal(Math.Log(s) / 4, cNoise, 12);
        Assert.Equal((s * s + 0.25) / (s * s * 0.25), EdmLoss.Weight(s), 9);
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
        Assert.Equal(d.Denoise(x, 0.3, labels).data<float>().ToArray(), loaded.Denoise(x, 0.3, labels).data<float>().ToArray());
        Assert.True(loaded.Conditional);
    }

    static Module<Tensor, Tensor> Smooth()
    {
        torch.manual_seed(5);
        var m = Sequential(Flatten(), Linear(16, 8), Softplus(3), Linear(8, 4));
        m.to(ScalarType.Float64);
        return m;
    }

    [Theory]
    [InlineData("sum")]
    [InlineData("predicted")]
    [InlineData("label")]
    public void ModelGradients_MatchFiniteDifferences_InEveryMode(string mode)
    {
        var model = Smooth();
        var x = rand(3, 1, 4, 4, dtype: ScalarType.Float64);
        var labels = tensor(new long[] { 2, 0, 3 });
        var g = ModelGradients.Compute(model, x, mode, labels).flatten(1);
        Tensor target;
        using (no_grad()) target = mode switch { "label" => labels, "predicted" => model.call(x).argmax(1), _ => labels };
        double F(Tensor input, int b)
        {
            using var _ = no_grad();
            var logits = model.call(input)[b];
            return mode == "sum" ? logits.sum().item<double>() : logits[target[b]].item<double>();
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
        var plain = ModelGradients.Compute(model, x, "sum");
        var smooth = ModelGradients.Compute(model, x, "sum", smoothDraws: 5, smoothSigma: 0);
        Assert.True((plain - smooth).abs().max().item<double>() < 1e-12);
        Assert.False(x.requires_grad);
        Assert.Null(x.grad);
    }

    [Fact]
    public void BayesOptimalClassifierGradient_IsPerfectlyAlignedWithItself_AndTheReportSaysSo()
    {
        // A model whose logits ARE the Bayes logits has gradient cosine 1 to the Bayes gradient.
        var ds = SubspaceGaussians.Create(new SubspaceGaussiansOptions { Seed = 2, TrainSize = 10, TestSize = 8 });
        var bayes = new BayesModel(ds);
        var report = AlignmentMeasurement.Measure(bayes, new ExactDenoiser(ds), ds, 0.5, "predicted", 8, lpips: null);
        Assert.Equal(8, report.Count);
        Assert.True(report.MeanGradientVsBayesGradient!.Cosine > 0.999);
        Assert.True(report.MeanScoreCosineToExact > 0.999999);
        Assert.NotNull(report.Note);
    }

    sealed class BayesModel : Module<Tensor, Tensor>
    {
        readonly SubspaceGaussians data;
        public BayesModel(SubspaceGaussians data) : base("bayes") => this.data = data;
        public override Tensor forward(Tensor x)
        {
            // Differentiable re-implementation of BayesLogits through torch ops.
            var zs = (x.to_type(ScalarType.Float64).flatten(1) - data.Mean).matmul(data.SignalBasis);
            var d2 = (zs.unsqueeze(1) - data.ClassMeansInSignalCoordinates.unsqueeze(0)).pow(2).sum(2);
            return (d2 * (-0.5 / 0.09)).to_type(x.dtype);
        }
    }

    [Fact]
    public void Cli_MeasureAlignment_WithTheExactScore_WritesAReport()
    {
        string dir = TestPaths.TempDir("align");
        var config = new PagLab.Training.TrainConfig { Dataset = "subspace-gaussians", Arch = "mlp", TrainSize = 500, TestSize = 50 };
        PagLab.Training.Trainer.Run(config, Path.Combine(dir, "m"));
        var r = CliProcess.Run("measure", "alignment", "--model", Path.Combine(dir, "m"), "--denoiser", "exact", "--dataset", "subspace-gaussians",
            "--count", "16", "--out", Path.Combine(dir, "a.json"));
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("gradient vs Bayes-optimal gradient", r.Stdout);
        Assert.True(File.Exists(Path.Combine(dir, "a.json")));
    }
}
