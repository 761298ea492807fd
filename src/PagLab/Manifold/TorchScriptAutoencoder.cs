using PagLab.Common;
using PagLab.Data;
using PagLab.IO.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Manifold;

/// <summary>
/// A traced encoder E: (B, C, H, W) -> (B, k) and decoder D: (B, k) -> (B, C, H, W) (or (B, C*H*W)), e.g. a
/// pythae VAE's encoder mean and decoder, for tangent spaces through the same exact batched Jacobians
/// (<see cref="DecoderJacobian"/>) as PagLab's own autoencoder. The archives run code: trusted sources only.
/// </summary>
public sealed class TorchScriptAutoencoder : IDisposable
{
    private readonly jit.ScriptModule<Tensor, Tensor> encoder, decoder;
    private readonly string encoderPath, decoderPath;

    TorchScriptAutoencoder(jit.ScriptModule<Tensor, Tensor> encoder, jit.ScriptModule<Tensor, Tensor> decoder,
        int latent, string encoderPath, string decoderPath)
    {
        this.encoder = encoder;
        this.decoder = decoder;
        this.encoderPath = encoderPath;
        this.decoderPath = decoderPath;
        Latent = latent;
    }

    public int Latent { get; }

    public Tensor Encode(Tensor x) =>
        ScriptCall.Call(encoder, encoderPath, $"encoding a batch of {x.shape[0]}", null, x);

    public Tensor Decode(Tensor z) =>
        ScriptCall.Call(decoder, decoderPath, $"decoding a batch of {z.shape[0]}", null, z);

    public void Dispose()
    {
        encoder.Dispose();
        decoder.Dispose();
    }

    /// <summary>Loads both archives and checks the shapes on a batch of two: E(x) is (2, k), D(E(x)) has x's size per
    /// image.</summary>
    public static TorchScriptAutoencoder Load(string encoderPath, string decoderPath, ImageShape shape)
    {
        var encoder = TorchScriptFile.LoadOneInput(encoderPath, "`encoder`");
        jit.ScriptModule<Tensor, Tensor>? decoder = null;
        try
        {
            decoder = TorchScriptFile.LoadOneInput(decoderPath, "`decoder`");
            using var _ = NewDisposeScope();
            using var noGrad = no_grad();
            long[] input = { 2, shape.Channels, shape.Height, shape.Width };
            var z = Run(encoder, zeros(input), encoderPath, input);
            if (z.dim() != 2 || z.shape[0] != 2 || z.shape[1] == 0)
                throw new DataFormatException(encoderPath,
                    $"an encoder must return codes (2, k) with k >= 1 for input {Shape(input)}, this one returns "
                    + $"{Shape(z.shape)}");
            var x = Run(decoder, z, decoderPath, z.shape);
            long d = shape.Channels * shape.Height * shape.Width;
            if (x.dim() == 0 || x.shape[0] != 2 || x.numel() != 2 * d)
                throw new DataFormatException(decoderPath,
                    $"a decoder must return images {Shape(input)} for codes {Shape(z.shape)}, this one returns "
                    + $"{Shape(x.shape)}");
            return new TorchScriptAutoencoder(encoder, decoder, (int)z.shape[1], encoderPath, decoderPath);
        }
        catch
        {
            encoder.Dispose();
            decoder?.Dispose();
            throw;
        }
    }

    static Tensor Run(jit.ScriptModule<Tensor, Tensor> module, Tensor input, string path, long[] shape)
    {
        try { return ScriptCall.Call(module, path, "forward", null, input); }
        catch (ScriptException e)
        {
            throw new DataFormatException(path, $"forward fails on input {Shape(shape)}: {e.Cause}");
        }
    }

    static string Shape(IEnumerable<long> shape) => "(" + string.Join(", ", shape) + ")";
}
