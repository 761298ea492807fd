using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Manifold;

/// <summary>Summary of principal angles between estimated and true subspaces, in degrees.</summary>
public sealed record AngleSummary(double MeanDegrees, double MaxDegrees, double MeanLargestDegrees, long Count);

/// <summary>
/// Principal angles between subspaces spanned by orthonormal bases (Björck and Golub 1973):
/// the cosines are the singular values of Q_a^T Q_b.
/// </summary>
public static class PrincipalAngles
{
    /// <param name="a">(N, d, r) orthonormal</param>
    /// <param name="b">(N, d, s) or (d, s) orthonormal (the same true space for every row)</param>
    /// <returns>(N, min(r, s)) angles in radians, ascending</returns>
    public static Tensor Between(Tensor a, Tensor b)
    {
        using var _ = NewDisposeScope();
        var qa = a.to_type(ScalarType.Float64);
        var qb = b.to_type(ScalarType.Float64);
        if (qb.dim() == 2) qb = qb.unsqueeze(0).expand(qa.shape[0], -1, -1);
        var cosines = linalg.svdvals(qa.transpose(1, 2).bmm(qb)).clamp(0, 1);   // (N, min(r, s)) descending
        return cosines.acos().MoveToOuterDisposeScope();
    }

    public static AngleSummary Summarise(Tensor anglesRadians)
    {
        using var _ = NewDisposeScope();
        var degrees = anglesRadians.to_type(ScalarType.Float64) * (180.0 / Math.PI);
        return new AngleSummary(
            degrees.mean().item<double>(),
            degrees.max().item<double>(),
            degrees.max(1).values.mean().item<double>(),
            anglesRadians.shape[0]);
    }
}
