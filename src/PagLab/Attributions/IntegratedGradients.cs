using static TorchSharp.torch;

namespace PagLab.Attributions;

/// <summary>
/// Integrated Gradients (Sundararajan et al. 2017, arXiv 1703.01365, eq. 1):
/// IG(x) = (x - x') * integral_0^1 grad f(x' + a (x - x')) da, with the integral by the midpoint rule at
/// a_k = (k + 1/2) / m, k = 0..m-1 (captum's riemann_middle), all m path points of all images in one batched call.
/// Completeness: sum IG = f(x) - f(x') up to the quadrature error, which is zero when the gradient is linear along
/// the path (linear and quadratic models).
/// </summary>
public sealed class IntegratedGradients(IAttribution gradient, int steps, double baseline = 0) : IAttribution
{
    public Tensor Attribute(Tensor x, Tensor? target)
    {
        using var _ = NewDisposeScope();
        var input = x.detach();
        var start = full_like(input, baseline);                                            // x'
        var alphas = (arange(steps, dtype: float64) + 0.5).div(steps).to(x.dtype).to(x.device)
            .reshape(x.shape.Select(_ => 1L).Prepend(steps).ToArray());                     // (m, 1, 1, 1, 1)
        var path = (start + alphas * (input - start)).flatten(0, 1);                       // (m*B, C, H, W)
        var grads = gradient.Attribute(path, target?.repeat(steps));                       // (m*B, C, H, W)
        var meanGradient = grads.reshape(x.shape.Prepend(steps).ToArray()).mean(new long[] { 0 });
        return ((input - start) * meanGradient).MoveToOuterDisposeScope();                 // (B, C, H, W)
    }
}
