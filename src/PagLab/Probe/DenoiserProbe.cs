using PagLab.Common;
using PagLab.Score;
using static TorchSharp.torch;
using static PagLab.Probe.ProbeChild;

namespace PagLab.Probe;

/// <summary>The first run of an imported denoiser (in the probe child): D(x, sigma) of real test images at two
/// batch sizes and two noise levels, each a finite floating-point tensor of the input's shape.</summary>
public static class DenoiserProbe
{
    static readonly int[] BatchSizes = { 1, 8 };
    static readonly double[] Sigmas = { 0.1, 1.0 };

    public static ProbeReport Run(ProbeRequest request)
    {
        var spec = request.Denoiser ?? throw new PagLabException("probe: a denoiser request needs its spec");
        Announce("loading");
        using var denoiser = TorchScriptDenoiser.Load(request.Archive, spec);
        var (images, labels, note) = Images(request, spec.Shape, BatchSizes.Max());
        foreach (int b in BatchSizes)
            foreach (double sigma in Sigmas)
            {
                using var _ = NewDisposeScope();
                Announce($"denoising a batch of {b} test images at sigma {sigma}");
                var x = images.narrow(0, 0, Math.Min(b, images.shape[0]));
                var y = labels?.narrow(0, 0, x.shape[0]) ?? zeros(x.shape[0], dtype: ScalarType.Int64);
                var score = ScoreFunction.Compute(denoiser, x, sigma, y);
                if (!score.shape.SequenceEqual(x.shape) || !isfinite(score).all().item<bool>())
                    throw new DataFormatException(request.Archive, $"the score at sigma {sigma} of a batch of "
                        + $"{x.shape[0]} is not a finite tensor of the images' shape");
            }
        return new ProbeReport { Images = (int)images.shape[0], Notes = new() { $"probed on {note}" } };
    }
}
