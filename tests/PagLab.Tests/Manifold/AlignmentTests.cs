using PagLab.Manifold;
using PagLab.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Tests.Manifold;

[Trait("Category", "Numeric")]
public class AlignmentTests
{
    const int Side = 4, D = Side * Side, K = 3, Classes = 3;

    static ModelSpec Spec(string arch, string activation = "relu") => new()
    {
        Arch = PagLab.Common.Vocabulary.Parse<Architecture>(arch, "arch"), Channels = 1, Height = Side,
            Width = Side, Classes = Classes, Activation = activation, Hidden = 16,
    };

    /// <summary>
    /// Ridge regression onto one-hot labels in closed form, W = Y_c^T X_c (X_c^T X_c + lambda I)^-1:
    /// the linear model trained with weight decay (PAGs, Section 3.3, Argument 2). Its rows lie in the
    /// span of the centred data, i.e. in the tangent space of the subspace.
    /// </summary>
    static ImageClassifier RidgeLinearModel(SubspaceData data, Tensor labels, double lambda)
    {
        using var _ = NewDisposeScope();
        var model = ModelFactory.Create(Spec("linear"), seed: 1);
        model.to(ScalarType.Float64);
        var x = data.Points;
        var xc = x - x.mean(new long[] { 0 }, keepdim: true);
        var y = nn.functional.one_hot(labels, Classes).to_type(ScalarType.Float64);
        var yc = y - y.mean(new long[] { 0 }, keepdim: true);
        // (C, d)
        var w = linalg.solve(xc.t().matmul(xc) + lambda * eye(D, dtype: ScalarType.Float64), xc.t().matmul(yc)).t();
        var bias = y.mean(new long[] { 0 }) - w.matmul(x.mean(new long[] { 0 }));
        using (no_grad())
            foreach (var (name, p) in model.named_parameters())
                p.copy_(p.dim() == 2 ? w : bias);
        return model;
    }

    static Tensor Images(SubspaceData data, long n) => data.Points.narrow(0, 0, n).view(n, 1, Side, Side);

    static Tensor Bases(SubspaceData data, long n) => data.Basis.unsqueeze(0).expand(n, -1, -1).contiguous();

    static Tensor Labels(SubspaceData data) => (data.Codes.select(1,
        0) > 0.4).to_type(ScalarType.Int64) + (data.Codes.select(1, 1) > 0).to_type(ScalarType.Int64);

    [Fact]
    public void RidgeLinearModel_HasGradientsInTheDataSpan_SoRho2AndRho1AreZero()
    {
        using var data = new SubspaceData(D, K, 300, seed: 11);
        using var labels = Labels(data);
        using var model = RidgeLinearModel(data, labels, lambda: 0.1);
        using var x = Images(data, 20);
        using var q = Bases(data, 20);
        // (GradientMode.Sum is left out: one-hot targets sum to 1, so the summed logits are constant and their
        // gradient vanishes)
        foreach (var mode in new[] { GradientMode.Predicted, GradientMode.Label })
        {
            using var rho2 = ManifoldAlignment.Rho2(model.call, x, q, mode, labels.narrow(0, 0, 20));
            Assert.True(rho2.max().item<double>() < 1e-12, $"{mode}: rho_2 = {rho2.max().item<double>()}");
        }
        using var noise = randn(20, 50, D, ScalarType.Float64);
        using var rho1 = ManifoldAlignment.Rho1(model.call, x, q, noise, 0.5, GradientMode.Predicted, null);
        Assert.True(rho1.max().item<double>() < 1e-12, $"rho_1 = {rho1.max().item<double>()}");
    }

