using PagLab.Common;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Objectives;

/// <summary>
/// Gradient-norm regularisation by double backpropagation (PAGs, Suppl. B.1; Drucker &amp; LeCun 1992):
///   L = CE + lambda * (1/B) sum_i ||grad_x l(f(x_i), y_i)||^2.
/// The per-example input gradients are one backward pass of the summed per-example losses
/// (example i's loss depends on x_i only), taken with create_graph so the penalty is differentiable.
/// The authors instead penalise 1e5 * ||grad_x mean_i l_i||^2 / B = (1e5 / B^2) * (ours without lambda),
/// so their reg_constant c equals our lambda = c * 1e5 / B^2 (see docs/training.md).
/// </summary>
public sealed class GradientNormPenalty : ITrainingObjective
{
    public GradientNormPenalty(double lambda) => Lambda = lambda;

    public double Lambda { get; }
    public ObjectiveKind Kind => ObjectiveKind.Gnorm;

    /// <summary>Our lambda for the authors' reg_constant at batch size B.</summary>
    public static double FromAuthorsConstant(double regConstant,
        int batchSize) => regConstant * 1e5 / ((double)batchSize * batchSize);

    public ObjectiveTerms Loss(Module<Tensor, Tensor> model, Tensor x, Tensor y, Generator noise)
    {
        using var _ = NewDisposeScope();
        var input = x.detach().requires_grad_(true);
        var logits = model.call(input);
        var perExample = functional.cross_entropy(logits, y, reduction: Reduction.None);   // (B)
        var ce = perExample.mean();
        var g = GuardedAutograd.Grad(new[] { perExample.sum() }, new[] { input }, createGraph: true,
            retainGraph: true)[0];
        var penalty = g.pow(2).flatten(1).sum(1).mean();                                    // mean_i ||g_i||^2
        var total = ce + Lambda * penalty;
        return new ObjectiveTerms(total.MoveToOuterDisposeScope(), ce.MoveToOuterDisposeScope(),
                                  penalty.MoveToOuterDisposeScope(), logits.detach().MoveToOuterDisposeScope());
    }
}
