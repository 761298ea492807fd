using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Objectives;

/// <summary>Standard training: mean cross-entropy.</summary>
public sealed class CrossEntropy : ITrainingObjective
{
    public ObjectiveKind Kind => ObjectiveKind.Standard;

    public ObjectiveTerms Loss(Module<Tensor, Tensor> model, Tensor x, Tensor y, Generator noise)
    {
        using var _ = NewDisposeScope();
        var logits = model.call(x);
        var ce = functional.cross_entropy(logits, y);
        return new ObjectiveTerms(ce.alias().MoveToOuterDisposeScope(), ce.MoveToOuterDisposeScope(),
                                  zeros(1).squeeze().MoveToOuterDisposeScope(),
                                      logits.detach().MoveToOuterDisposeScope());
    }
}
