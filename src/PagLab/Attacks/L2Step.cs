using static TorchSharp.torch;

namespace PagLab.Attacks;

/// <summary>S = { x : ||x - x0||_2 &lt;= epsilon, x in [0,1]^d }, per example.</summary>
public sealed class L2Step : IAttackStep
{
    const double Tiny = 1e-12;

    public Tensor Project(Tensor x, Tensor x0, Tensor epsilon)
    {
        using var _ = NewDisposeScope();
        var delta = x - x0;
        var norm = PerExample.L2Norm(delta);
        var factor = (epsilon / norm.clamp_min(Tiny)).clamp_max(1.0); // shrink only those outside the ball
        return (x0 + delta * factor).clamp(0, 1).MoveToOuterDisposeScope();
    }

    public Tensor Step(Tensor x, Tensor g, Tensor stepSize)
    {
        using var _ = NewDisposeScope();
        return (x + stepSize * g / PerExample.L2Norm(g).clamp_min(Tiny)).MoveToOuterDisposeScope();
    }

    /// <summary>A uniformly random direction at distance epsilon (on the sphere), clamped to [0,1].</summary>
    public Tensor RandomPerturb(Tensor x0, Tensor epsilon, Generator? generator)
    {
        using var _ = NewDisposeScope();
        var r = randn(x0.shape, dtype: x0.dtype, device: x0.device, generator: generator);
        return Project(x0 + epsilon * r / PerExample.L2Norm(r).clamp_min(Tiny), x0, epsilon).MoveToOuterDisposeScope();
    }
}

/// <summary>S = { x : ||x - x0||_inf &lt;= epsilon, x in [0,1]^d }, per example.</summary>
public sealed class LinfStep : IAttackStep
{
    public Tensor Project(Tensor x, Tensor x0, Tensor epsilon)
    {
        using var _ = NewDisposeScope();
        return (x0 + minimum(maximum(x - x0, -epsilon), epsilon)).clamp(0, 1).MoveToOuterDisposeScope();
    }

    public Tensor Step(Tensor x, Tensor g, Tensor stepSize) => x + stepSize * g.sign();

    public Tensor RandomPerturb(Tensor x0, Tensor epsilon, Generator? generator)
    {
        using var _ = NewDisposeScope();
        var u = rand(x0.shape, dtype: x0.dtype, device: x0.device, generator: generator).mul_(2).sub_(1);
        return Project(x0 + epsilon * u, x0, epsilon).MoveToOuterDisposeScope();
    }
}
