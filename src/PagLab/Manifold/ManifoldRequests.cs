using PagLab.Data;
using PagLab.Models;

namespace PagLab.Manifold;

/// <summary>A tangent estimation: the estimator, the first <paramref name="Count"/> images of a split, the batch size
/// of the autoencoder's Jacobians and local PCA's neighbours and dimension.</summary>
public sealed record TangentRequest(TangentEstimator Estimator, Split Split, int Count, int BatchSize, int Neighbours,
    int Dimension);

/// <summary>
/// A measurement on a tangent file: of the model in <paramref name="ModelDir"/> on the tangent spaces in
/// <paramref name="TangentsPath"/> (loaded from them, or given in memory and named by them in the report) and the
/// images of <paramref name="Dataset"/> they belong to; the noise draws per image, the seed and the images per batch.
/// </summary>
public abstract record TangentMeasurementRequest(string ModelDir, string TangentsPath, IDataset Dataset)
{
    /// <summary>Noise draws per image.</summary>
    public required int Draws { get; init; }
    public long Seed { get; init; }
    public required int BatchImages { get; init; }
    /// <summary>The first N tangent spaces (more than there are is an error, never silently fewer); null: the
    /// measurement's default (all for manifold, ManifoldExperiments.Theorem1DefaultCount or fewer for theorem1).
    /// </summary>
    public int? Count { get; init; }
}

/// <summary>One `measure manifold` measurement: on- and off-manifold output change per epsilon, rho_1, rho_2.
/// </summary>
public sealed record ManifoldRequest(string ModelDir, string TangentsPath, IDataset Dataset)
    : TangentMeasurementRequest(ModelDir, TangentsPath, Dataset)
{
    /// <summary>L2 norms of the perturbations.</summary>
    public required double[] Epsilons { get; init; }
    public required OutputMeasure Measure { get; init; }
    /// <summary>The gradient modes whose rho_1 is measured (an input gradient per draw and epsilon); null: all.
    /// </summary>
    public IReadOnlyCollection<GradientMode>? Rho1Modes { get; init; }
    /// <summary>Also measure isotropic noise of the same norm (the control of off-manifold noise).</summary>
    public bool Isotropic { get; init; }
    /// <summary>Load the model channels-last (when it is loaded from ModelDir).</summary>
    public bool ChannelsLast { get; init; }
}

/// <summary>One `measure theorem1` measurement: rho_1(sigma) against rho_2 as sigma falls.</summary>
public sealed record Theorem1Request(string ModelDir, string TangentsPath, IDataset Dataset)
    : TangentMeasurementRequest(ModelDir, TangentsPath, Dataset)
{
    public required double[] Sigmas { get; init; }
    /// <summary>Which logit is f.</summary>
    public required GradientMode Mode { get; init; }
}

/// <summary>A Figure 7 of `tangents show`: the first Count images of the tangent file with an on- and an
/// off-manifold perturbation of L2 norm Epsilon each, upscaled Scale times, saved as OutPath.</summary>
public sealed record PerturbationRequest(string TangentsPath, IDataset Dataset, string OutPath)
{
    public required int Count { get; init; }
    public required double Epsilon { get; init; }
    public long Seed { get; init; }
    public required int Scale { get; init; }
}
