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
