using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Models;

/// <summary>
/// Channels-last (NHWC) memory: the same (B, C, H, W) indexing with the channel fastest in memory, what PyTorch's
/// memory_format=torch.channels_last makes. TorchSharp 0.107 has no memory-format argument, but libtorch reads the
/// layout off the strides: oneDNN runs its NHWC convolution kernels for channels-last weights and inputs, and
/// element-wise ops, batch norm and pooling keep the layout. Values never change, only where they sit in memory;
/// gradients with respect to a channels-last input come back with NHWC strides, so whoever hands an input
/// gradient to a user makes it contiguous first.
/// </summary>
public static class MemoryFormat
{
    /// <summary>t (B, C, H, W) copied into NHWC memory; differentiable, twice.</summary>
    public static Tensor ChannelsLast(Tensor t) => t.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);

    /// <summary>Whether a 4-d tensor sits in NHWC memory (dimensions of size 1 have no say).</summary>
    public static bool IsChannelsLast(Tensor t)
    {
        if (t.dim() != 4) return false;
        long[] shape = t.shape, stride = t.stride();
        long expected = 1;
        foreach (int d in new[] { 1, 3, 2, 0 })
        {
            if (shape[d] != 1 && stride[d] != expected) return false;
            expected *= shape[d];
        }
        return true;
    }

    /// <summary>
    /// Moves every Conv2d weight under root into NHWC memory in place (set_), so the parameter objects stay the
    /// ones an optimiser or another module may already hold. Returns whether there was any convolution.
    /// </summary>
    public static bool ConvertConvolutions(nn.Module root)
    {
        bool any = false;
        using var _ = no_grad();
        foreach (var (_, module) in root.named_modules())
            if (module is TorchSharp.Modules.Conv2d { weight: { } weight })
            {
                using var nhwc = empty_strided(weight.shape, ChannelsLastStrides(weight.shape), weight.dtype,
                    weight.device);
                nhwc.copy_(weight);
                weight.set_(nhwc);
                any = true;
            }
        return any;
    }

    /// <summary>The strides of a (B, C, H, W) tensor in NHWC memory.</summary>
    public static long[] ChannelsLastStrides(long[] shape) =>
        new[] { shape[1] * shape[2] * shape[3], 1, shape[3] * shape[1], shape[1] };
}
