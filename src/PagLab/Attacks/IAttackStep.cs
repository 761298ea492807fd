using static TorchSharp.torch;

namespace PagLab.Attacks;

/// <summary>
/// One geometry for projected gradient descent (after the robustness library's AttackerStep):
/// a constraint set around the clean image x0, a steepest-ascent step, a random start.
/// Budgets are per example: epsilon and stepSize are (B, 1, 1, 1) tensors.
/// </summary>
public interface IAttackStep
{
    /// <summary>Projects x back into the constraint set around x0, and into [0,1].</summary>
    Tensor Project(Tensor x, Tensor x0, Tensor epsilon);

    /// <summary>One ascent step of size stepSize along the gradient g.</summary>
    Tensor Step(Tensor x, Tensor g, Tensor stepSize);

    /// <summary>A random point of the constraint set around x0.</summary>
    Tensor RandomPerturb(Tensor x0, Tensor epsilon, Generator? generator);
}

public static class PerExample
{
    /// <summary>L2 norm of each example over all but the batch dimension, shaped (B, 1, 1, 1) for
    /// broadcasting.</summary>
    public static Tensor L2Norm(Tensor t)
    {
        var shape = new long[t.dim()];
        Array.Fill(shape, 1L);
        shape[0] = t.shape[0];
        return t.flatten(1).norm(1, keepdim: false).reshape(shape);
    }

    /// <summary>A scalar or per-example value as a (B, 1, 1, 1) tensor like x.</summary>
    public static Tensor Broadcastable(Tensor values, Tensor like)
    {
        var shape = new long[like.dim()];
        Array.Fill(shape, 1L);
        shape[0] = like.shape[0];
        return values.to_type(like.dtype).to(like.device).expand(like.shape[0]).reshape(shape);
    }
}
