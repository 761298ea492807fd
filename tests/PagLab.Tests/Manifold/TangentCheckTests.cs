using PagLab.Common;
using PagLab.Data;
using PagLab.Manifold;
using PagLab.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Tests.Manifold;

[Trait("Category", "Numeric")]
public class TangentCheckTests
{
    static SubspaceGaussians Small(double offSubspaceStd = 0.0) => SubspaceGaussians.Create(new SubspaceGaussiansOptions
    {
        Height = 8, Width = 8, Classes = 3, SignalDims = 2, DistractorDims = 2, TrainSize = 600, TestSize = 40,
            Seed = 5,
        OffSubspaceStd = offSubspaceStd,
    });

    [Fact]
    public void Check_OnSubspaceGaussians_ReportsSmallAnglesForLocalPca()
    {
        // bound: mean principal angle below 5 degrees, worst below 20, with 64 of 600 neighbours in R^64
        using var dataset = Small();
        var report = TangentCheck.Run(dataset, autoencoderDir: null, count: 20, neighbours: 64, dimension: null,
            NullProgress.Instance);
        var pca = report.Estimators["local-pca"];
        Assert.Equal(4, report.TrueDimension);
        Assert.Equal(20, pca.Count);
        Assert.True(pca.MeanDegrees < 5 && pca.MaxDegrees < 20, $"mean {pca.MeanDegrees}, max {pca.MaxDegrees}");
    }

    [Fact]
    public void TrueSpaces_ProjectLikeTheDatasetsOwnProjector()
    {
        using var dataset = Small();
        using var spaces = TangentCheck.TrueSpaces(dataset, PagLab.Data.Split.Test, 6);
        using var v = randn(6, 1, 8, 8, ScalarType.Float64);
        using var ours = spaces.ProjectOn(v.flatten(1));
        using var theirs = dataset.ProjectOnManifold(v);
        double difference = (ours - theirs.flatten(1).to_type(ours.dtype)).abs().max().item<double>();
        double tolerance = Float32Tolerance.Of(theirs.abs().max().item<double>(), Float32Tolerance.Network);
        Assert.True(difference <= tolerance, $"max difference {difference}, tolerance {tolerance}");
    }

    [Fact]
    public void RidgeLinearModel_OnSubspaceGaussians_HasRho2Zero_AndBayesGradientToo()
    {
        // PAGs Section 3.3, Argument 2 (ridge with a free bias, closed form) and Theorem 2: the Bayes
        // logit gradients of subspace-gaussians lie in the tangent space as well.
        using var dataset = Small();
        using var spaces = TangentCheck.TrueSpaces(dataset, PagLab.Data.Split.Test, 20);
        var spec = ModelSpec.For(Architecture.Linear, dataset);
        using var model = ModelFactory.Create(spec, seed: 1);
        model.to(ScalarType.Float64);
        using (var scope = NewDisposeScope())
        {
            var x = dataset.Train.Images.flatten(1).to_type(ScalarType.Float64);
            var xc = x - x.mean(new long[] { 0 }, keepdim: true);
            var y = nn.functional.one_hot(dataset.Train.Labels, dataset.Classes).to_type(ScalarType.Float64);
            var yc = y - y.mean(new long[] { 0 }, keepdim: true);
            var w = linalg.solve(xc.t().matmul(xc) + 0.1 * eye(x.shape[1], dtype: ScalarType.Float64),
                xc.t().matmul(yc)).t();
            var bias = y.mean(new long[] { 0 }) - w.matmul(x.mean(new long[] { 0 }));
            using var noGrad = no_grad();
            foreach (var (_, p) in model.named_parameters()) p.copy_(p.dim() == 2 ? w : bias);
        }
        using var images = dataset.Test.Images.narrow(0, 0, 20).to_type(ScalarType.Float64);
        using var labels = dataset.Test.Labels.narrow(0, 0, 20);
        using var rho2 = ManifoldAlignment.Rho2(model.call, images, spaces.Bases, GradientMode.Label, labels);
        // images are stored as float32, so the data leave the subspace by ~1e-7 per pixel: bound 1e-6
        // (a random linear model has rho_2 ~ 1 - 4/64)
        Assert.True(rho2.max().item<double>() < 1e-6, $"rho_2 = {rho2.max().item<double>()}");

        using var bayes = dataset.BayesLogitGradient(images, labels).flatten(1).to_type(ScalarType.Float64);
        using var off = spaces.ProjectOff(bayes);
        double share = (off.pow(2).sum(1) / bayes.pow(2).sum(1)).max().item<double>();
        Assert.True(share < 1e-6, $"Bayes gradient off-manifold share {share}");
    }

    [Fact]
    public void Check_OnDatasetWithoutKnownTangents_SaysSo()
    {
        using var shapes = ShapesDataset.Create(0, 20, 10);
        var error = Assert.Throws<PagLabException>(() => TangentCheck.Run(shapes, null, 5, 10, 2,
            NullProgress.Instance));
        Assert.Contains("no known tangent space", error.Message);
    }
}
