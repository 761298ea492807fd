using System.Text.Json;
using PagLab.IO;
using PagLab.Objectives;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Tests.Objectives;

public class ObjectiveTests
{
    /// <summary>A tiny smooth float64 model: 2x3x3 images -> 3 classes.</summary>
    static Module<Tensor, Tensor> TinyModel(long seed = 1)
    {
        torch.manual_seed(seed);
        var m = Sequential(Flatten(), Linear(18, 6), Softplus(2), Linear(6, 3));
        m.to(ScalarType.Float64);
        return m;
    }

    static (Tensor X, Tensor Y) TinyBatch()
    {
        using var g = new Generator(3, device: CPU);
        return (rand(new long[] { 4, 2, 3, 3 }, dtype: ScalarType.Float64, generator: g), tensor(new long[] { 0, 2, 1,
            2 }));
    }

    [Fact]
    public void GradientNormPenalty_EqualsMeanSquaredPerExampleInputGradient_ByFiniteDifferences()
    {
        var model = TinyModel();
        var (x, y) = TinyBatch();
        using var noise = new Generator(0, device: CPU);
        var terms = new GradientNormPenalty(0.7).Loss(model, x, y, noise);
        // Finite-difference input gradient of each example's CE.
        double h = 1e-6, sum = 0;
        var flat = x.flatten(1);
        for (int i = 0; i < 4; i++)
        {
            double norm2 = 0;
            for (int j = 0; j < 18; j++)
            {
                double Loss(double delta)
                {
                    using var _ = no_grad();
                    var xi = flat[i].clone(); xi[j] = xi[j] + delta;
                    return functional.cross_entropy(model.call(xi.reshape(1, 2, 3, 3)), y.narrow(0, i,
                        1)).item<double>();
                }
                double d = (Loss(h) - Loss(-h)) / (2 * h);
                norm2 += d * d;
            }
            sum += norm2;
        }
        Assert.Equal(sum / 4, terms.Penalty.item<double>(), 6);
        Assert.Equal(terms.CrossEntropy.item<double>() + 0.7 * sum / 4, terms.Total.item<double>(), 6);
    }

    [Fact]
    public void GradientNormPenalty_ParameterGradient_MatchesFiniteDifferences()
    {
        var model = TinyModel();
        var (x, y) = TinyBatch();
        var objective = new GradientNormPenalty(0.5);
        using var noise = new Generator(0, device: CPU);
        var terms = objective.Loss(model, x, y, noise);
        terms.Total.backward();
        var weight = model.parameters().First();                 // first Linear weight (6, 18)
        var analytic = weight.grad!.clone();
        double h = 1e-6;
        foreach (var (r, c) in new[] { (0, 0), (2, 5), (5, 17), (3, 9) })
        {
            double At(double delta)
            {
                using (no_grad()) weight[r, c] = weight[r, c] + delta;
                using var n2 = new Generator(0, device: CPU);
                double v = objective.Loss(model, x, y, n2).Total.item<double>();
                using (no_grad()) weight[r, c] = weight[r, c] - delta;
                return v;
            }
            double numeric = (At(h) - At(-h)) / (2 * h);
            Assert.Equal(numeric, analytic[r, c].item<double>(), 5);
        }
    }

    [Fact]
    public void AuthorsLambdaConvention_MapsTheirConstantOntoOurs()
    {
        // Theirs: c * 1e5 * ||grad_x mean_i l_i||^2 / B = c * 1e5 / B^2 * mean_i ||g_i||^2.
        var model = TinyModel();
        var (x, y) = TinyBatch();
        var input = x.detach().requires_grad_(true);
        var meanLoss = functional.cross_entropy(model.call(input), y);
        var g = torch.autograd.grad(new[] { meanLoss }, new[] { input })[0];
        double theirs = 1e-3 * 1e5 * g.pow(2).sum().item<double>() / 4;
        using var noise = new Generator(0, device: CPU);
        var ours = new GradientNormPenalty(GradientNormPenalty.FromAuthorsConstant(1e-3, 4)).Loss(model, x, y, noise);
        Assert.Equal(theirs, (ours.Total - ours.CrossEntropy).item<double>(), 8);
    }

    [Fact]
    public void SmoothAndRandSmooth_WithSigmaZero_EqualStandard()
    {
        var model = TinyModel();
        var (x, y) = TinyBatch();
        using var n1 = new Generator(0, device: CPU);
        double standard = new CrossEntropy().Loss(model, x, y, n1).Total.item<double>();
        using var n2 = new Generator(0, device: CPU);
        var smooth = new SmoothnessPenalty(5.0, 0.0, draws: 3).Loss(model, x, y, n2);
        Assert.Equal(standard, smooth.Total.item<double>(), 12);
        Assert.Equal(0, smooth.Penalty.item<double>(), 12);
        using var n3 = new Generator(0, device: CPU);
        Assert.Equal(standard, new RandomizedSmoothing(0).Loss(model, x, y, n3).Total.item<double>(), 12);
    }

    [Fact]
    public void RandomizedSmoothing_NoiseHasTheRequestedStatistics()
    {
        // With an identity "model" the logits are the noisy inputs themselves.
        var identity = Sequential(Flatten());
        var x = full(new long[] { 200, 1, 10, 10 }, 0.5);
        var y = zeros(200, dtype: ScalarType.Int64);
        using var noise = new Generator(5, device: CPU);
        var logits = new RandomizedSmoothing(0.3).Loss(identity, x, y, noise).Logits;
        var eps = logits - 0.5;
        Assert.InRange(eps.mean().item<float>(), -0.01, 0.01);
        Assert.InRange(eps.std().item<float>(), 0.29, 0.31);
    }

