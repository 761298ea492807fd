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
    /// <summary>The true tangent basis (d, k), orthonormal, of a dataset that knows it (a new tensor: dispose
    /// it).</summary>
    public static Tensor TrueBasis(IDataset dataset) => dataset switch
    {
        SubspaceGaussians synthetic => synthetic.TangentBasis,
        _ => throw new PagLabException($"dataset '{dataset.Name}' has no known tangent space (use subspace-gaussians)"),
    };

    /// <summary>The true tangent spaces of the first count images of a split (the same basis for every
    /// image).</summary>
    public static TangentSpaces TrueSpaces(IDataset dataset, Split split, int count)
    {
        using var _ = NewDisposeScope();
        var basis = TrueBasis(dataset).to_type(ScalarType.Float32);                    // (d, k)
        long n = Math.Min(count, dataset.Part(split).Count);
        var bases = basis.unsqueeze(0).expand(n, -1, -1).contiguous();
        var values = ones(n, basis.shape[1]);
        var spaces = new TangentSpaces(arange(n, dtype: ScalarType.Int64), bases, values, new Dictionary<string, string>
        {
            ["estimator"] = Vocabulary.Name(TangentEstimator.True), ["split"] = Vocabulary.Name(split),
            ["dataset"] = dataset.Name, ["latent"] = basis.shape[1].ToString(),
        });
        spaces.Indices.MoveToOuterDisposeScope(); bases.MoveToOuterDisposeScope(); values.MoveToOuterDisposeScope();
        return spaces;
    }

    public static TangentCheckReport Run(IDataset dataset, string? autoencoderDir, int count, int neighbours,
        int? dimension, IProgressSink progress)
    {
        using var truth = TrueBasis(dataset);
        int k = dimension ?? (int)truth.shape[1];
        var estimators = new Dictionary<string, AngleSummary>();
        using (var pca = ManifoldExperiments.EstimateWithLocalPca(dataset, Split.Test, count, neighbours, k))
        using (var angles = PrincipalAngles.Between(pca.Bases, truth))
            estimators[Vocabulary.Name(TangentEstimator.LocalPca)] = PrincipalAngles.Summarise(angles);
        if (autoencoderDir is not null)
        {
            using var ae = ManifoldExperiments.EstimateWithAutoencoder(autoencoderDir, dataset, Split.Test, count, 32,
                progress);
            using var angles = PrincipalAngles.Between(ae.Bases, truth);
            estimators[Vocabulary.Name(TangentEstimator.Autoencoder)] = PrincipalAngles.Summarise(angles);
        }
        return new TangentCheckReport { Dataset = dataset.Name, Images = (int)Math.Min(count, dataset.Test.Count),
            TrueDimension = (int)truth.shape[1], Estimators = estimators };
    }
}
