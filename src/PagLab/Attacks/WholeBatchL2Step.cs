using static TorchSharp.torch;

namespace PagLab.Attacks;

/// <summary>
/// The PAGs authors' L2 geometry (tml-tuebingen/pags, utils/regularized_loss.py, PGDAdversarialLoss.pgd_l2_):
/// S = { x : ||x - x0||_2 &lt;= epsilon } with ONE norm over the whole flattened batch, so epsilon bounds the
/// batch, not each image; steps are normalised by the batch's gradient norm; no clamping to [0,1]; the random
/// start is a uniform [0,1) draw scaled to batch norm epsilon / 2. With per-example budgets the batch's
/// largest is used (their loss takes a single epsilon).
/// </summary>
public sealed class WholeBatchL2Step : IAttackStep
{
    const double Tiny = 1e-12;

    public Tensor Project(Tensor x, Tensor x0, Tensor epsilon)
    {
        using var _ = NewDisposeScope();
        var delta = x - x0;
        var factor = (epsilon.max() / delta.norm().clamp_min(Tiny)).clamp_max(1.0);   // shrink only outside the ball
        return (x0 + delta * factor).MoveToOuterDisposeScope();
    }

    public Tensor Step(Tensor x, Tensor g, Tensor stepSize)
    {
        using var _ = NewDisposeScope();
        return (x + stepSize.max() * g / g.norm().clamp_min(Tiny)).MoveToOuterDisposeScope();
    }

    public Tensor RandomPerturb(Tensor x0, Tensor epsilon, Generator? generator)
    {
        using var _ = NewDisposeScope();
        var u = rand(x0.shape, dtype: x0.dtype, device: x0.device, generator: generator);
        return (x0 + epsilon.max() / 2 * u / u.norm().clamp_min(Tiny)).MoveToOuterDisposeScope();
    }
}
