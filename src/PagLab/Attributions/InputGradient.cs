using PagLab.Common;
using PagLab.Score;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Attributions;

/// <summary>
/// The input gradient of one scalar per image (Simonyan et al. 2014 saliency without the absolute value): the
/// target class's logit (or log-probability), or the sum over classes when there is no target. Large batches are
/// taken in chunks of <see cref="ChunkImages"/> so that the copies SmoothGrad and Integrated Gradients stack stay
/// within memory. The model runs as given: the caller puts it in eval mode (<see cref="Models.EvalModel"/>).
/// </summary>
public sealed class InputGradient(Module<Tensor, Tensor> model, GradientReadout readout = GradientReadout.Logits)
    : IAttribution
{
    /// <summary>Images per forward/backward pass.</summary>
    public const int ChunkImages = 256;

    public Tensor Attribute(Tensor x, Tensor? target)
    {
        using var _ = NewDisposeScope();
        var chunks = new List<Tensor>();
        for (long start = 0; start < x.shape[0]; start += ChunkImages)
        {
            long n = Math.Min(ChunkImages, x.shape[0] - start);
            chunks.Add(Chunk(x.narrow(0, start, n), target?.narrow(0, start, n)));
        }
        return (chunks.Count == 1 ? chunks[0] : cat(chunks, 0)).MoveToOuterDisposeScope();
    }

    Tensor Chunk(Tensor x, Tensor? target)
    {
        var input = x.detach().requires_grad_(true);
        var outputs = model.call(input);                                          // (B, classes)
        if (readout == GradientReadout.LogProbabilities) outputs = outputs.log_softmax(1);
        var selected = target is null ? outputs.sum() : outputs.gather(1, target.reshape(-1, 1)).sum();
        return GuardedAutograd.Grad(new[] { selected }, new[] { input })[0]       // (B, C, H, W)
            .contiguous().detach();                                               // NCHW (MemoryFormat)
    }
}
