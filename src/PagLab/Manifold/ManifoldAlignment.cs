using PagLab.Common;
using PagLab.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Manifold;

/// <summary>
/// One row of the Theorem 1 table: rho_1 at noise level sigma beside rho_2. Rho1Linear is the same
/// Monte-Carlo ratio with f replaced by its first-order Taylor expansion (the sigma -> 0 limit of
/// the estimator on these draws), so MeanAbsToLinear isolates the curvature error from the
/// sampling error that separates Rho1Linear from Rho2.
/// </summary>
public sealed record Theorem1Row(double Sigma, double Rho1Mean, double Rho2Mean, double MeanAbsDifference,
    double MaxAbsDifference,
    double Rho1LinearMean, double MeanAbsToLinear);

/// <summary>
/// Definitions 1 and 2 of the paper and the numerical check of Theorem 1, for the scalar
/// f(x) = selected logit(s) of a classifier (logits, as in Theorem 1's f: R^d -> R).
/// </summary>
public static class ManifoldAlignment
{
    /// <summary>The scalar per image: s_b(x) = sum_c w_bc f_c(x), with w from the class mode.</summary>
    public static Tensor ClassWeights(GradientMode mode, Tensor logits, Tensor? labels)
    {
        using var _ = NewDisposeScope();
        long classes = logits.shape[1];
        var weights = mode switch
        {
            GradientMode.Sum => ones_like(logits),
            GradientMode.Predicted => nn.functional.one_hot(logits.argmax(1), classes).to_type(logits.dtype),
            GradientMode.Label => nn.functional.one_hot(
                labels ?? throw new PagLabException("mode 'label' needs labels"),
                classes).to_type(logits.dtype),
            _ => throw new ArgumentOutOfRangeException(nameof(mode)),
        };
        return weights.detach().MoveToOuterDisposeScope();
    }

