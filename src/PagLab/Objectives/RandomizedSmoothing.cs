using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Objectives;

/// <summary>
/// Randomized smoothing by noise augmentation (Cohen et al. 2019; PAGs, Suppl. B.1):
///   L = CE(f(x + eps), y), eps ~ N(0, sigma^2 I).
/// </summary>
public sealed class RandomizedSmoothing : ITrainingObjective
{
    public RandomizedSmoothing(double sigma) => Sigma = sigma;

    public double Sigma { get; }
    public ObjectiveKind Kind => ObjectiveKind.RandSmooth;

    public ObjectiveTerms Loss(Module<Tensor, Tensor> model, Tensor x, Tensor y, Generator noise)
    {
        using var _ = NewDisposeScope();
        var noisy = Sigma == 0 ? x : x + randn(x.shape, dtype: x.dtype, device: x.device, generator: noise) * Sigma;
        var logits = model.call(noisy);
        var ce = functional.cross_entropy(logits, y);
        return new ObjectiveTerms(ce.alias().MoveToOuterDisposeScope(), ce.MoveToOuterDisposeScope(),
                                  zeros(1).squeeze().MoveToOuterDisposeScope(),
                                      logits.detach().MoveToOuterDisposeScope());
    }
}
