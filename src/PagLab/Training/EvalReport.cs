using System.Globalization;
using PagLab.Attacks;
using PagLab.Certification;
using PagLab.Common;
using PagLab.Data;
using static TorchSharp.torch.nn;
using Tensor = TorchSharp.torch.Tensor;

namespace PagLab.Training;

/// <summary>What `paglab eval` reports (and writes as JSON): clean, PGD-robust and certified accuracy.</summary>
public sealed record EvalReport
{
    public required string Model { get; init; }
    public required string Dataset { get; init; }
    public long Count { get; init; }
    public double CleanAccuracy { get; init; }
    /// <summary>Null when no attack was run.</summary>
    public EvalAttack? Attack { get; init; }
    public int? Steps { get; init; }
    /// <summary>Robust accuracy per epsilon, keyed by the epsilon as written (the file format of `eval --out`).
    /// </summary>
    public Dictionary<string, double>? RobustAccuracy { get; init; }
    public CertificationResult? Smoothed { get; init; }

    /// <summary>Randomized-smoothing certification settings (Cohen et al. 2019).</summary>
    public sealed record Smoothing(double Sigma, int N0, int N, double Alpha);

    /// <summary>What `paglab eval` evaluates: a model folder on a dataset's first <paramref name="Count"/> test
    /// images (all when null), under an optional attack (its norm overrides the config's) and smoothing.</summary>
    public sealed record Request(string Model, string Dataset, EvalAttack? Attack, PgdConfig AttackConfig,
        double[] Epsilons, Smoothing? Smoothing, int? Count, long Seed, string? DataRoot, bool ChannelsLast);

    /// <summary>Checks every setting before the model and data are loaded, then loads and measures.</summary>
    public static EvalReport Run(Request request, Action<string> say)
    {
        var attackConfig = request.AttackConfig with
            { Norm = request.Attack == EvalAttack.PgdLinf ? AttackNorm.Linf : AttackNorm.L2 };
        if (request.Attack is not null) attackConfig.Validate(request.Epsilons);
        if (request.Count is int wanted) Require.That(wanted >= 1, $"--count must be >= 1, got {wanted}");
        using var net = Models.SavedModel.Load(request.Model, channelsLast: request.ChannelsLast);
        var data = Datasets.LoadFor(request.Dataset, new DataOptions(request.DataRoot, request.Seed,
            TestSize: request.Count), net.Spec.Shape, "the model");
        var test = request.Count is int c ? data.Test.Take(c) : data.Test;
        var epsilons = request.Attack is null ? Array.Empty<double>() : request.Epsilons;
        return Measure(net, request.Model, data.Name, test, request.Attack, attackConfig, epsilons, request.Smoothing,
            request.Seed, say);
    }

    /// <summary>Evaluates model on split; say receives one line per number as it is measured.</summary>
    public static EvalReport Measure(Module<Tensor, Tensor> model, string modelName, string dataset, DataSplit split,
        EvalAttack? attack, PgdConfig attackConfig, double[] epsilons, Smoothing? smoothing, long seed,
        Action<string> say)
    {
        double clean = Evaluation.Accuracy(model, split);
        say($"clean accuracy: {Interval(clean, split.Count)} ({split.Count} images; 95% interval)");
        var report = new EvalReport
            { Model = modelName, Dataset = dataset, Count = split.Count, CleanAccuracy = clean };
        if (attack is not null)
        {
            var robust = new Dictionary<string, double>();
            foreach (var e in epsilons)
            {
                double acc = Evaluation.RobustAccuracy(model, split, e, attackConfig, seed);
                robust[e.ToString(CultureInfo.InvariantCulture)] = acc;
                say($"robust accuracy ({Vocabulary.Name(attack.Value)}, eps {e}, {attackConfig.Steps} steps): "
                    + Interval(acc, split.Count));
            }
            report = report with { Attack = attack, Steps = attackConfig.Steps, RobustAccuracy = robust };
        }
        if (smoothing is not null)
        {
            var cert = SmoothedClassifier.Certify(model, split, smoothing.Sigma, smoothing.N0, smoothing.N,
                smoothing.Alpha, seed);
            say($"smoothed classifier (sigma {cert.Sigma}): accuracy {cert.Accuracy:F4}, abstained "
                + $"{cert.AbstainRate:F4}, mean certified radius {cert.MeanRadius:F4}");
            foreach (var (r, acc) in cert.CertifiedAccuracyAt) say($"  certified accuracy at radius {r}: {acc:F4}");
            report = report with { Smoothed = cert };
        }
        return report;
    }

    /// <summary>An accuracy over n images with its binomial 95% interval.</summary>
    static string Interval(double accuracy, long n) =>
        Uncertainty.Estimate.Binomial((long)Math.Round(accuracy * n), n).Text("F4");
}
