using PagLab.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Manifold;

/// <summary>
/// Exact per-sample Jacobians J_b = dD/dz (d x k) of a decoder D: R^k -> R^d for a whole batch, in
/// two batched reverse passes (the "double vector-Jacobian product" trick) instead of one backward
/// pass per output pixel as in the authors' notebook (pags, notebooks/CIFAR10-EstimateTangentSpace).
///
/// Each code z_b is repeated k times (z_rep, (B*k, k)); with a dummy cotangent v (B*k, d),
/// g = J^T v is linear in v, and differentiating g.e_i with respect to v gives J e_i, the i-th
/// column of J, for every copy at once.
/// </summary>
public static class DecoderJacobian
{
    /// <param name="decode">z (n, k) -> D(z) (n, ...) — flattened to (n, d) here.</param>
    /// <param name="z">codes (B, k)</param>
    /// <returns>J (B, d, k), in z's dtype.</returns>
    public static Tensor Compute(Func<Tensor, Tensor> decode, Tensor z)
    {
        using var _ = NewDisposeScope();
        using var grad = enable_grad();
        long b = z.shape[0], k = z.shape[1];
        var zRep = z.detach().repeat_interleave(k, dim: 0).requires_grad_(true);   // (B*k, k): copy i of sample b
        var output = decode(zRep).reshape(b * k, -1);                                 // (B*k, d)
        var v = zeros_like(output).requires_grad_(true);                               // (B*k, d), any value works
        // (B*k, k) = J^T v
        var g = GuardedAutograd.Grad(new[] { output }, new[] { zRep }, new[] { v }, createGraph: true,
            retainGraph: true)[0];
        var basis = eye(k, dtype: z.dtype, device: z.device).repeat(b, 1);             // (B*k, k): copy i gets e_i
        // (B*k, d): row (b, i) = J_b e_i
        var columns = GuardedAutograd.Grad(new[] { g }, new[] { v }, new[] { basis })[0];
        return columns.detach().view(b, k, -1).transpose(1, 2).contiguous().MoveToOuterDisposeScope(); // (B, d, k)
    }
}
