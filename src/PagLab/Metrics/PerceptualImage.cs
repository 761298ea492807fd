using static TorchSharp.torch;

namespace PagLab.Metrics;

/// <summary>
/// How a gradient or a score becomes an image LPIPS can compare (the one place this is done).
/// The PAGs authors (experiments/measure_score_alignment.py) divide each score and each input
/// gradient by its own largest absolute value, so every map lies in [-1, 1] with its extreme at
/// ±1, and pass that to LPIPS directly (LPIPS' range is [-1, 1]; no 2x - 1 shift).
/// Difference: a map that is exactly zero stays zero here (the authors' division gives NaN).
/// </summary>
public static class PerceptualImage
{
    /// <summary>(B, C, H, W) gradients or scores -> each divided by its max |value|, in [-1, 1].</summary>
    public static Tensor FromGradient(Tensor g)
    {
        using var _ = NewDisposeScope();
        var peak = g.detach().abs().flatten(1).amax(new long[] { 1 }).clamp_min(float.Epsilon); // (B)
        var shape = new long[g.dim()];
        Array.Fill(shape, 1L);
        shape[0] = -1;
        return (g / peak.reshape(shape)).MoveToOuterDisposeScope();
    }

    /// <summary>LPIPS distance between each gradient and its score, both converted by <see cref="FromGradient"/>:
    /// (B).</summary>
    public static Tensor Distance(Lpips lpips, Tensor gradients, Tensor scores)
    {
        using var _ = NewDisposeScope();
        return lpips.call(FromGradient(gradients), FromGradient(scores)).MoveToOuterDisposeScope();
    }
}
