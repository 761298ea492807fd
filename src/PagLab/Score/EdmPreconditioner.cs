using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Score;

/// <summary>
/// A denoiser D(x, sigma) on pixels in [0,1] with sigma in pixel units: the interface the score,
/// the alignment measurement and the tests use. Any function works, e.g. the exact posterior mean.
/// </summary>
public interface IDenoiser : IDisposable
{
    /// <summary>x (B, C, H, W), sigma > 0, labels (B) int64 or null -> E[x0 | x] estimate (B, C, H, W).</summary>
    Tensor Denoise(Tensor x, double sigma, Tensor? labels = null);
    bool Conditional { get; }
}

/// <summary>
/// EDM preconditioning (Karras et al. 2022, "Elucidating the Design Space...", Table 1), kept apart
/// from the network F: D(y, s) = c_skip(s) y + c_out(s) F(c_in(s) y, c_noise(s)), with
/// c_skip = sd^2 / (s^2 + sd^2), c_out = s sd / sqrt(s^2 + sd^2), c_in = 1 / sqrt(s^2 + sd^2),
/// c_noise = ln(s) / 4 and sd = sigma_data = 0.5.
/// EDM works on images in [-1,1] (y = 2x - 1), as the PAGs authors' edm_score does; PagLab's pixel
/// space is [0,1], so D_x(x, sigma) = (D_y(2x - 1, 2 sigma) + 1) / 2 — one pixel-space sigma is two
/// EDM sigmas (the paper's sigma = 0.5 on CIFAR-10 is our 0.25).
/// </summary>
public sealed class EdmPreconditioner : IDenoiser
{
    public const double SigmaData = 0.5; // EDM, Table 1

    public EdmPreconditioner(DenoiserNetwork network) => Network = network;

    public void Dispose() => Network.Dispose();

    public DenoiserNetwork Network { get; }
    public bool Conditional => Network.Spec.Conditional;

    /// <summary>EDM, Table 1: c_skip, c_out, c_in and c_noise of EDM sigmas s, elementwise (any shape).</summary>
    public static (Tensor CSkip, Tensor COut, Tensor CIn, Tensor CNoise) Coefficients(Tensor s)
    {
        double sd2 = SigmaData * SigmaData;
        var s2 = s.pow(2);
        return (sd2 / (s2 + sd2), s * SigmaData / (s2 + sd2).sqrt(), 1 / (s2 + sd2).sqrt(), s.log() / 4);
    }

    /// <summary>D_y(y, s) for per-example EDM sigmas s (B) on y in [-1,1].</summary>
    public Tensor DenoiseEdm(Tensor y, Tensor s, Tensor? labels)
    {
        using var _ = NewDisposeScope();
        var (cSkip, cOut, cIn, cNoise) = Coefficients(s.reshape(-1, 1, 1, 1));   // each (B, 1, 1, 1)
        if (Conditional && labels is null)
            throw new Common.PagLabException("this denoiser is class-conditional and gives no unconditional score: "
                + "`mode` sum needs a denoiser trained without `conditional` (or use `mode` predicted or label)");
        var l = labels ?? zeros(y.shape[0], dtype: ScalarType.Int64, device: y.device);
        var f = Network.call(cIn * y, cNoise.reshape(-1), l);
        return (cSkip * y + cOut * f).MoveToOuterDisposeScope();
    }

