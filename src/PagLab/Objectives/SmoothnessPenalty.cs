using PagLab.Models;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Objectives;

/// <summary>
/// Smoothness penalty (PAGs, Suppl. B.1):
///   L = CE + lambda * E_{eps ~ N(0, sigma^2 I)} ||f(x + eps) - f(x)||^2,
/// on the logits (or the softmax probabilities), averaged over the batch and `draws` noise draws,
/// all draws in one batched forward pass (clean and noisy together, unless the model has BatchNorm).
/// The authors use one draw on the logits.
/// </summary>
public sealed class SmoothnessPenalty : ITrainingObjective
{
    public SmoothnessPenalty(double lambda, double sigma, int draws = 1, bool onProbabilities = false)
    {
        Lambda = lambda; Sigma = sigma; Draws = draws; OnProbabilities = onProbabilities;
    }

    public double Lambda { get; }
    public double Sigma { get; }
    public int Draws { get; }
    public bool OnProbabilities { get; }
    public ObjectiveKind Kind => ObjectiveKind.Smooth;

    private bool? separateBatches;

    public ObjectiveTerms Loss(Module<Tensor, Tensor> model, Tensor x, Tensor y, Generator noise)
    {
        using var _ = NewDisposeScope();
        long b = x.shape[0];
        var repeated = x.repeat(Draws, 1, 1, 1);                                            // (D*B, C, H, W)
        var noisy = repeated + randn(repeated.shape, dtype: x.dtype, device: x.device, generator: noise) * Sigma;
        Tensor logits, noisyLogits;
        if (separateBatches ??= NormLayers.HasBatchNorm(model))
        {
            // BatchNorm in training mode normalises with the batch's statistics: clean and noisy images
            // go through in their own calls, as in the authors' code, so neither shifts the other's.
            logits = model.call(x);
            noisyLogits = model.call(noisy);
        }
        else
        {
            var outputs = model.call(cat(new[] { x, noisy }, 0));                           // one pass: clean + noisy
            logits = outputs.narrow(0, 0, b);
            noisyLogits = outputs.narrow(0, b, Draws * b);
        }
        var ce = functional.cross_entropy(logits, y);
        Tensor clean = logits, perturbed = noisyLogits;
        if (OnProbabilities) { clean = logits.softmax(1); perturbed = noisyLogits.softmax(1); }
        var diff = perturbed - clean.repeat(Draws, 1);
        var penalty = diff.pow(2).sum(1).mean();
        var total = ce + Lambda * penalty;
        return new ObjectiveTerms(total.MoveToOuterDisposeScope(), ce.MoveToOuterDisposeScope(),
                                  penalty.MoveToOuterDisposeScope(), logits.detach().MoveToOuterDisposeScope());
    }
}
