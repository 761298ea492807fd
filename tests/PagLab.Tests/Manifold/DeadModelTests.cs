using PagLab.Common;
using PagLab.Data;
using PagLab.Manifold;
using PagLab.Models;
using PagLab.Uncertainty;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Tests.Manifold;

/// <summary>
/// A collapsed model (here: every weight 0, so constant logits and an input gradient of exactly 0) has no
/// off-manifold share of its gradient: rho_1 and rho_2 are undefined (NaN), not 0, and measuring such a model
/// completes instead of failing the sweep job (PGD eps 8 on fashion-mnist collapses a smallcnn this way).
/// </summary>
[Trait("Category", "Numeric")]
public class DeadModelTests
{
    const int Side = 8;

    static SubspaceGaussians Small() => SubspaceGaussians.Create(new SubspaceGaussiansOptions
    {
        Height = Side, Width = Side, Classes = 3, SignalDims = 2, DistractorDims = 2, TrainSize = 300, TestSize = 24,
        Seed = 7,
    });

    static ImageClassifier Dead()
    {
        var model = ModelFactory.Create(new ModelSpec
        {
            Arch = Architecture.Mlp, Channels = 1, Height = Side, Width = Side, Classes = 3, Hidden = 16,
        }, seed: 3);
        using (no_grad()) foreach (var p in model.parameters()) p.zero_();
        return model;
    }

    [Fact]
    public void Rho2AndRho1_OfAZeroGradient_AreNaN_InFloat32()
    {
        using var model = Dead();
        using var x = rand(5, 1, Side, Side);
        using var q = linalg.qr(randn(5, Side * Side, 3)).Q;
        using var rho2 = ManifoldAlignment.Rho2(model.call, x, q, GradientMode.Predicted, null);
        Assert.Equal(ScalarType.Float32, rho2.dtype);
        Assert.True(rho2.isnan().all().item<bool>(), $"rho_2 {string.Join(", ", rho2.data<float>().ToArray())}");
        using var noise = randn(5, 4, Side * Side);
        using var rho1 = ManifoldAlignment.Rho1(model.call, x, q, noise, 0.1, GradientMode.Predicted, null);
        Assert.True(rho1.isnan().all().item<bool>(), $"rho_1 {string.Join(", ", rho1.data<float>().ToArray())}");
        // In float64 a clamp of the denominator at 1e-300 gave 0 here: "all on the manifold", for a model with none.
        model.to(ScalarType.Float64);
        using var rho2Double = ManifoldAlignment.Rho2(model.call, x.to_type(ScalarType.Float64),
            q.to_type(ScalarType.Float64), GradientMode.Predicted, null);
        Assert.True(rho2Double.isnan().all().item<bool>());
    }

    [Fact]
    public void Rho2_OfGivenGradients_IsUndefinedOnlyWhereTheGradientIsZero()
    {
        // d = 2, tangent e1: g = (3, 4) has rho_2 16/25; g = 0 has none.
        using var g = tensor(new float[] { 3, 4, 0, 0 }).view(2, 2);
        using var q = tensor(new float[] { 1, 0, 1, 0 }).view(2, 2, 1);
        var rho2 = ManifoldAlignment.Rho2(g, q).data<float>().ToArray();
        Assert.Equal(16f / 25f, rho2[0], 6);
        Assert.True(float.IsNaN(rho2[1]));
        using var values = tensor(new[] { 0.2, double.NaN, 0.4 });
        var d = Distribution.OfDefined(values);
        Assert.Equal(2, d.Count);
        Assert.Equal(0.3, d.Mean, 12);
        Assert.Equal(2, Bootstrap.Mean(Bootstrap.Sample.Defined(new[] { 0.2, double.NaN, 0.4 })).N);
        using var none = tensor(new[] { double.NaN });
        Assert.Equal(0, Distribution.OfDefined(none).Count);
    }

    [Fact]
    public void MeasureManifold_OfADeadModel_Completes_WithRhoUndefinedAndNoOutputChange()
    {
        using var dataset = Small();
        using var tangents = ManifoldExperiments.EstimateWithLocalPca(dataset, Split.Test, 12, 32, 4);
        using var model = Dead();
        var request = new ManifoldRequest("dead-model", "local-pca", dataset)
        {
            Epsilons = new[] { 1.0 }, Draws = 2, BatchImages = 5, Measure = OutputMeasure.Default, Isotropic = true,
        };
        var report = ManifoldExperiments.MeasureManifold(request, model, tangents, NullProgress.Instance);
        var r = Assert.Single(report.Results);
        Assert.All(r.OnPerImage.Concat(r.OffPerImage).Concat(r.IsotropicPerImage), v => Assert.Equal(0, v));
        foreach (var (mode, d) in report.Rho2)
        {
            Assert.Equal(0, d.Count);
            Assert.All(report.Rho2PerImage[mode], v => Assert.True(double.IsNaN(v), $"{mode}: rho_2 {v}"));
        }
        Assert.Contains(report.SummaryLines(), l => l.Contains("12 of 12 images have a zero gradient"));
    }
}
