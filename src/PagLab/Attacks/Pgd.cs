using PagLab.Common;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Attacks;

/// <summary>How an L2 perturbation is normalised: per example (textbook) or over the whole batch (the PAGs authors'
/// pgd_l2_).</summary>
public enum PgdNorm { PerExample, WholeBatch }

/// <summary>The norm ball of an attack: S = {x | ||x - x0|| &lt;= eps}.</summary>
public enum AttackNorm
{
    [Name("l2", "Euclidean ball, steps along the normalised gradient")] L2,
    [Name("linf", "max-norm box, steps along the gradient's sign")] Linf,
}

/// <summary>The attacks `paglab eval --attack` runs, by name: PGD in one norm ball.</summary>
public enum EvalAttack
{
    [Name("pgd-l2", "PGD in the L2 ball")] PgdL2,
    [Name("pgd-linf", "PGD in the Linf box")] PgdLinf,
}

/// <summary>Which PGD settings: PagLab's (per example, the options given) or the PAGs authors'.</summary>
public enum PgdVariant
{
    [Name("paglab", "per-example L2 or Linf with the options given")] PagLab,
    [Name("authors", "their pgd_l2_: whole-batch L2, uniform start, 2 eps / 10 steps, no clamping")] Authors,
}

/// <summary>Settings of one PGD attack. alpha = AlphaFactor * epsilon / Steps (per example).</summary>
public sealed record PgdConfig
{
    /// <summary>PAGs Suppl. B.2: 10 steps in training (the authors' num_iter).</summary>
    public const int DefaultSteps = 10;

    public AttackNorm Norm { get; init; } = AttackNorm.L2;
    public int Steps { get; init; } = DefaultSteps;
    public double AlphaFactor { get; init; } = 2.5;       // PAGs Suppl. B.2 (MNIST): alpha = 2.5 eps / 10
    public bool RandomStart { get; init; } = false;
    public PgdNorm Normalisation { get; init; } = PgdNorm.PerExample;

    /// <summary>
    /// The largest budget accepted. Images live in [0,1]^d, whose diameter is sqrt(d) (about 110 for 3x64x64),
    /// so any larger budget means "unbounded" already; near 1e19 the float32 squared norms overflow and the
    /// attack silently does nothing.
    /// </summary>
    public const double MaxEpsilon = 1e6;

    /// <summary>Throws a one-line PagLabException unless the settings and each budget are usable.</summary>
    public void Validate(IEnumerable<double> epsilons, string option = "epsilons")
    {
        Require.That(Steps is >= 1 and <= 1000, $"steps must be in 1..1000 for an attack, got {Steps}");
        Require.That(AlphaFactor > 0 && AlphaFactor <= 1000, $"alphaFactor must be in (0, 1000], got {AlphaFactor}");
        var list = epsilons.ToList();
        Require.That(list.Count > 0, $"{option} needs at least one value");
        foreach (var e in list)
            Require.That(e > 0 && e <= MaxEpsilon, $"{option} values must be in (0, {MaxEpsilon:G}], {Require.Got(e)}");
    }

    /// <summary>
    /// The PAGs authors' attack (pags, PGDAdversarialLoss.pgd_l2_): L2 over the whole batch (<see
    /// cref="WholeBatchL2Step"/>),
    /// uniform random start, step 2 eps / num_iter, 10 steps (PAGs Suppl. B.2), no clamping.
    /// </summary>
    public static PgdConfig Authors => new()
    {
        Norm = AttackNorm.L2, Steps = 10, AlphaFactor = 2, RandomStart = true, Normalisation = PgdNorm.WholeBatch,
    };

    /// <summary>The fixed settings of a variant; null for paglab (the caller's own settings).</summary>
    public static PgdConfig? For(PgdVariant variant) => variant == PgdVariant.Authors ? Authors : null;
}

/// <summary>
/// Projected gradient ascent on the cross-entropy (Madry et al. 2018), one loop for any step
/// geometry. Gradients are taken with autograd.grad w.r.t. the input only, so the model's
/// parameter gradients are never touched.
/// </summary>
public static class Pgd
{
    public static IAttackStep StepFor(PgdConfig config) =>
        config.Normalisation == PgdNorm.WholeBatch && config.Norm == AttackNorm.L2
            ? new WholeBatchL2Step() : StepFor(config.Norm);

    // The step table (robustness's STEPS): one step geometry per norm.
    public static IAttackStep StepFor(AttackNorm norm) => norm switch
    {
        AttackNorm.L2 => new L2Step(),
        AttackNorm.Linf => new LinfStep(),
        _ => throw new ArgumentOutOfRangeException(nameof(norm), norm, null),
    };

    /// <summary>Adversarial examples for (x, y); epsilon is per example (B) or a scalar tensor.</summary>
    public static Tensor Attack(Module<Tensor, Tensor> model, Tensor x, Tensor y, Tensor epsilon, PgdConfig config,
        Generator? generator = null)
    {
        using var scope = NewDisposeScope();
        var x0 = x.detach();
        var eps = Attacks.PerExample.Broadcastable(epsilon, x0);
        var alpha = eps * (config.AlphaFactor / config.Steps);
        IAttackStep step = StepFor(config);
        var adv = config.RandomStart ? step.RandomPerturb(x0, eps, generator) : x0.clone();
        for (int k = 0; k < config.Steps; k++)
        {
            using var inner = NewDisposeScope();
            var xk = adv.detach().requires_grad_(true);
            var loss = functional.cross_entropy(model.call(xk), y, reduction: Reduction.Sum);
            var g = GuardedAutograd.Grad(new[] { loss }, new[] { xk })[0].contiguous(); // NCHW (MemoryFormat)
            var next = step.Project(step.Step(xk.detach(), g, alpha), x0, eps);
            adv = next.detach().MoveToOuterDisposeScope();
        }
        return adv.MoveToOuterDisposeScope();
    }
}
