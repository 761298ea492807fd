using PagLab.Attacks;
using PagLab.Models;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Objectives;

/// <summary>
/// Adversarial training (Madry et al. 2018; PAGs, Suppl. B.1): L = CE(f(x + delta*), y), delta* from
/// PGD. Each example draws its budget from `epsilons` (PAGs, Suppl. B.2: MNIST eps in {1, 4, 8}).
/// The attack runs the model in eval mode (batch-norm statistics are not updated by attack passes), folded
/// afresh from the current parameters for each batch (<see cref="EvalModel"/>), and takes only input gradients;
/// the final loss runs the training model itself.
/// </summary>
public sealed class PgdAdversarialTraining : ITrainingObjective
{
    public PgdAdversarialTraining(IReadOnlyList<double> epsilons, PgdConfig attack)
    {
        if (epsilons.Count == 0) throw new Common.PagLabException("epsilons needs at least one value for pgd");
        Epsilons = epsilons; Attack = attack;
    }

    public IReadOnlyList<double> Epsilons { get; }
    public PgdConfig Attack { get; }
    public ObjectiveKind Kind => ObjectiveKind.Pgd;

    public ObjectiveTerms Loss(Module<Tensor, Tensor> model, Tensor x, Tensor y, Generator noise)
    {
        using var _ = NewDisposeScope();
        var choices = tensor(Epsilons.ToArray(), dtype: x.dtype, device: x.device);
        var pick = randint(Epsilons.Count, new long[] { x.shape[0] }, generator: noise).to(x.device);
        var eps = choices.index_select(0, pick);                                             // (B) per-example budget
        Tensor adv;
        using (var eval = EvalModel.For(model)) adv = Pgd.Attack(eval.Model, x, y, eps, Attack, noise);
        var logits = model.call(adv);
        var ce = functional.cross_entropy(logits, y);
        return new ObjectiveTerms(ce.alias().MoveToOuterDisposeScope(), ce.MoveToOuterDisposeScope(),
                                  zeros(1).squeeze().MoveToOuterDisposeScope(),
                                      logits.detach().MoveToOuterDisposeScope());
    }
}
