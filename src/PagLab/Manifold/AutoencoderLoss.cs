using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Manifold;

/// <summary>The autoencoder's training loss and its reconstruction error, over tensors.</summary>
public static class AutoencoderLoss
{
    /// <summary>Per image: squared error summed over pixels (B), and the KL term (B, zero for a plain ae).</summary>
    public static (Tensor Squared, Tensor Kl) PerExample(ConvAutoencoder model, Tensor x, Generator noise)
    {
        var (mean, logVar) = model.EncodeDistribution(x);
        Tensor z = mean, kl = zeros(x.shape[0]);
        if (logVar is not null)
        {
            // Kingma and Welling 2014: z = mu + sigma * eps, KL(N(mu, sigma^2) || N(0, I)) in closed form
            z = mean + (0.5 * logVar).exp() * randn(mean.shape, generator: noise);
            kl = 0.5 * (mean.pow(2) + logVar.exp() - 1 - logVar).sum(1);
        }
        var squared = (model.Decode(z) - x).pow(2).flatten(1).sum(1);
        return (squared, kl);
    }

    /// <summary>Mean squared error per pixel of D(E(x)) (the mean code for a vae), batched.</summary>
    public static double ReconstructionError(ConvAutoencoder model, Tensor images, int batchSize = 256)
    {
        model.eval();
        using var noGrad = no_grad();
        double sum = 0;
        for (long start = 0; start < images.shape[0]; start += batchSize)
        {
            using var _ = NewDisposeScope();
            var x = images.narrow(0, start, Math.Min(batchSize, images.shape[0] - start));
            sum += (model.call(x) - x).pow(2).sum().item<float>();
        }
        return sum / Math.Max(1, images.numel());
    }
}
