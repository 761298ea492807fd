using PagLab.Attacks;
using PagLab.Models;
using PagLab.Objectives;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Tests.Models;

[Trait("Category", "Numeric")]
public class BatchNormFoldingTests
{
    /// <summary>A narrow ResNet-18 (width 8) on 3x16x16 images whose batch norms hold statistics and affine
    /// parameters far from the identity, so a fold that drops or misplaces any term changes the outputs.</summary>
    static ImageClassifier ResNet(string activation = "relu", long seed = 1)
    {
        var spec = new ModelSpec
        {
            Arch = Architecture.ResNet18, Channels = 3, Height = 16, Width = 16, Classes = 10, WidthMultiplier = 0.125,
            Activation = activation, Mean = new[] { 0.4f, 0.5f, 0.6f }, Std = new[] { 0.2f, 0.25f, 0.3f },
        };
        var model = ModelFactory.Create(spec, seed);
        using var g = new Generator((ulong)seed + 100, device: CPU);
        using (no_grad())
            foreach (var (_, module) in model.named_modules())
                if (module is BatchNorm2d bn)
                {
                    long c = bn.num_features;
                    bn.running_mean!.copy_(randn(new[] { c }, generator: g) * 0.3);
                    bn.running_var!.copy_(rand(new[] { c }, generator: g) * 1.5 + 0.3);
                    bn.weight.copy_(rand(new[] { c }, generator: g) + 0.5);
                    bn.bias!.copy_(randn(new[] { c }, generator: g) * 0.2);
                }
        model.eval();
        return model;
    }

    static Tensor Images(long n = 6, long seed = 7, ScalarType dtype = ScalarType.Float32)
    {
        using var g = new Generator((ulong)seed, device: CPU);
        return rand(new[] { n, 3L, 16, 16 }, generator: g).to_type(dtype);
    }

    /// <summary>The same module seen through a wrapper that is neither IFoldable nor an ImageClassifier: what
    /// EvalModel does with a model it cannot fold (the unfolded reference).</summary>
    sealed class Opaque : Module<Tensor, Tensor>
    {
        private readonly Module<Tensor, Tensor> inner;
        public Opaque(Module<Tensor, Tensor> inner) : base(nameof(Opaque)) { this.inner = inner; RegisterComponents(); }
        public override Tensor forward(Tensor x) => inner.call(x);
    }

    static double RelativeError(Tensor actual, Tensor expected) =>
        (actual - expected).abs().max().to_type(ScalarType.Float64).item<double>()
        / expected.abs().max().to_type(ScalarType.Float64).item<double>();

    [Theory]
    [InlineData("relu", ScalarType.Float32, Float32Tolerance.Network * Float32Tolerance.Epsilon)]
    [InlineData("softplus:10", ScalarType.Float32, Float32Tolerance.Network * Float32Tolerance.Epsilon)]
    [InlineData("relu", ScalarType.Float64, 1e-12)]
    public void Folded_GivesTheEvalModelsLogits(string activation, ScalarType dtype, double tolerance)
    {
        using var model = ResNet(activation);
        model.to(dtype);
        var x = Images(dtype: dtype);
        using var eval = EvalModel.For(model);
        Assert.NotSame(model, eval.Model);
        Assert.False(NormLayers.HasBatchNorm(eval.Model));
        using var _ = no_grad();
        var expected = model.call(x);
        var folded = eval.Model.call(x);
        Assert.Equal(dtype, folded.dtype);
        Assert.True(RelativeError(folded, expected) < tolerance, $"relative error {RelativeError(folded, expected)}");
    }

    /// <summary>A derivative w.r.t. the input of the eval-mode model and of its folded copy: equal, not zero.</summary>
    static void AssertFoldedKeeps(Func<Module<Tensor, Tensor>, Tensor> derivative, ImageClassifier model,
        double tolerance)
    {
        using var eval = EvalModel.For(model);
        var expected = derivative(model);
        var folded = derivative(eval.Model);
        Assert.True(expected.abs().max().item<float>() > 0);
        Assert.True(RelativeError(folded, expected) < tolerance, $"relative error {RelativeError(folded, expected)}");
    }

    [Theory]
    [InlineData("relu")]
    [InlineData("softplus:10")]
    public void Folded_GivesTheEvalModelsInputGradients(string activation)
    {
        using var model = ResNet(activation);
        var y = tensor(new long[] { 0, 3, 5, 9, 1, 2 });
        AssertFoldedKeeps(m =>
        {
            var x = Images().requires_grad_(true);
            var loss = functional.cross_entropy(m.call(x), y, reduction: Reduction.Sum);
            return torch.autograd.grad(new[] { loss }, new[] { x })[0];
        }, model, Float32Tolerance.SecondOrder * Float32Tolerance.Epsilon);           // a forward and a backward
    }

    [Fact]
    public void Folded_GivesTheEvalModelsSecondOrderInputGradients()
    {
        // d/dx ||d logits.sum / dx||^2 through create_graph (smooth activation: a ReLU net's is zero).
        using var model = ResNet("softplus:10");
        AssertFoldedKeeps(m =>
        {
            var x = Images().requires_grad_(true);
            var g = torch.autograd.grad(new[] { m.call(x).sum() }, new[] { x }, retain_graph: true,
                create_graph: true)[0];
            return torch.autograd.grad(new[] { g.square().sum() }, new[] { x })[0];
        }, model, 4 * Float32Tolerance.SecondOrder * Float32Tolerance.Epsilon);       // two backward passes
    }

