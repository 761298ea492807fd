using static TorchSharp.torch;

namespace PagLab.Attributions;

/// <summary>
/// SmoothGrad (Smilkov et al. 2017, arXiv 1706.03825) as captum's NoiseTunnel: the mean of an attribution over n
/// copies of each image with Gaussian noise N(0, sigma^2 I) added, all copies in one batched call. Over the input
/// gradient it estimates the gradient of the Gaussian-smoothed model E[f(x + sigma eps)], the model randomized
/// smoothing certifies (PAGs, Section 3.3). The noise comes from its own generator (seeded), so runs repeat.
/// </summary>
public sealed class NoiseTunnel(IAttribution inner, int draws, double sigma, long seed = 0) : IAttribution
{
    public Tensor Attribute(Tensor x, Tensor? target)
    {
        using var _ = NewDisposeScope();
        using var generator = new Generator((ulong)seed);
        var copies = x.detach().repeat(x.shape.Select((_, i) => i == 0 ? (long)draws : 1).ToArray()); // (n*B, ...)
        var noisy = copies + randn(copies.shape, dtype: x.dtype, generator: generator).to(x.device) * sigma;
        var maps = inner.Attribute(noisy, target?.repeat(draws));                          // (n*B, C, H, W)
        return maps.reshape(x.shape.Prepend(draws).ToArray()).mean(new long[] { 0 })     // (n, B, ...) -> (B, ...)
            .MoveToOuterDisposeScope();
    }
}
