using PagLab.Common;
using PagLab.Data;
using PagLab.Manifold;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Tests.Manifold;

public class TangentCheckTests
{
    /// <summary>An in-memory dataset on a known 4-dimensional subspace of 1x8x8 images, exposing TangentBasis.</summary>
    sealed class KnownSubspace : IDataset, IDisposable
    {
        readonly SubspaceData data = new(64, 4, 600, noise: 0.001, seed: 21, spread: 0.2);
        public KnownSubspace()
        {
            using var labels = zeros(600, ScalarType.Int64);
            var images = data.Points.to_type(ScalarType.Float32).view(600, 1, 8, 8);
            Train = new DataSplit(images.narrow(0, 0, 500), labels.narrow(0, 0, 500).clone());
            Test = new DataSplit(images.narrow(0, 500, 100), labels.narrow(0, 500, 100).clone());
        }
        public Tensor TangentBasis => data.Basis;
        public string Name => "known-subspace";
        public ImageShape Shape => new(1, 8, 8);
        public int Classes => 2;
        public IReadOnlyList<string> ClassNames => new[] { "a", "b" };
        public DataSplit Train { get; }
        public DataSplit Test { get; }
        public void Dispose() { Train.Dispose(); Test.Dispose(); data.Dispose(); }
    }

    [Fact]
    public void Check_OnKnownSubspace_ReportsSmallAnglesForLocalPca()
    {
        using var dataset = new KnownSubspace();
        var report = TangentCheck.Run(dataset, autoencoderDir: null, count: 20, neighbours: 30, dimension: null, NullProgress.Instance);
        var pca = report.Estimators["local-pca"];
        Assert.Equal(4, report.TrueDimension);
        Assert.Equal(20, pca.Count);
        Assert.True(pca.MeanDegrees < 5 && pca.MaxDegrees < 15, $"mean {pca.MeanDegrees}, max {pca.MaxDegrees}");
    }

    [Fact]
    public void Check_OnDatasetWithoutKnownTangents_SaysSo()
    {
        using var shapes = ShapesDataset.Create(0, 20, 10);
        var error = Assert.Throws<PagLabException>(() => TangentCheck.Run(shapes, null, 5, 10, 2, NullProgress.Instance));
        Assert.Contains("no known tangent space", error.Message);
    }
}
