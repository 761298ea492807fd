using PagLab.Data;
using PagLab.Models;

namespace PagLab.Manifold;

/// <summary>A tangent estimation: the estimator, the first <paramref name="Count"/> images of a split, the batch size
/// of the autoencoder's Jacobians and local PCA's neighbours and dimension.</summary>
public sealed record TangentRequest(TangentEstimator Estimator, Split Split, int Count, int BatchSize, int Neighbours,
    int Dimension);

/// <summary>
/// One `measure manifold` measurement: the model folder and tangent file (loaded from them, or given in memory and
/// named by them in the report), the dataset, and how it measures.
/// </summary>
public sealed record ManifoldRequest
{
    public required string ModelDir { get; init; }
    public required string TangentsPath { get; init; }
    public required IDataset Dataset { get; init; }
    /// <summary>L2 norms of the perturbations.</summary>
    public required double[] Epsilons { get; init; }
    /// <summary>Noise draws per image.</summary>
    public required int Draws { get; init; }
    public required OutputMeasure Measure { get; init; }
    public long Seed { get; init; }
    public required int BatchImages { get; init; }
    /// <summary>The gradient modes whose rho_1 is measured (an input gradient per draw and epsilon); null: all.
    /// </summary>
    public IReadOnlyCollection<GradientMode>? Rho1Modes { get; init; }
    /// <summary>The first N tangent spaces (more than there are is an error, never silently fewer); null: all.
    /// </summary>
    public int? Count { get; init; }
    /// <summary>Load the model channels-last (when it is loaded from ModelDir).</summary>
    public bool ChannelsLast { get; init; }
}

/// <summary>One `measure theorem1` measurement: rho_1(sigma) against rho_2 on the first Count tangent spaces (null:
/// ManifoldExperiments.Theorem1DefaultCount, or all the file holds if fewer).</summary>
public sealed record Theorem1Request
{
    public required string ModelDir { get; init; }
    public required string TangentsPath { get; init; }
    public required IDataset Dataset { get; init; }
    public required double[] Sigmas { get; init; }
    public required int Draws { get; init; }
    /// <summary>Which logit is f.</summary>
    public required GradientMode Mode { get; init; }
    public long Seed { get; init; }
    public required int BatchImages { get; init; }
    public int? Count { get; init; }
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
