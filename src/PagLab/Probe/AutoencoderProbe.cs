using PagLab.Common;
using PagLab.Manifold;
using static TorchSharp.torch;
using static PagLab.Probe.ProbeChild;

namespace PagLab.Probe;

/// <summary>The first run of an imported encoder and decoder (in the probe child): codes of real test images at
/// two batch sizes, and the decoder's Jacobian through the same batched code as the tangents, which must exist,
/// be finite and not be zero.</summary>
public static class AutoencoderProbe
{
    public static ProbeReport Run(ProbeRequest request)
    {
        string decoderPath = request.Decoder ?? throw new PagLabException("probe: an autoencoder request needs "
            + "its decoder");
        var shape = Data.Datasets.Describe(request.DataRoot).FirstOrDefault(d => d.Name == request.Dataset)?.Shape
                    ?? throw new PagLabException($"probe: unknown dataset '{request.Dataset}'");
        Announce("loading");
        using var codec = TorchScriptAutoencoder.Load(request.Archive, decoderPath, shape);
        var (images, _, note) = Images(request, shape, 8);
        Tensor z = images;
        foreach (long b in new long[] { 1, images.shape[0] })
        {
            Announce($"encoding and decoding a batch of {b} test images");
            using var noGrad = no_grad();
            z = codec.Encode(images.narrow(0, 0, b));
            codec.Decode(z);
        }
        Announce("decoder Jacobian (backward) at 2 codes");
        Tensor jacobian;
        try { jacobian = DecoderJacobian.Compute(codec.Decode, z.narrow(0, 0, Math.Min(2, z.shape[0]))); }
        catch (PagLabException e) when (e is not DataFormatException)
        {
            throw new DataFormatException(decoderPath, $"decoder Jacobian: {e.Message}");
        }
        if (!isfinite(jacobian).all().item<bool>() || jacobian.abs().max().item<float>() == 0)
            throw new DataFormatException(decoderPath, "the decoder's Jacobian is zero or not finite: no gradient "
                + "path from the code to the image");
        return new ProbeReport { Images = (int)images.shape[0], Notes = new() { $"probed on {note}" } };
    }
}
