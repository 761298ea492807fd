using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Objectives;

/// <summary>The scalars one training step produces: what is minimised, and its parts for logging.</summary>
public sealed record ObjectiveTerms(Tensor Total, Tensor CrossEntropy, Tensor Penalty, Tensor Logits) : IDisposable
{
    public void Dispose() { Total.Dispose(); CrossEntropy.Dispose(); Penalty.Dispose(); Logits.Dispose(); }
}

/// <summary>
/// A training objective (PAGs, Suppl. B.1). Loss returns the scalar to minimise for a batch
/// (x in [0,1], y int64 labels). noise draws randomness for noise-based objectives, so that a
/// resumed run draws exactly what an uninterrupted one would. Logits are those of the inputs the
/// objective classifies (clean, noisy or adversarial), for the training accuracy.
/// </summary>
public interface ITrainingObjective
{
    ObjectiveKind Kind { get; }
    ObjectiveTerms Loss(Module<Tensor, Tensor> model, Tensor x, Tensor y, Generator noise);
}
