using PagLab.Attributions;
using PagLab.Common;
using PagLab.Models;
using PagLab.Score;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Tests.Attributions;

/// <summary>Each attribution against its closed form on models whose gradient is known exactly (float64).</summary>
public class AttributionTests
{
    const int D = 6;

    /// <summary>Scores s = V W^T of the flattened image V (B, D): class k's logit is w_k . x.</summary>
    sealed class LinearScores : Module<Tensor, Tensor>
    {
        readonly Tensor w;
        public LinearScores(Tensor w) : base(nameof(LinearScores)) { this.w = w; RegisterComponents(); }
        public override Tensor forward(Tensor x) => x.flatten(1).matmul(w.t());
    }

    /// <summary>One score f(x) = x^T A x.</summary>
    sealed class QuadraticScore : Module<Tensor, Tensor>
    {
        readonly Tensor a;
        public QuadraticScore(Tensor a) : base(nameof(QuadraticScore)) { this.a = a; RegisterComponents(); }
        public override Tensor forward(Tensor x)
        {
            var v = x.flatten(1);
            return (v.matmul(a) * v).sum(1, keepdim: true);
        }
    }

    /// <summary>One score f(x) = relu(w . x): its gradient jumps, its Gaussian smoothing does not.</summary>
    sealed class ReluScore : Module<Tensor, Tensor>
    {
        readonly Tensor w;
        public ReluScore(Tensor w) : base(nameof(ReluScore)) { this.w = w; RegisterComponents(); }
        public override Tensor forward(Tensor x) => functional.relu(x.flatten(1).matmul(w)).unsqueeze(1);
    }

    static Tensor Random(int seed, params long[] shape)
    {
        using var g = new Generator((ulong)seed);
        return randn(shape, dtype: ScalarType.Float64, generator: g);
    }

    static Tensor Images(int seed, int b) => Random(seed, b, 1, 2, 3);      // (B, 1, 2, 3): D = 6 pixels

    static AttributionSettings Smooth(int draws, double sigma) =>
        new() { Method = AttributionKind.SmoothGrad, Draws = draws, NoiseSigma = sigma, Seed = 11 };

    static AttributionSettings Integrated(int steps, double baseline) =>
        new() { Method = AttributionKind.IntegratedGradients, Steps = steps, Baseline = baseline };

    static double MaxAbs(Tensor t) => t.abs().max().item<double>();

    [Fact]
    public void Gradient_OfALinearModel_IsTheLabelsWeightRow()
    {
        var w = Random(1, 3, D);
        var x = Images(2, 4);
        var labels = tensor(new long[] { 0, 2, 1, 2 });
        var g = ModelGradients.Compute(new LinearScores(w), x, GradientMode.Label, labels);
        Assert.True(MaxAbs(g.flatten(1) - w.index_select(0, labels)) < 1e-12);
    }

    [Fact]
    public void SmoothGrad_OfAQuadratic_Is2Ax_WithinItsSamplingError()
    {
        var m = Random(3, D, D);
        var a = (m + m.t()) / 2;
        var x = Images(4, 3);
        const int draws = 4096; const double sigma = 0.5;
        var smooth = ModelGradients.Compute(new QuadraticScore(a), x, GradientMode.Sum,
            attribution: Smooth(draws, sigma)).flatten(1);
        var exact = 2 * x.flatten(1).matmul(a);                             // E[2A(x + sigma eps)] = 2Ax
        // the mean of n draws of 2A sigma eps has per-coordinate sd 2 sigma ||A_i|| / sqrt(n); allow 5 of them
        var sd = 2 * sigma * a.pow(2).sum(1).sqrt() / Math.Sqrt(draws);
        Assert.True(((smooth - exact).abs() <= 5 * sd).all().item<bool>());
        Assert.True(MaxAbs(smooth - exact) > 0);                            // the noise was drawn
    }

    [Fact]
    public void SmoothGrad_OfARelu_IsTheGradientOfTheGaussianSmoothedModel()
    {
        var w = Random(5, D);
        var x = Images(6, 4) * 0.3;
        const int draws = 8192; const double sigma = 0.4;
        var smooth = ModelGradients.Compute(new ReluScore(w), x, GradientMode.Sum,
            attribution: Smooth(draws, sigma)).flatten(1);
        // d/dx E[relu(w.(x + sigma eps))] = w Phi(w.x / (sigma ||w||)); each draw adds w or 0, Bernoulli(p)
        var p = special.ndtr(x.flatten(1).matmul(w) / (sigma * w.norm())).unsqueeze(1);   // (B, 1)
        var exact = p * w;
        var sd = w.abs() * (p * (1 - p) / draws).sqrt();
        Assert.True(((smooth - exact).abs() <= 5 * sd + 1e-12).all().item<bool>());
        var plain = ModelGradients.Compute(new ReluScore(w), x, GradientMode.Sum).flatten(1);
        Assert.True(MaxAbs(plain - exact) > 0.05);                         // the plain gradient is w or 0, not w Phi
    }

