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
    /// <summary>x0 + delta * min(1, eps / ||delta||), one factor for the whole batch: only a batch outside the ball
    /// shrinks.</summary>
    public Tensor Project(Tensor x, Tensor x0, Tensor epsilon)
    {
        using var _ = NewDisposeScope();
        var delta = x - x0;
        return (x0 + delta * (epsilon.max() / BatchNorm(delta)).clamp_max(1.0)).MoveToOuterDisposeScope();
    }

    static Tensor BatchNorm(Tensor t) => t.norm().clamp_min(1e-12);  // one L2 norm over every pixel of every image

    public Tensor Step(Tensor x, Tensor g, Tensor stepSize)
    {
        using var _ = NewDisposeScope();
        return (x + stepSize.max() * g / BatchNorm(g)).MoveToOuterDisposeScope();
    }

    public Tensor RandomPerturb(Tensor x0, Tensor epsilon, Generator? generator)
    {
        using var _ = NewDisposeScope();
        var u = rand(x0.shape, dtype: x0.dtype, device: x0.device, generator: generator);
        return (x0 + epsilon.max() / 2 * u / BatchNorm(u)).MoveToOuterDisposeScope();
    }
}
