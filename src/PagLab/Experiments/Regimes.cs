namespace PagLab.Experiments;

/// <summary>
/// The three regimes of PAGs Section 4.4, as an explicit rule over measured numbers, compared with
/// the standard model(s) of the same dataset:
///   excessive     — accuracy below the standard's by more than AccuracyTolerance, or on-manifold
///                   sensitivity below OnManifoldDrop x the standard's (robust on the manifold too);
///   weak          — otherwise, if off-manifold sensitivity is above on-manifold sensitivity;
///   bayes-aligned — otherwise: off below on, accuracy kept.
/// Sensitivities are the mean output changes at Epsilon (default: the middle of the measured epsilons).
/// </summary>
public sealed record RegimeRule
{
    public double AccuracyTolerance { get; init; } = 0.05;
    public double OnManifoldDrop { get; init; } = 0.5;
    public double? Epsilon { get; init; }

    public const string Weak = "weak", BayesAligned = "bayes-aligned", Excessive = "excessive", Unknown = "unknown";

    public string Classify(double accuracy, double on, double off, double referenceAccuracy, double referenceOn)
    {
        if (!double.IsFinite(accuracy) || !double.IsFinite(on) || !double.IsFinite(off)) return Unknown;
        if (accuracy < referenceAccuracy - AccuracyTolerance) return Excessive;
        if (double.IsFinite(referenceOn) && on < OnManifoldDrop * referenceOn) return Excessive;
        return off > on ? Weak : BayesAligned;
    }
}