    [Fact]
    public void Smoothness_Penalty_IsMeanSquaredLogitChange()
    {
        // Linear model f(x) = W x: f(x + eps) - f(x) = W eps, so E||W eps||^2 = sigma^2 ||W||_F^2.
        torch.manual_seed(2);
        var linear = Sequential(Flatten(), Linear(16, 3, hasBias: false));
        var w = linear.parameters().First();
        var x = rand(4000, 1, 4, 4);
        var y = zeros(4000, dtype: ScalarType.Int64);
        using var noise = new Generator(9, device: CPU);
        double penalty = new SmoothnessPenalty(1, 0.2, draws: 2).Loss(linear, x, y, noise).Penalty.item<float>();
        double expected = 0.04 * w.pow(2).sum().item<float>();
        Assert.InRange(penalty, expected * 0.95, expected * 1.05);
    }

    [Fact]
    public void Smoothness_OnABatchNormModel_RunsCleanAndNoisyImagesInTheirOwnBatches()
    {
        // In training mode BatchNorm normalises with batch statistics: a penalty computed from one joint
        // clean+noisy call would differ from the authors' two calls. Ours must equal the two-call value.
        torch.manual_seed(4);
        var model = Sequential(Flatten(), Linear(16, 8), BatchNorm1d(8), Linear(8, 3));
        model.train();
        var x = rand(32, 1, 4, 4);
        var y = randint(3, new long[] { 32 });
        using var noise = new Generator(11, device: CPU);
        var terms = new SmoothnessPenalty(1, 0.5).Loss(model, x, y, noise);
        using var replay = new Generator(11, device: CPU);
        var noisy = x + randn(x.shape, generator: replay) * 0.5;
        var expected = (model.call(noisy) - model.call(x)).pow(2).sum(1).mean().item<float>();
        Assert.Equal(expected, terms.Penalty.item<float>(), 5);
        var joint = model.call(cat(new[] { x, noisy }, 0));
        var jointPenalty = (joint.narrow(0, 32, 32) - joint.narrow(0, 0, 32)).pow(2).sum(1).mean().item<float>();
        Assert.True(Math.Abs(jointPenalty - expected) > 1e-3,
            "the test model must make joint and separate batches differ");
    }
}

public class ObjectiveStrengthTests
{
    [Theory]
    [InlineData(ObjectiveKind.Gnorm, 0.3)]
    [InlineData(ObjectiveKind.Smooth, 2.0)]
    [InlineData(ObjectiveKind.RandSmooth, 0.25)]
    [InlineData(ObjectiveKind.Pgd, 1.5)]
    public void At_IsTheInverseOfStrength_ForEachObjective(ObjectiveKind kind, double strength)
    {
        var config = new ObjectiveConfig { Kind = kind }.At(strength);
        Assert.Equal((kind, strength), (config.Kind, config.Strength));
    }

    [Fact]
    public void At_KeepsSmoothsSigmaAndPgdsSteps_ElseTheDefaults()
    {
        Assert.Equal(0.4, new ObjectiveConfig { Kind = ObjectiveKind.Smooth, Sigma = 0.4 }.At(1).Sigma);
        var smooth = new ObjectiveConfig { Kind = ObjectiveKind.Smooth };
        Assert.Equal(ObjectiveConfig.DefaultSmoothSigma, smooth.At(1).Sigma);
        var pgd = new ObjectiveConfig { Kind = ObjectiveKind.Pgd, Pgd = new() { Steps = 3 } };
        Assert.Equal(3, pgd.At(1).Pgd.Steps);
        Assert.Equal(PagLab.Attacks.PgdConfig.DefaultSteps, (pgd with { Pgd = new() }).At(1).Pgd.Steps);
        Assert.Equal(0, new ObjectiveConfig { Kind = ObjectiveKind.Standard }.At(5).Strength);
    }

    [Fact]
    public void At_DropsTheSweepsStrengths_SoARunsConfigNeverHoldsThem()
    {
        var entry = new ObjectiveConfig { Kind = ObjectiveKind.Gnorm, Strengths = new[] { 0.1, 1 } };
        Assert.Null(entry.At(1).Strengths);
        Assert.DoesNotContain("strengths", JsonSerializer.Serialize(entry.At(1), JsonFiles.Options));
    }

    [Fact]
    public void UnsetLambdaAndSigma_TakeTheirObjectivesDefaults_AndSetOnesWin()
    {
        var smooth = new ObjectiveConfig { Kind = ObjectiveKind.Smooth };
        Assert.Equal((ObjectiveConfig.DefaultSmoothLambda, ObjectiveConfig.DefaultSmoothSigma),
            (smooth.Lambda, smooth.Sigma));
        Assert.Equal(ObjectiveConfig.DefaultRandSmoothSigma, new ObjectiveConfig { Kind = ObjectiveKind.RandSmooth }.Sigma);
        Assert.Equal(0, new ObjectiveConfig { Kind = ObjectiveKind.Gnorm, Lambda = 0 }.Lambda);
        Assert.Equal(0, new ObjectiveConfig { Kind = ObjectiveKind.Standard }.Lambda);
    }
}