    [Fact]
    public void Folded_SharesNothingWithTheModel_AndHasNoParameters()
    {
        using var model = ResNet();
        var x = Images();
        using var eval = EvalModel.For(model);
        Assert.Empty(eval.Model.parameters());
        using var _ = no_grad();
        var before = eval.Model.call(x);
        foreach (var p in model.parameters()) p.mul_(0.5);
        foreach (var (_, module) in model.named_modules())
            if (module is BatchNorm2d bn) bn.running_mean!.add_(1);
        Assert.Equal(before.data<float>().ToArray(), eval.Model.call(x).data<float>().ToArray());
        eval.Dispose();
        Assert.Equal(new long[] { 6, 10 }, model.call(x).shape);              // the model outlives its copy
    }

    [Fact]
    public void FoldingAFoldedModel_GivesAnEqualCopy()
    {
        using var model = ResNet();
        var x = Images();
        using var once = EvalModel.For(model);
        using var twice = ((IFoldable)((ImageClassifier)once.Model).Network).FoldedForEval();
        using var _ = no_grad();
        var a = ((ImageClassifier)once.Model).Network.call(x);
        Assert.Equal(a.data<float>().ToArray(), twice.call(x).data<float>().ToArray());
        Assert.Same(once.Model, EvalModel.For(once.Model).Model);             // nothing left to fold: no copy
    }

    [Fact]
    public void EvalModel_OfAModelWithoutBatchNorm_IsTheModelInEvalMode_GivenBackInItsMode()
    {
        using var model = ModelFactory.Create(new ModelSpec { Arch = Architecture.SmallCnn, Channels = 1, Height = 28,
            Width = 28, Classes = 10 }, 0);
        model.train();
        using (var eval = EvalModel.For(model))
        {
            Assert.Same(model, eval.Model);
            Assert.False(model.training);
        }
        Assert.True(model.training);
    }

    [Fact]
    public void EvalModel_LeavesATrainingModelInTrainingMode_WhenItFolds()
    {
        using var model = ResNet();
        model.train();
        using (var eval = EvalModel.For(model))
        {
            Assert.False(eval.Model.training);
            Assert.True(model.training);
        }
        Assert.True(model.training);
    }

    [Fact]
    public void Pgd_OnTheFoldedModel_FindsTheSameAdversarialExamples()
    {
        using var model = ResNet();
        var x = Images();
        var y = tensor(new long[] { 0, 3, 5, 9, 1, 2 });
        var config = new PgdConfig { Steps = 5, RandomStart = true };
        Tensor Attack(Module<Tensor, Tensor> m)
        {
            using var eval = EvalModel.For(m);
            using var g = new Generator(11, device: CPU);
            return Pgd.Attack(eval.Model, x, y, tensor(0.5), config, g);
        }
        var unfolded = Attack(new Opaque(model));
        var folded = Attack(model);
        Assert.True((unfolded - x).abs().max().item<float>() > 0.01);
        Float32Tolerance.AssertClose(folded, unfolded, Float32Tolerance.EndToEnd, "adversarial images");
    }

    [Fact]
    public void PgdTraining_Step_EqualsTheStepWithFoldingDisabled_AndTrainsOnBatchStatistics()
    {
        // Two equal models, one PGD-training step each: through the folded attack, and through the unfolded one
        // (EvalModel cannot fold the Opaque wrapper). The training pass itself must never fold.
        using var folded = ResNet(seed: 5);
        using var reference = ResNet(seed: 5);
        // A copy, not a second initialisation: tests running in parallel draw from torch's global generator.
        SavedModel.LoadStateDict(reference, SavedModel.StateDict(folded), "the folded model");
        var x = Images(8, 3);
        var y = tensor(new long[] { 0, 1, 2, 3, 4, 5, 6, 7 });
        var objective = new PgdAdversarialTraining(new[] { 0.5, 1.0 }, new PgdConfig { Steps = 3, RandomStart = true });
        Tensor Step(Module<Tensor, Tensor> model, Module<Tensor, Tensor> trained)
        {
            trained.train();
            using var optimizer = torch.optim.SGD(trained.parameters(), 0.1);
            using var noise = new Generator(2, device: CPU);
            var terms = objective.Loss(model, x, y, noise);
            Assert.True(trained.training);
            terms.Total.backward();
            optimizer.step();
            return terms.Logits;
        }
        var logits = Step(folded, folded);
        var expectedLogits = Step(new Opaque(reference), reference);
        Float32Tolerance.AssertClose(logits, expectedLogits, Float32Tolerance.EndToEnd, "logits after the step");
        var a = folded.state_dict();
        var b = reference.state_dict();
        Assert.Equal(1, a["net.bn1.num_batches_tracked"].item<long>());       // the training pass updated batch norm
        foreach (var (name, tensor) in a)
            Float32Tolerance.AssertClose(tensor, b[name], Float32Tolerance.EndToEnd, name);
    }
}
