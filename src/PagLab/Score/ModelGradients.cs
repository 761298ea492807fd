using PagLab.Common;
using PagLab.Models;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Score;

/// <summary>What is differentiated: the pre-softmax outputs, or the log-probabilities log_softmax(logits).</summary>
public enum GradientReadout { Logits, LogProbabilities }

/// <summary>
/// Input gradients (Simonyan et al. 2014 saliency without the absolute value) of the logits (PAGs,
/// Suppl. B.5: "before the softmax"; compared with the score) or of the log-probabilities (compared
/// with the Bayes classifier's log p(y|x), which unlike logits is defined without a per-input offset):
/// `sum` over classes (compare with an unconditional score), `predicted` class or `label` (compare
/// with a conditional one). Optionally SmoothGrad (Smilkov et al. 2017): the mean gradient over n
/// noisy copies, all in one batched pass. The caller's tensor is never modified and keeps its requires_grad.
/// The model runs in eval mode, batch norm folded (<see cref="EvalModel"/>).
/// </summary>
public static class ModelGradients
{
    public static Tensor Compute(Module<Tensor, Tensor> model, Tensor x, GradientMode mode, Tensor? labels = null,
        int smoothDraws = 0, double smoothSigma = 0, Generator? generator = null,
        GradientReadout readout = GradientReadout.Logits)
    {
        Require.That(mode != GradientMode.Label || labels is not null, "mode 'label' needs labels");
        using var eval = EvalModel.For(model);
        using var _ = NewDisposeScope();
        long b = x.shape[0];
        Tensor? target = mode switch
        {
            GradientMode.Predicted => PredictedClasses(eval.Model, x),
            GradientMode.Label => labels!,
            _ => null,
        };
        int copies = Math.Max(1, smoothDraws);
        var input = x.detach();
        if (smoothDraws > 0)
        {
            var repeated = input.repeat(copies, 1, 1, 1);
            input = repeated + randn(repeated.shape, dtype: x.dtype,
                generator: generator).to(x.device) * smoothSigma;
            if (target is not null) target = target.repeat(copies);
        }
        input = input.requires_grad_(true);
        var logits = eval.Model.call(input);
        if (readout == GradientReadout.LogProbabilities) logits = logits.log_softmax(1);
        var selected = target is null ? logits.sum() : logits.gather(1, target.reshape(-1, 1)).sum();
        var g = GuardedAutograd.Grad(new[] { selected }, new[] { input })[0]      // (copies*B, C, H, W)
            .contiguous();                                                       // NCHW (MemoryFormat)
        if (smoothDraws > 0) g = g.reshape(copies, b, g.shape[1], g.shape[2], g.shape[3]).mean(new long[] { 0 });
        return g.detach().MoveToOuterDisposeScope();
    }

    public static Tensor PredictedClasses(Module<Tensor, Tensor> model, Tensor x)
    {
        using var _ = no_grad();
        return model.call(x).argmax(1);
    }
}