    /// <summary>Input gradients of the selected scalar, (B, d), one batched backward pass.</summary>
    public static Tensor ScalarGradient(Func<Tensor, Tensor> model, Tensor x, GradientMode mode, Tensor? labels)
    {
        using var _ = NewDisposeScope();
        using var grad = enable_grad();
        var input = x.detach().clone().requires_grad_(true);
        var logits = model(input);
        var weights = ClassWeights(mode, logits.detach(), labels);
        var g = GuardedAutograd.Grad(new[] { (logits * weights).sum() }, new[] { input })[0].contiguous(); // NCHW
        return g.flatten(1).detach().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// PAGs, Definition 2: rho_2 = ||grad f - P_x grad f||^2 / ||grad f||^2 per image, (B).
    /// </summary>
    public static Tensor Rho2(Func<Tensor, Tensor> model, Tensor x, Tensor bases, GradientMode mode, Tensor? labels)
    {
        using var g = ScalarGradient(model, x, mode, labels);              // (B, d)
        return Rho2(g, bases);
    }

    /// <summary>rho_2 of given input gradients g (B, d); NaN where g is zero (a dead or constant model).</summary>
    public static Tensor Rho2(Tensor g, Tensor bases)
    {
        using var _ = NewDisposeScope();
        var offPart = g - TangentSpaces.Project(bases, g);
        return DefinedRatio(offPart.pow(2).sum(1), g.pow(2).sum(1)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// num / den, NaN where den is 0: the off-manifold share of a vanishing gradient or output change is undefined,
    /// not 0 (a collapsed model has none). A clamp such as 1e-300 is 0 in float32, so it cannot stand in for this.
    /// </summary>
    static Tensor DefinedRatio(Tensor num, Tensor den) =>
        where(den > 0, num / den, full_like(num, double.NaN));

    /// <summary>
    /// PAGs, Definition 1, Monte-Carlo estimate per image, (B):
    /// rho_1 = E (f(x + P^perp u) - f(x))^2 / E (f(x + u) - f(x))^2 with u = sigma * noise,
    /// noise (B, n, d) standard normal; the same draws feed numerator and denominator.
    /// </summary>
    public static Tensor Rho1(Func<Tensor, Tensor> model, Tensor x, Tensor bases, Tensor noise, double sigma,
        GradientMode mode, Tensor? labels)
    {
        using var _ = NewDisposeScope();
        using var noGrad = no_grad();
        long b = x.shape[0], n = noise.shape[1], d = noise.shape[2];
        var u = noise.to_type(x.dtype) * sigma;                             // (B, n, d)
        var uOff = u - TangentSpaces.Project(bases, u);
        var logits = model(x);                                              // (B, C)
        var weights = ClassWeights(mode, logits, labels);                   // (B, C)
        var f0 = (logits * weights).sum(1);                                 // (B)
        var both = stack(new[] { uOff, u }, 0) + x.reshape(1, b, 1, d);     // (2, B, n, d)
        var images = both.view(-1, x.shape[1], x.shape[2], x.shape[3]);
        var moved = ManifoldRobustness.Forward(model, images).view(2, b, n, -1);
        var f = (moved * weights.view(1, b, 1, -1)).sum(-1);                // (2, B, n)
        var squared = (f - f0.view(1, b, 1)).pow(2).mean(new long[] { 2 }); // (2, B)
        return DefinedRatio(squared[0], squared[1]).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Theorem 1 numerically: rho_1(sigma) for each sigma beside rho_2, per image, averaged.
    /// Runs in the dtype of x (use float64 to reach sigma = 1e-4 without cancellation).
    /// </summary>
    public static IReadOnlyList<Theorem1Row> Theorem1(Func<Tensor, Tensor> model, Tensor x, Tensor bases,
        double[] sigmas, int draws,
        GradientMode mode, Tensor? labels, long seed = 0, int batchImages = 8, IProgressSink? progress = null)
    {
        progress ??= NullProgress.Instance;
        Require.That(sigmas.Length > 0 && sigmas.All(s => s > 0), "sigmas must be positive");
        Require.Positive(draws, "draws");
        long count = x.shape[0], d = bases.shape[1];
        using var generator = new Generator((ulong)seed, device: CPU);
        var rho1 = new List<Tensor>[sigmas.Length];
        for (int i = 0; i < sigmas.Length; i++) rho1[i] = new();
        var rho2 = new List<Tensor>();
        var linear = new List<Tensor>();
        for (long start = 0; start < count; start += batchImages)
        {
            using var _ = NewDisposeScope();
            long b = Math.Min(batchImages, count - start);
            var xb = x.narrow(0, start, b);
            var qb = bases.narrow(0, start, b).to_type(x.dtype);
            var lb = labels?.narrow(0, start, b);
            // common random numbers across sigmas
            var noise = randn(new[] { b, draws, d }, generator: generator).to_type(x.dtype);
            var gradient = ScalarGradient(model, xb, mode, lb);                        // (b, d)
            rho2.Add(Rho2(gradient, qb).to_type(ScalarType.Float64).MoveToOuterDisposeScope());
            // first-order limit on the same draws: E (g.P^perp u)^2 / E (g.u)^2
            var g = gradient.unsqueeze(-1);                                            // (b, d, 1)
            var full = noise.bmm(g).squeeze(-1).pow(2).mean(new long[] { 1 });        // (b)
            var offNoise = noise - TangentSpaces.Project(qb, noise);
            var offPart = offNoise.bmm(g).squeeze(-1).pow(2).mean(new long[] { 1 });
            linear.Add(DefinedRatio(offPart, full).to_type(ScalarType.Float64).MoveToOuterDisposeScope());
            for (int i = 0; i < sigmas.Length; i++)
            {
                var rho1Batch = Rho1(model, xb, qb, noise, sigmas[i], mode, lb);
                rho1[i].Add(rho1Batch.to_type(ScalarType.Float64).MoveToOuterDisposeScope());
            }
            progress.Update("theorem 1", start + b, count);
        }
        using var r2 = cat(rho2, 0);
        using var r1Linear = cat(linear, 0);
        var rows = new List<Theorem1Row>();
        for (int i = 0; i < sigmas.Length; i++)
        {
            using var r1 = cat(rho1[i], 0);
            using var diff = (r1 - r2).abs();
            using var toLinear = (r1 - r1Linear).abs();
            rows.Add(new Theorem1Row(sigmas[i], r1.mean().item<double>(), r2.mean().item<double>(),
                diff.mean().item<double>(), diff.max().item<double>(),
                r1Linear.mean().item<double>(), toLinear.mean().item<double>()));
            foreach (var t in rho1[i]) t.Dispose();
        }
        foreach (var t in rho2.Concat(linear)) t.Dispose();
        return rows;
    }
}