    public Tensor Denoise(Tensor x, double sigma, Tensor? labels = null)
    {
        using var _ = NewDisposeScope();
        var s = full(x.shape[0], 2 * sigma, dtype: x.dtype, device: x.device);
        return ((DenoiseEdm(x * 2 - 1, s, labels) + 1) / 2).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// EDM training loss (Karras et al. 2022, Table 1 and training/loss.py): ln s ~ N(P_mean, P_std^2),
/// weight lambda(s) = (s^2 + sd^2) / (s sd)^2, loss = lambda(s) ||D(y + s n, s) - y||^2 per pixel.
/// </summary>
public static class EdmLoss
{
    public const double PMean = -1.2, PStd = 1.2;

    /// <summary>lambda(s) = (s^2 + sd^2) / (s sd)^2 of EDM sigmas s, elementwise.</summary>
    public static Tensor Weight(Tensor s) => (s.pow(2) + EdmPreconditioner.SigmaData * EdmPreconditioner.SigmaData)
        / (s * EdmPreconditioner.SigmaData).pow(2);

    /// <summary>Per-example weighted losses (B) and the EDM sigmas drawn (B), for images x in [0,1].</summary>
    public static (Tensor Loss, Tensor Sigma) PerExample(EdmPreconditioner denoiser, Tensor x, Tensor? labels,
        Generator generator)
    {
        using var _ = NewDisposeScope();
        var y = x * 2 - 1;
        var z = randn(new long[] { x.shape[0] }, dtype: x.dtype, generator: generator);
        var s = (z * PStd + PMean).exp().to(x.device);
        var n = randn(y.shape, dtype: y.dtype, generator: generator).to(x.device) * s.reshape(-1, 1, 1, 1);
        var d = denoiser.DenoiseEdm(y + n, s, labels);
        var loss = Weight(s) * (d - y).pow(2).flatten(1).mean(new long[] { 1 });
        return (loss.MoveToOuterDisposeScope(), s.MoveToOuterDisposeScope());
    }
}

/// <summary>The score s(x, sigma) = (D(x, sigma) - x) / sigma^2 (Tweedie), computed only here.</summary>
public static class ScoreFunction
{
    /// <summary>Noise levels in [0,1]-pixel units: below MinSigma D(x) - x is lost in float32 rounding (and
    /// sigma^2 underflows), above MaxSigma the noise drowns every image.</summary>
    public const double MinSigma = 1e-4, MaxSigma = 1e3;

    public static void RequireSigma(double sigma) => Common.Require.That(sigma >= MinSigma && sigma <= MaxSigma,
        $"sigma must be in [{MinSigma:G}, {MaxSigma:G}], got {sigma}");

    public static Tensor Compute(IDenoiser denoiser, Tensor x, double sigma, Tensor? labels = null)
    {
        RequireSigma(sigma);
        using var _ = NewDisposeScope();
        using var noGrad = no_grad();
        return ((denoiser.Denoise(x, sigma, labels) - x) / (sigma * sigma)).MoveToOuterDisposeScope();
    }

    /// <summary>Scores of a whole split in batches.</summary>
    public static Tensor Batched(IDenoiser denoiser, Tensor images, Tensor? labels, double sigma, int batchSize = 256)
    {
        var parts = new List<Tensor>();
        for (long i = 0; i < images.shape[0]; i += batchSize)
        {
            long n = Math.Min(batchSize, images.shape[0] - i);
            var batchLabels = denoiser.Conditional ? labels?.narrow(0, i, n) : null;
            parts.Add(Compute(denoiser, images.narrow(0, i, n), sigma, batchLabels));
            Common.Finite.Check(parts[^1], $"the score at sigma {sigma:G4} of batch {i / batchSize + 1} (images {i}.."
                + $"{i + n - 1})");
        }
        var all = cat(parts.ToArray(), 0);
        foreach (var p in parts) p.Dispose();
        return all;
    }
}

/// <summary>
/// The exact posterior mean of subspace-gaussians as a denoiser: given labels, E[x0 | x, y] (the
/// class-conditional score), without them E[x0 | x] (the unconditional one); conditional = false ignores labels.
/// </summary>
public sealed class ExactDenoiser : IDenoiser
{
    private readonly Data.SubspaceGaussians data;
    public ExactDenoiser(Data.SubspaceGaussians data, bool conditional = true)
    {
        this.data = data;
        Conditional = conditional;
    }

    public bool Conditional { get; }
    public Tensor Denoise(Tensor x, double sigma, Tensor? labels = null) =>
        data.PosteriorMean(x, sigma, Conditional ? labels : null);
    public void Dispose() { } // the dataset belongs to the caller
}
