using PagLab.Common;
using PagLab.Data;
using PagLab.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Manifold;

/// <summary>Principal angles of each estimator against the true tangent spaces.</summary>
public sealed record TangentCheckReport
{
    public required string Dataset { get; init; }
    public int Images { get; init; }
    public int TrueDimension { get; init; }
    public required Dictionary<string, AngleSummary> Estimators { get; init; }
}

/// <summary>`paglab tangents check`: estimated vs true tangent spaces on data whose manifold is known.</summary>
public static class TangentCheck
{
    /// <summary>
    /// The true tangent basis (d, k) of a dataset that knows it (a linear-subspace dataset exposes it as
    /// a public Tensor property TangentBasis, e.g. PagLab.Data.SubspaceGaussians).
    /// </summary>
    public static Tensor TrueBasis(IDataset dataset)
    {
        var property = dataset.GetType().GetProperty("TangentBasis");
        if (property?.GetValue(dataset) is Tensor basis && basis.dim() == 2 && basis.shape[0] == dataset.Shape.Pixels)
            return basis;
        throw new PagLabException($"dataset '{dataset.Name}' has no known tangent space (use subspace-gaussians)");
    }

    public static TangentCheckReport Run(IDataset dataset, string? autoencoderDir, int count, int neighbours, int? dimension, IProgressSink progress)
    {
        var truth = TrueBasis(dataset);
        int k = dimension ?? (int)truth.shape[1];
        var estimators = new Dictionary<string, AngleSummary>();
        using (var pca = ManifoldExperiments.EstimateWithLocalPca(dataset, "test", count, neighbours, k))
        using (var angles = PrincipalAngles.Between(pca.Bases, truth))
            estimators["local-pca"] = PrincipalAngles.Summarise(angles);
        if (autoencoderDir is not null)
        {
            using var ae = ManifoldExperiments.EstimateWithAutoencoder(autoencoderDir, dataset, "test", count, 32, progress);
            using var angles = PrincipalAngles.Between(ae.Bases, truth);
            estimators["autoencoder"] = PrincipalAngles.Summarise(angles);
        }
        return new TangentCheckReport { Dataset = dataset.Name, Images = (int)Math.Min(count, dataset.Test.Count), TrueDimension = (int)truth.shape[1], Estimators = estimators };
    }
}
