using PagLab.Data;
using static TorchSharp.torch;

namespace PagLab.Score;

/// <summary>
/// A diagonal Gaussian fit to training images (per-pixel mean and variance; per class when conditional) and its
/// posterior mean under Gaussian noise, D(y) = mu + v / (v + sigma^2) (y - mu): the best denoiser that knows only
/// those moments. A trained denoiser that does not beat it has learned nothing a score could add.
/// </summary>
public sealed class GaussianPrior : IDisposable
{
    readonly Tensor mean, variance;   // (K, C, H, W): K = 1, or one row per class
    readonly bool conditional;

    GaussianPrior(Tensor mean, Tensor variance, bool conditional)
    {
        this.mean = mean; this.variance = variance; this.conditional = conditional;
    }

    public const int MaxImages = 20_000;   // enough for per-pixel moments; bounds the cost on large datasets

    public static GaussianPrior Fit(DataSplit train, bool conditional)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var split = train.Take(Math.Min(train.Count, MaxImages));
        var x = split.Images.to_type(ScalarType.Float64);
        if (!conditional)
            return new GaussianPrior(x.mean(new long[] { 0 }, keepdim: true).MoveToOuterDisposeScope(),
                x.var(0, unbiased: false, keepdim: true).MoveToOuterDisposeScope(), false);
        long classes = split.Labels.max().item<long>() + 1;
        // Per-class moments in one pass: one-hot (N, K) against the flattened images.
        var onehot = nn.functional.one_hot(split.Labels, classes).to_type(ScalarType.Float64);
        var counts = onehot.sum(new long[] { 0 }).clamp_min(1).unsqueeze(1);
        var flat = x.flatten(1);
        var m = onehot.t().matmul(flat) / counts;
        var v = (onehot.t().matmul(flat * flat) / counts - m * m).clamp_min(0);
        long[] shape = new[] { classes }.Concat(x.shape.Skip(1)).ToArray();
        return new GaussianPrior(m.reshape(shape).MoveToOuterDisposeScope(), v.reshape(shape).MoveToOuterDisposeScope(),
            true);
    }

    /// <summary>E[x | y = x + sigma n] under the fit, for noisy images y (B, C, H, W) and, when conditional, labels.
    /// </summary>
    public Tensor PosteriorMean(Tensor noisy, double sigma, Tensor? labels)
    {
        var (m, v) = conditional && labels is not null
            ? (mean.index_select(0, labels), variance.index_select(0, labels))
            : (mean, variance);
        var y = noisy.to_type(ScalarType.Float64);
        return (m + v / (v + sigma * sigma) * (y - m)).to_type(noisy.dtype);
    }

    public void Dispose() { mean.Dispose(); variance.Dispose(); }
}
