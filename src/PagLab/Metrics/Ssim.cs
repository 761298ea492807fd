using PagLab.Common;
using static TorchSharp.torch;

namespace PagLab.Metrics;

/// <summary>
/// Mean structural similarity (Wang, Bovik, Sheikh and Simoncelli 2004, "Image Quality Assessment:
/// From Error Visibility to Structural Similarity", eq. 13 with the Gaussian window of section III-C):
/// SSIM(x, y) = (2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x² + mu_y² + C1)(sigma_x² + sigma_y² + C2)),
/// local statistics under an 11x11 Gaussian window (sigma 1.5, normalised to sum 1), C1 = (K1 L)²,
/// C2 = (K2 L)², K1 = 0.01, K2 = 0.03, L the data range. Like the authors' MATLAB code the window
/// only visits positions where it fits entirely ("valid"), and the map is averaged over positions
/// and channels. Batched: one depthwise convolution per statistic.
/// </summary>
public static class Ssim
{
    public const int WindowSize = 11;
    public const double WindowSigma = 1.5, K1 = 0.01, K2 = 0.03;

    /// <summary>x, y (B, C, H, W) with values in a range of width <paramref name="dataRange"/> -> mean SSIM per image
    /// (B), float64.</summary>
    public static Tensor Compute(Tensor x, Tensor y, double dataRange = 1.0)
    {
        if (x.dim() != 4 || !x.shape.SequenceEqual(y.shape))
            throw new PagLabException($"SSIM needs two image batches of the same shape (B, C, H, W), got "
                + $"[{string.Join(",", x.shape)}] and [{string.Join(",", y.shape)}]");
        if (x.shape[2] < WindowSize || x.shape[3] < WindowSize)
            throw new PagLabException($"SSIM needs images of at least {WindowSize}x{WindowSize} pixels, got "
                + $"{x.shape[2]}x{x.shape[3]}");
        Require.Positive(dataRange, "SSIM data range");
        using var _ = NewDisposeScope();
        long channels = x.shape[1];
        // Statistics in float64: E[x²] - mu² cancels badly in float32 when C2 is small (flat regions).
        x = x.to(float64);
        y = y.to(float64);
        var window = Window(float64, x.device).expand(channels, 1, WindowSize, WindowSize); // (C, 1, 11, 11)
        Tensor Filter(Tensor t) => nn.functional.conv2d(t, window, groups: channels);  // (B, C, H-10, W-10)
        var muX = Filter(x);
        var muY = Filter(y);
        var varX = Filter(x * x) - muX * muX;
        var varY = Filter(y * y) - muY * muY;
        var covXY = Filter(x * y) - muX * muY;
        double c1 = Math.Pow(K1 * dataRange, 2), c2 = Math.Pow(K2 * dataRange, 2);
        var map = (2 * muX * muY + c1) * (2 * covXY + c2) / ((muX * muX + muY * muY + c1) * (varX + varY + c2));
        return map.flatten(1).mean(new long[] { 1 }).MoveToOuterDisposeScope(); // (B)
    }

    /// <summary>The normalised 11x11 Gaussian window, (1, 1, 11, 11).</summary>
    public static Tensor Window(ScalarType dtype, Device? device = null)
    {
        using var _ = NewDisposeScope();
        var r = arange(WindowSize, dtype: float64) - (WindowSize - 1) / 2.0;
        var g = (-(r * r) / (2 * WindowSigma * WindowSigma)).exp();
        g /= g.sum();
        return g.outer(g).to(dtype, device ?? CPU).reshape(1, 1, WindowSize, WindowSize).MoveToOuterDisposeScope();
    }
}

/// <summary>Cosine similarity of each pair of images, flattened: a·b / (‖a‖ ‖b‖), (B). Zero for an all-zero
/// image.</summary>
public static class CosineSimilarity
{
    public static Tensor Compute(Tensor a, Tensor b)
    {
        if (!a.shape.SequenceEqual(b.shape) || a.dim() < 1)
            throw new PagLabException($"cosine similarity needs two batches of the same shape, got "
                + $"[{string.Join(",", a.shape)}] and [{string.Join(",", b.shape)}]");
        using var _ = NewDisposeScope();
        var fa = a.flatten(1);
        var fb = b.flatten(1);                                                     // (B, D)
        var dot = (fa * fb).sum(1);
        var norms = fa.norm(1) * fb.norm(1);
        return (dot / norms.clamp_min(1e-30)).MoveToOuterDisposeScope();         // (B)
    }
}
