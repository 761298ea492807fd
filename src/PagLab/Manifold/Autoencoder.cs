using PagLab.Common;
using PagLab.Data;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Manifold;

/// <summary>The autoencoders PagLab trains for tangent spaces, by the name files, specs and `--kind` spell.</summary>
public enum AutoencoderKind
{
    [Name("ae", "plain autoencoder, squared reconstruction error")] Ae,
    [Name("vae", "variational autoencoder (Kingma and Welling 2014): the error plus a KL term")] Vae,
}

/// <summary>Everything needed to rebuild an autoencoder.</summary>
public sealed record AutoencoderSpec
{
    public required AutoencoderKind Kind { get; init; }
    public required int Latent { get; init; }         // k: the dimension of the estimated tangent spaces
    public required int Channels { get; init; }
    public required int Height { get; init; }
    public required int Width { get; init; }
    public int BaseChannels { get; init; } = 32;      // channels after the first stride-2 convolution
    public string? Dataset { get; init; }

    public ImageShape Shape => new(Channels, Height, Width);

    /// <summary>k = 16 for 28-pixel data; k = 128 for CIFAR-size and larger (PAGs, Suppl. B.6).</summary>
    public static int DefaultLatent(ImageShape shape) => Math.Min(shape.Height, shape.Width) >= 32 ? 128 : 16;

    /// <summary>Two stride-2 stages (28x28 -> 7x7, 56x28 -> 14x7, 32x32 -> 8x8), three from 64 pixels (64x64 ->
    /// 8x8).</summary>
    public int Downsamplings => Math.Min(Height, Width) >= 64 ? 3 : 2;

    public void Validate()
    {
        Require.That(Enum.IsDefined(Kind), $"unknown autoencoder kind {(int)Kind}");
        Require.That(Latent >= 1, $"latent dimension must be >= 1, got {Latent}");
        Require.That(Channels > 0 && BaseChannels > 0, "bad channel count");
        int f = 1 << Downsamplings;
        Require.That(Height % f == 0 && Width % f == 0 && Height >= f && Width >= f,
            $"autoencoder input {Channels}x{Height}x{Width}: height and width must be multiples of {f}");
        Require.That((long)Latent < (long)Channels * Height * Width,
            $"latent dimension {Latent} must be below the input dimension");
    }
}

/// <summary>
/// Convolutional autoencoder: stride-2 convolutions down to (c, H/f, W/f), a linear map to the
/// k-dimensional code, and the mirror image up (transposed convolutions, sigmoid output in [0,1]).
/// SiLU activations keep the decoder smooth, so its Jacobian dD/dz is defined everywhere.
/// Kind vae: the encoder gives (mu, log variance) and training adds the KL term; Encode returns mu.
/// </summary>
public sealed class ConvAutoencoder : Module<Tensor, Tensor>
{
    private readonly Module<Tensor, Tensor> encoder;
    private readonly Module<Tensor, Tensor> toCode;
    private readonly Module<Tensor, Tensor> fromCode;
    private readonly Module<Tensor, Tensor> decoder;
    private readonly long[] bottleneck;

    public ConvAutoencoder(AutoencoderSpec spec) : base(nameof(ConvAutoencoder))
    {
        spec.Validate();
        Spec = spec;
        int n = spec.Downsamplings, c = spec.BaseChannels;
        var down = new List<(string, Module<Tensor, Tensor>)>();
        int inC = spec.Channels;
        for (int i = 0; i < n; i++)
        {
            int outC = c << i;
            down.Add(($"conv{i}", Conv2d(inC, outC, 4, stride: 2, padding: 1)));
            down.Add(($"act{i}", SiLU()));
            inC = outC;
        }
        bottleneck = new long[] { inC, spec.Height >> n, spec.Width >> n };
        long flat = bottleneck[0] * bottleneck[1] * bottleneck[2];
        encoder = Sequential(down);
        toCode = Linear(flat, spec.Kind == AutoencoderKind.Vae ? 2 * spec.Latent : spec.Latent);
        fromCode = Sequential(("linear", Linear(spec.Latent, flat)), ("act", SiLU()));
        var up = new List<(string, Module<Tensor, Tensor>)>();
        for (int i = n - 1; i >= 0; i--)
        {
            int outC = i == 0 ? spec.Channels : c << (i - 1);
            up.Add(($"deconv{i}", ConvTranspose2d(inC, outC, 4, stride: 2, padding: 1)));
            up.Add(i == 0 ? ($"out", Sigmoid()) : ($"act{i}", SiLU()));
            inC = outC;
        }
        decoder = Sequential(up);
        RegisterComponents();
    }

    public AutoencoderSpec Spec { get; }

    /// <summary>(B, C, H, W) -> code mean (B, k) and, for a vae, log variance (B, k).</summary>
    public (Tensor Mean, Tensor? LogVar) EncodeDistribution(Tensor x)
    {
        using var _ = NewDisposeScope();
        var h = toCode.call(encoder.call(x).flatten(1));
        if (Spec.Kind != AutoencoderKind.Vae) return (h.MoveToOuterDisposeScope(), null);
        var parts = h.chunk(2, 1);
        return (parts[0].MoveToOuterDisposeScope(), parts[1].MoveToOuterDisposeScope());
    }

    /// <summary>E(x): (B, C, H, W) -> (B, k); the mean code for a vae.</summary>
    public Tensor Encode(Tensor x)
    {
        var (mean, logVar) = EncodeDistribution(x);
        logVar?.Dispose();
        return mean;
    }

    /// <summary>D(z): (B, k) -> (B, C, H, W) in [0,1].</summary>
    public Tensor Decode(Tensor z)
    {
        using var _ = NewDisposeScope();
        var h = fromCode.call(z).view(z.shape[0], bottleneck[0], bottleneck[1], bottleneck[2]);
        return decoder.call(h).MoveToOuterDisposeScope();
    }

    /// <summary>D(E(x)).</summary>
    public override Tensor forward(Tensor x)
    {
        using var _ = NewDisposeScope();
        return Decode(Encode(x)).MoveToOuterDisposeScope();
    }
}
