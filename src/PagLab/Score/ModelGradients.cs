using PagLab.Attributions;
using PagLab.Common;
using PagLab.Models;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Score;

/// <summary>What is differentiated: the pre-softmax outputs, or the log-probabilities log_softmax(logits).</summary>
public enum GradientReadout
{
    [Name("logits", "the pre-softmax outputs (PAGs, Suppl. B.5)")] Logits,
    [Name("log-probabilities", "log_softmax(logits), as the Bayes classifier's log p(y|x)")] LogProbabilities,
}

/// <summary>
/// Input gradients (Simonyan et al. 2014 saliency without the absolute value) of the logits (PAGs,
/// Suppl. B.5: "before the softmax"; compared with the score) or of the log-probabilities (compared
/// with the Bayes classifier's log p(y|x), which unlike logits is defined without a per-input offset):
/// `sum` over classes (compare with an unconditional score), `predicted` class or `label` (compare
/// with a conditional one). Optionally another attribution built over the gradient
/// (<see cref="AttributionSettings"/>: SmoothGrad, Integrated Gradients), its copies batched; the class is
/// chosen on the clean images. The caller's tensor is never modified and keeps its requires_grad.
/// The model runs in eval mode, batch norm folded (<see cref="EvalModel"/>).
/// </summary>
public static class ModelGradients
{
    public static Tensor Compute(Module<Tensor, Tensor> model, Tensor x, GradientMode mode, Tensor? labels = null,
        AttributionSettings? attribution = null, GradientReadout readout = GradientReadout.Logits)
    {
        Require.That(mode != GradientMode.Label || labels is not null, "mode 'label' needs labels");
        using var eval = EvalModel.For(model);
        using var _ = NewDisposeScope();
        Tensor? target = mode switch
        {
            GradientMode.Predicted => PredictedClasses(eval.Model, x),
            GradientMode.Label => labels!,
            _ => null,
        };
        var gradient = new InputGradient(eval.Model, readout);
        var method = attribution?.Over(gradient) ?? gradient;
        return method.Attribute(x.detach(), target).detach().MoveToOuterDisposeScope();
    }

    public static Tensor PredictedClasses(Module<Tensor, Tensor> model, Tensor x)
    {
        using var _ = no_grad();
        return model.call(x).argmax(1);
    }
}
