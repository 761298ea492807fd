using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Models;

/// <summary>(x - mean) / std per channel, as buffers: saved with the model, never trained.</summary>
public sealed class Normalize : Module<Tensor, Tensor>
{
    private readonly Tensor mean, std;

    public Normalize(float[] mean, float[] std) : base(nameof(Normalize))
    {
        this.mean = tensor(mean).reshape(1, -1, 1, 1);
        this.std = tensor(std).reshape(1, -1, 1, 1);
        register_buffer("mean", this.mean);
        register_buffer("std", this.std);
    }

    public override Tensor forward(Tensor x) => (x - mean).div_(std);
}

public static class Activations
{
    public static Module<Tensor, Tensor> Make(string spec)
    {
        var (kind, beta) = ActivationSpec.Parse(spec);
        return kind == "relu" ? ReLU() : Softplus(beta);
    }
}

public static class NormLayers
{
    /// <summary>
    /// Sets every GroupNorm's affine weight to 1 and bias to 0. TorchSharp 0.107 leaves them
    /// uninitialised (zeros or garbage, sometimes NaN), unlike PyTorch; BatchNorm is fine.
    /// </summary>
    public static void ResetGroupNorms(nn.Module root)
    {
        using var _ = no_grad();
        foreach (var (_, module) in root.named_modules())
            if (module is GroupNorm g)
            {
                g.weight?.fill_(1);
                g.bias?.zero_();
            }
    }

    /// <summary>Whether any BatchNorm layer sits in the model (its outputs then depend on the rest of the batch in
    /// training).</summary>
    public static bool HasBatchNorm(nn.Module root) =>
        root.named_modules().Any(m =>
            m.module is TorchSharp.Modules.BatchNorm1d or TorchSharp.Modules.BatchNorm2d or
            TorchSharp.Modules.BatchNorm3d);
}