    [Fact]
    public void LinearModelTrainedWithWeightDecay_LosesItsOffSubspaceGradient()
    {
        // Full-batch gradient descent on cross-entropy + weight decay: the data term only moves W within
        // the data span, the decay shrinks the rest by (1 - lr * lambda) per step (PAGs, Section 3.3).
        // The data lie on a linear subspace (through the origin), so the data span is the tangent space.
        using var data = new SubspaceData(D, K, 300, seed: 15, throughOrigin: true);
        using var labels = Labels(data);
        using var model = ModelFactory.Create(Spec("linear"), seed: 2);
        model.to(ScalarType.Float64);
        using var x = data.Points.view(-1, 1, Side, Side);
        using var q = Bases(data, 20);
        using var before = ManifoldAlignment.Rho2(model.call, x.narrow(0, 0, 20), q, GradientMode.Predicted, null);
        using var sgd = optim.SGD(model.parameters(), 0.5, weight_decay: 0.05);
        for (int step = 0; step < 600; step++)
        {
            using var _ = NewDisposeScope();
            sgd.zero_grad();
            nn.functional.cross_entropy(model.call(x), labels).backward();
            sgd.step();
        }
        using var after = ManifoldAlignment.Rho2(model.call, x.narrow(0, 0, 20), q, GradientMode.Predicted, null);
        Assert.True(before.mean().item<double>() > 0.3, $"before: {before.mean().item<double>()}");
        Assert.True(after.max().item<double>() < 1e-8, $"after: {after.max().item<double>()}");
    }

    [Fact]
    public void ModelWithoutWeightDecayStructure_HasPositiveRho2()
    {
        // a random linear model is not confined to the subspace: rho_2 ~ 1 - k/d
        using var data = new SubspaceData(D, K, 50, seed: 12);
        using var model = ModelFactory.Create(Spec("linear"), seed: 5);
        model.to(ScalarType.Float64);
        using var rho2 = ManifoldAlignment.Rho2(model.call, Images(data, 10), Bases(data, 10), GradientMode.Sum, null);
        Assert.True(rho2.mean().item<double>() > 0.3, $"rho_2 = {rho2.mean().item<double>()}");
    }

    [Fact]
    public void Theorem1_Rho1ApproachesRho2_AsSigmaFalls()
    {
        using var data = new SubspaceData(D, K, 16, seed: 13);
        using var model = ModelFactory.Create(Spec("mlp", "softplus:2"), seed: 3);
        model.to(ScalarType.Float64);
        model.eval();
        using var x = Images(data, 8);
        using var q = Bases(data, 8);
        var rows = ManifoldAlignment.Theorem1(model.call, x, q, new[] { 3.0, 1e-1, 1e-4 }, draws: 4000,
            GradientMode.Predicted, null, seed: 1);
        var gap = rows.Select(r => r.MeanAbsDifference).ToArray();
        Assert.True(gap[2] < gap[0], $"|rho1 - rho2|: {string.Join(", ", gap)}");
        // at sigma -> 0 only the Monte-Carlo error of 4000 draws remains (relative ~ 2/sqrt(4000))
        Assert.True(gap[2] < 0.05 * Math.Max(rows[2].Rho2Mean, 0.1),
            $"gap at 1e-4 = {gap[2]}, rho2 = {rows[2].Rho2Mean}");
        // against the first-order limit on the same draws the curvature error vanishes like sigma
        var toLinear = rows.Select(r => r.MeanAbsToLinear).ToArray();
        Assert.True(toLinear[1] < toLinear[0] && toLinear[2] < 1e-3 * toLinear[0] && toLinear[2] < 1e-5,
            $"|rho1 - rho1_linear|: {string.Join(", ", toLinear)}");
    }

    [Fact]
    public void OffManifoldNoise_DoesNotMoveARidgeModel_ButOnManifoldNoiseDoes()
    {
        using var data = new SubspaceData(D, K, 300, seed: 14);
        using var labels = Labels(data);
        using var model = RidgeLinearModel(data, labels, lambda: 0.1);
        using var x = Images(data, 12);
        using var spaces = new TangentSpaces(arange(12), Bases(data, 12).to_type(ScalarType.Float32), ones(12, K));
        var results = ManifoldRobustness.Measure(model.call, x, spaces, new[] { 0.5, 2.0 }, draws: 8,
            new OutputMeasure(OutputKind.Logits, 2), seed: 2, batchImages: 5);
        Assert.Equal(2, results.Count);
        foreach (var r in results)
        {
            Assert.True(r.Off.Maximum < 1e-5 * r.On.Mean, $"eps {r.Epsilon}: off {r.Off.Mean}, on {r.On.Mean}");
            Assert.True(r.On.Mean > 0);
            Assert.Equal(12 * 8, r.On.Count);
        }
        // linear model: the output change scales linearly with epsilon
        Assert.Equal(4.0, results[1].On.Mean / results[0].On.Mean, 3);
    }
}