    [Fact]
    public void SmoothGrad_RepeatsWithItsSeed_AndLeavesTheInputAsItWas()
    {
        var w = Random(7, D);
        var x = Images(8, 2);
        var first = ModelGradients.Compute(new ReluScore(w), x, GradientMode.Sum, attribution: Smooth(16, 0.3));
        var second = ModelGradients.Compute(new ReluScore(w), x, GradientMode.Sum, attribution: Smooth(16, 0.3));
        Assert.Equal(0, MaxAbs(first - second));
        Assert.False(x.requires_grad);
        Assert.True(MaxAbs(x - Images(8, 2)) == 0);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.3)]
    public void IntegratedGradients_OfALinearModel_IsWTimesXMinusBaseline(double baseline)
    {
        var w = Random(9, 2, D);
        var x = Images(10, 3);
        var labels = tensor(new long[] { 1, 0, 1 });
        var ig = ModelGradients.Compute(new LinearScores(w), x, GradientMode.Label, labels,
            attribution: Integrated(7, baseline)).flatten(1);
        var exact = w.index_select(0, labels) * (x.flatten(1) - baseline);
        Assert.True(MaxAbs(ig - exact) < 1e-12);
    }

    [Fact]
    public void IntegratedGradients_OfAQuadratic_IsComplete_AndMatchesItsClosedForm()
    {
        var m = Random(11, D, D);
        var a = (m + m.t()) / 2;
        var model = new QuadraticScore(a);
        var x = Images(12, 3);
        const double baseline = -0.2;
        var ig = ModelGradients.Compute(model, x, GradientMode.Sum, attribution: Integrated(5, baseline)).flatten(1);
        // the gradient 2A(x' + a(x - x')) is linear in a, so the midpoint rule is exact: IG = (x - x') * A(x + x')
        var v = x.flatten(1);
        var exact = (v - baseline) * (v + baseline).matmul(a);
        Assert.True(MaxAbs(ig - exact) < 1e-10);
        using var _ = no_grad();
        var gap = model.call(x).squeeze(1) - model.call(full_like(x, baseline)).squeeze(1);     // f(x) - f(x')
        Assert.True(MaxAbs(ig.sum(1) - gap) < 1e-10 * (1 + MaxAbs(gap)));
    }

    [Fact]
    public void IntegratedGradients_OfAnImageClassifier_IsCompleteAsItsStepsGrow()
    {
        var model = ModelFactory.Create(new ModelSpec { Arch = Architecture.SmallCnn, Channels = 1, Height = 28, Width = 28,
            Classes = 10 }, seed: 3);
        model.to(float64);
        var x = rand(2, 1, 28, 28, dtype: float64);
        var labels = tensor(new long[] { 3, 7 });
        var ig = ModelGradients.Compute(model, x, GradientMode.Label, labels, attribution: Integrated(64, 0));
        using var _ = no_grad();
        using var eval = EvalModel.For(model);
        var outputs = eval.Model.call(x).gather(1, labels.reshape(-1, 1)).squeeze(1);
        var atBaseline = eval.Model.call(zeros_like(x)).gather(1, labels.reshape(-1, 1)).squeeze(1);
        var gap = outputs - atBaseline;
        Assert.True(MaxAbs(ig.flatten(1).sum(1) - gap) < 0.02 * MaxAbs(gap) + 1e-6);
    }

    [Fact]
    public void Names_AreOneVocabulary()
    {
        Assert.Equal(new[] { "gradient", "smoothgrad", "integrated-gradients" }, Vocabulary.Names<AttributionKind>());
        Assert.Equal(AttributionKind.IntegratedGradients,
            Vocabulary.Parse<AttributionKind>("integrated-gradients", "attribution"));
        Assert.Equal("smoothgrad (n 16, sigma 0.15)", new AttributionSettings { Method = AttributionKind.SmoothGrad }
            .ToString());
        Assert.Throws<PagLabException>(() => new AttributionSettings { Steps = 0 }.Validate());
    }
}
