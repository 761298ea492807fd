using PagLab.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Manifold;

/// <summary>
/// The authors' reference method (pags, notebooks/CIFAR10-EstimateTangentSpace.ipynb): one backward
/// pass per output pixel, one image at a time. Kept as the reference that tests check the batched
/// <see cref="DecoderJacobian"/> against and that the benchmark times it against; never used in a hot path.
/// </summary>
public static class PerPixelJacobian
{
    public static Tensor Compute(Func<Tensor, Tensor> decode, Tensor z)
    {
        using var _ = NewDisposeScope();
        using var grad = enable_grad();
        var perImage = new List<Tensor>();
        for (long b = 0; b < z.shape[0]; b++)
        {
            var zb = z.narrow(0, b, 1).detach().clone().requires_grad_(true);
            var output = decode(zb).flatten();                       // (d)
            var rows = new List<Tensor>();
            for (long i = 0; i < output.shape[0]; i++)
                // row i of J: (k)
                rows.Add(GuardedAutograd.Grad(new[] { output[i] }, new[] { zb }, retainGraph: true)[0].flatten());
            perImage.Add(stack(rows, 0));                            // (d, k)
        }
        return stack(perImage, 0).MoveToOuterDisposeScope();         // (B, d, k)
    }
}
