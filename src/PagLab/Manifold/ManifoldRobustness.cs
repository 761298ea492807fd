using PagLab.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Manifold;

/// <summary>Distribution of one set of output changes.</summary>
public sealed record Distribution(double Mean, double Std, double Q05, double Q25, double Median, double Q75,
    double Q95, double Maximum, long Count)
{

    public static Distribution Of(Tensor values)
    {
        using var _ = NewDisposeScope();
        var v = values.to_type(ScalarType.Float64).flatten();
        var q = quantile(v, tensor(new[] { 0.05, 0.25, 0.5, 0.75, 0.95 }, ScalarType.Float64)).data<double>().ToArray();
        double std = v.numel() > 1 ? v.std().item<double>() : 0;
        return new Distribution(v.mean().item<double>(), std, q[0], q[1], q[2], q[3], q[4], v.max().item<double>(),
            v.numel());
    }

    /// <summary>The distribution of the values that are defined (not NaN); Count says how many. None: NaN
    /// throughout with Count 0.</summary>
    public static Distribution OfDefined(Tensor values)
    {
        using var _ = NewDisposeScope();
        var v = values.to_type(ScalarType.Float64).flatten();
        var defined = v.masked_select(v.isnan().logical_not());
        return defined.numel() > 0 ? Of(defined)
            : new Distribution(double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN,
                double.NaN, 0);
    }
}

/// <summary>
/// On- and off-manifold output change at one perturbation size: distributions over images x draws,
/// and per image the mean over its draws (the units an interval is bootstrapped over).
/// </summary>
public sealed record EpsilonResult(double Epsilon, Distribution On, Distribution Off, double OffOverOn)
{
    public double[] OnPerImage { get; init; } = Array.Empty<double>();
    public double[] OffPerImage { get; init; } = Array.Empty<double>();
    /// <summary>The control: u itself rescaled to epsilon (isotropic noise of the same norm); empty when not
    /// measured.</summary>
    public double[] IsotropicPerImage { get; init; } = Array.Empty<double>();
}

