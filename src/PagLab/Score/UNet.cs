using PagLab.Common;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Score;

/// <summary>Architecture, shape and conditioning of a denoiser network, stored in denoiser.json.</summary>
public sealed record UNetSpec
{
    public required int Channels { get; init; }
    public required int Height { get; init; }
    public required int Width { get; init; }
    public int Classes { get; init; } = 0;          // > 0: class-conditional
    public int BaseChannels { get; init; } = 32;    // unet: channels of the first stage
    public int EmbeddingDim { get; init; } = 128;
    public DenoiserArch Arch { get; init; } = DenoiserArch.UNet;  // files from before the key are U-Nets
    public int HiddenWidth { get; init; } = 512;    // mlp: width of the hidden layers
    public bool Conditional => Classes > 0;
}

/// <summary>The network F(x_in, c_noise, labels) in <see cref="EdmPreconditioner"/>; output shaped as x_in.</summary>
public abstract class DenoiserNetwork : Module<Tensor, Tensor, Tensor, Tensor>
{
    protected DenoiserNetwork(string name, UNetSpec spec) : base(name) => Spec = spec;

    public UNetSpec Spec { get; }

    /// <summary>
    /// The conditioning vector (B, E): sinusoidal features of c_noise (Vaswani et al. 2017) through a two-layer
    /// MLP, plus the class embedding when there is one, then SiLU.
    /// </summary>
    protected static Tensor Condition(Linear first, Linear second, Embedding? classes, Tensor cNoise, Tensor labels,
        int frequencies, ScalarType dtype)
    {
        var steps = arange(frequencies, dtype: dtype, device: cNoise.device);
        var freqs = exp(steps * (-Math.Log(1000) / frequencies));
        var angles = cNoise.to_type(dtype).reshape(-1, 1) * freqs.reshape(1, -1) * 100;
        var emb = second.call(functional.silu(first.call(cat(new[] { angles.sin(), angles.cos() }, 1))));
        if (classes is not null) emb = emb + classes.call(labels);
        return functional.silu(emb);
    }
}

/// <summary>The denoiser networks, by the name denoiser files, specs (denoiserArch) and `--arch` spell.</summary>
public enum DenoiserArch
{
    [Name("unet", "small U-Net for images")] UNet,
    [Name("mlp", "MLP for vector-like data (e.g. subspace-gaussians)")] Mlp,
}

public static class DenoiserNetworks
{
    public static DenoiserNetwork Create(UNetSpec spec) => spec.Arch switch
    {
        DenoiserArch.UNet => new UNet(spec),
        DenoiserArch.Mlp => new MlpDenoiser(spec),
        _ => throw new ArgumentOutOfRangeException(nameof(spec), spec.Arch, "denoiser architecture"),
    };
}

/// <summary>
/// A small U-Net for EDM denoising on CPU: two resolutions below the input (H/2, H/4; fits 28x28,
/// 56x28, 32x32, 64x64), residual blocks with GroupNorm + SiLU, the noise level (and the class)
/// added to every block through an embedding. F(x_in, c_noise, labels) -> same shape as x_in.
/// </summary>
public sealed class UNet : DenoiserNetwork
{
    private readonly Conv2d stem, head;
    private readonly ResBlock enc1, enc2, enc3, mid, dec2, dec1;
    private readonly Conv2d down1, down2;
    private readonly Conv2d up2, up1;
    private readonly GroupNorm headNorm;
    private readonly Linear embed1, embed2;
    private readonly Embedding? classEmbedding;
    private readonly int frequencies;

    public UNet(UNetSpec spec) : base(nameof(UNet), spec)
    {
        int c = spec.BaseChannels, e = spec.EmbeddingDim;
        frequencies = 16;
        embed1 = Linear(2 * frequencies, e);
        embed2 = Linear(e, e);
        if (spec.Conditional) classEmbedding = Embedding(spec.Classes, e);
        stem = Conv2d(spec.Channels, c, 3, padding: 1);
        enc1 = new ResBlock(c, c, e);
        down1 = Conv2d(c, 2 * c, 3, stride: 2, padding: 1);
        enc2 = new ResBlock(2 * c, 2 * c, e);
        down2 = Conv2d(2 * c, 2 * c, 3, stride: 2, padding: 1);
        enc3 = new ResBlock(2 * c, 2 * c, e);
        mid = new ResBlock(2 * c, 2 * c, e);
        up2 = Conv2d(2 * c, 2 * c, 3, padding: 1);
        dec2 = new ResBlock(4 * c, 2 * c, e);
        up1 = Conv2d(2 * c, c, 3, padding: 1);
        dec1 = new ResBlock(2 * c, c, e);
        headNorm = GroupNorm(8, c);
        head = Conv2d(c, spec.Channels, 3, padding: 1);
        RegisterComponents();
        Models.NormLayers.ResetGroupNorms(this);
    }

    public override Tensor forward(Tensor x, Tensor cNoise, Tensor labels)
    {
        using var _ = NewDisposeScope();
        var emb = Condition(embed1, embed2, classEmbedding, cNoise, labels, frequencies, x.dtype);   // (B, E)

        var h0 = enc1.call(stem.call(x), emb);                       // (B, c, H, W)
        var h1 = enc2.call(down1.call(h0), emb);                     // (B, 2c, H/2, W/2)
        var h2 = mid.call(enc3.call(down2.call(h1), emb), emb);      // (B, 2c, H/4, W/4)
        var u1 = up2.call(functional.interpolate(h2, size: new[] { h1.shape[2], h1.shape[3] },
            mode: InterpolationMode.Nearest));
        var d1 = dec2.call(cat(new[] { u1, h1 }, 1), emb);           // (B, 2c, H/2, W/2)
        var u0 = up1.call(functional.interpolate(d1, size: new[] { h0.shape[2], h0.shape[3] },
            mode: InterpolationMode.Nearest));
        var d0 = dec1.call(cat(new[] { u0, h0 }, 1), emb);           // (B, c, H, W)
        return head.call(functional.silu(headNorm.call(d0))).MoveToOuterDisposeScope();
    }
}

/// <summary>GroupNorm-SiLU-conv twice, the embedding added in between, residual connection.</summary>
public sealed class ResBlock : Module<Tensor, Tensor, Tensor>
{
    private readonly GroupNorm norm1, norm2;
    private readonly Conv2d conv1, conv2;
    private readonly Conv2d? skip;
    private readonly Linear embedding;

    public ResBlock(int inChannels, int outChannels, int embeddingDim) : base(nameof(ResBlock))
    {
        norm1 = GroupNorm(8, inChannels);
        conv1 = Conv2d(inChannels, outChannels, 3, padding: 1);
        embedding = Linear(embeddingDim, outChannels);
        norm2 = GroupNorm(8, outChannels);
        conv2 = Conv2d(outChannels, outChannels, 3, padding: 1);
        if (inChannels != outChannels) skip = Conv2d(inChannels, outChannels, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor emb)
    {
        using var _ = NewDisposeScope();
        var h = conv1.call(functional.silu(norm1.call(x)));
        h = h + embedding.call(emb).unsqueeze(-1).unsqueeze(-1);
        h = conv2.call(functional.silu(norm2.call(h)));
        return (h + (skip is null ? x : skip.call(x))).MoveToOuterDisposeScope();
    }
}
