using System.Globalization;
using PagLab.Attacks;
using PagLab.Certification;
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
    /// <summary>pgd-l2 or pgd-linf; null when no attack was run.</summary>
    public string? Attack { get; init; }
    public int? Steps { get; init; }
    /// <summary>Robust accuracy per epsilon, keyed by the epsilon as written (the file format of `eval --out`).
    /// </summary>
    public Dictionary<string, double>? RobustAccuracy { get; init; }
    public CertificationResult? Smoothed { get; init; }

    /// <summary>Randomized-smoothing certification settings (Cohen et al. 2019).</summary>
    public sealed record Smoothing(double Sigma, int N0, int N, double Alpha);

    /// <summary>Evaluates model on split; say receives one line per number as it is measured.</summary>
    public static EvalReport Measure(Module<Tensor, Tensor> model, string modelName, string dataset, DataSplit split,
        string? attack, PgdConfig attackConfig, double[] epsilons, Smoothing? smoothing, long seed, Action<string> say)
    {
        double clean = Evaluation.Accuracy(model, split);
        say($"clean accuracy: {clean:F4} ({split.Count} images)");
        var report = new EvalReport
            { Model = modelName, Dataset = dataset, Count = split.Count, CleanAccuracy = clean };
        if (attack is not null)
        {
            var robust = new Dictionary<string, double>();
            foreach (var e in epsilons)
            {
                double acc = Evaluation.RobustAccuracy(model, split, e, attackConfig, seed);
                robust[e.ToString(CultureInfo.InvariantCulture)] = acc;
                say($"robust accuracy ({attack}, eps {e}, {attackConfig.Steps} steps): {acc:F4}");
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
}