/// <summary>
/// On- vs off-manifold robustness (PAGs, Section 4 "Measuring On- and Off-Manifold Robustness"):
/// per image and draw, u ~ N(0, I) is split into P_x u and P_x^perp u, each rescaled to L2 norm
/// epsilon, and the output change ||f(x) - f(x + u)|| (<see cref="OutputMeasure"/>, default the
/// L1 change of the softmax output) is recorded. With <c>isotropic</c>, u itself rescaled to epsilon is measured
/// too (the control: how a direction that ignores the manifold moves the output).
/// All images of a batch, all draws and all epsilons go through the model as one batch.
/// </summary>
public static class ManifoldRobustness
{
    public static IReadOnlyList<EpsilonResult> Measure(Func<Tensor, Tensor> model, Tensor images,
        TangentSpaces tangents, double[] epsilons,
        int draws, OutputMeasure? measure = null, long seed = 0, int batchImages = 16, IProgressSink? progress = null,
        bool isotropic = false)
    {
        progress ??= NullProgress.Instance;
        measure ??= OutputMeasure.Default;
        Require.That(epsilons.Length > 0 && epsilons.All(e => e > 0 && double.IsFinite(e)),
            "epsilons must be positive numbers");
        Require.Positive(draws, "draws");
        Require.That(images.shape[0] == tangents.Count,
            $"{images.shape[0]} images but {tangents.Count} tangent spaces");
        long n = images.shape[0], d = tangents.AmbientDim;
        Require.That(images[0].numel() == d,
            $"images have {images[0].numel()} pixels but the tangent spaces live in dimension {d}");
        using var generator = new Generator((ulong)seed, device: CPU);
        int kinds = isotropic ? 3 : 2;                                                      // on, off[, isotropic]
        var changes = new List<Tensor>[epsilons.Length, kinds];
        for (int e = 0; e < epsilons.Length; e++)
            for (int k = 0; k < kinds; k++) changes[e, k] = new();
        using var noGrad = no_grad();
        using var eps = tensor(epsilons, ScalarType.Float32).view(-1, 1, 1, 1);          // (E, 1, 1, 1)
        for (long start = 0; start < n; start += batchImages)
        {
            using var _ = NewDisposeScope();
            long b = Math.Min(batchImages, n - start);
            var x = images.narrow(0, start, b);                                             // (b, C, H, W)
            var q = tangents.Bases.narrow(0, start, b);                                     // (b, d, r)
            var u = randn(new[] { b, draws, d }, generator: generator);                     // (b, n, d)
            var uOn = TangentSpaces.Project(q, u);
            var uOff = u - uOn;
            var units = isotropic ? new[] { UnitRows(uOn), UnitRows(uOff), UnitRows(u) }
                : new[] { UnitRows(uOn), UnitRows(uOff) };
            var directions = stack(units, 0);                                               // (K, b, n, d)
            var steps = eps.unsqueeze(1) * directions.unsqueeze(0);                         // (E, K, b, n, d)
            var perturbed = x.reshape(1, 1, b, 1, d) + steps;                               // (E, K, b, n, d)
            var clean = measure.Of(model, x);                                               // (b, C)
            var moved = measure.Of(model, perturbed.view(-1, x.shape[1], x.shape[2], x.shape[3]))
                .view(epsilons.Length, kinds, b, draws, -1);                                // (E, K, b, n, C)
            var change = measure.Change(moved, clean.view(1, 1, b, 1, -1));                 // (E, K, b, n)
            for (int e = 0; e < epsilons.Length; e++)
                for (int k = 0; k < kinds; k++)
                    changes[e, k].Add(change[e, k].MoveToOuterDisposeScope());              // (b, n)
            progress.Update("on/off-manifold", start + b, n);
        }
        var results = new List<EpsilonResult>();
        for (int e = 0; e < epsilons.Length; e++)
        {
            using var onAll = cat(changes[e, 0], 0);
            using var offAll = cat(changes[e, 1], 0);
            using var isoAll = isotropic ? cat(changes[e, 2], 0) : null;
            var onD = Distribution.Of(onAll);
            var offD = Distribution.Of(offAll);
            results.Add(new EpsilonResult(epsilons[e], onD, offD, offD.Mean / onD.Mean)
            {
                OnPerImage = PerImage(onAll), OffPerImage = PerImage(offAll),
                IsotropicPerImage = isoAll is null ? Array.Empty<double>() : PerImage(isoAll),
            });
            for (int k = 0; k < kinds; k++) foreach (var t in changes[e, k]) t.Dispose();
        }
        return results;
    }

    static double[] PerImage(Tensor change)
    {
        using var mean = change.to_type(ScalarType.Float64).mean(new long[] { 1 });     // (n images)
        return mean.data<double>().ToArray();
    }

    /// <summary>Largest number of images sent through the model at once (bounds activation memory).</summary>
    public const int MaxForwardBatch = 1024;

    /// <summary>model(x) for a large stack of images, in chunks of MaxForwardBatch.</summary>
    public static Tensor Forward(Func<Tensor, Tensor> model, Tensor x)
    {
        if (x.shape[0] <= MaxForwardBatch) return model(x);
        using var _ = NewDisposeScope();
        var parts = new List<Tensor>();
        for (long start = 0; start < x.shape[0]; start += MaxForwardBatch)
            parts.Add(model(x.narrow(0, start, Math.Min(MaxForwardBatch, x.shape[0] - start))));
        return cat(parts, 0).MoveToOuterDisposeScope();
    }

    /// <summary>Model outputs (N, C) as logits or softmax probabilities.</summary>
    public static Tensor Outputs(Func<Tensor, Tensor> model, Tensor x, OutputKind kind)
    {
        using var _ = NewDisposeScope();
        var logits = Forward(model, x);
        return (kind == OutputKind.Probabilities ? logits.softmax(-1) : logits).MoveToOuterDisposeScope();
    }

    /// <summary>Each row (last dimension) scaled to unit L2 norm.</summary>
    public static Tensor UnitRows(Tensor u)
    {
        using var _ = NewDisposeScope();
        return (u / u.norm(-1, true, 2).clamp_min(1e-30)).MoveToOuterDisposeScope();
    }
}
