using System.Globalization;
using PagLab.Common;
using PagLab.Objectives;
using PagLab.Uncertainty;
using Sample = PagLab.Uncertainty.Bootstrap.Sample;

namespace PagLab.Experiments;

/// <summary>The three regimes of robustness (PAGs Section 5), plus the labels for runs no regime fits.</summary>
public enum Regime
{
    [Name("weak", "off-manifold sensitivity above on-manifold")] Weak,
    [Name("bayes-aligned", "off-manifold sensitivity below on-manifold")] BayesAligned,
    [Name("excessive", "collapsed, or insensitive on the manifold with an accuracy drop")] Excessive,
    [Name("weak/bayes-aligned boundary", "off and on not distinguishable")] Boundary,
    [Name("none", "nothing to judge by (no trained standard model or no measurement)")] Unclassified,
    [Name("diverged", "training diverged")] Diverged,
}

public static class RegimeNames
{
    public static string Name(this Regime regime) => Vocabulary.Name(regime);
}

/// <summary>One point of a sweep's curves: the runs (seeds) of one dataset, objective and strength; or one
/// imported model (<paramref name="Model"/> its name), a point of its own on no objective's curve.</summary>
public sealed record Level(string Dataset, string Objective, double Strength, IReadOnlyList<JobResult> Runs,
    string? Model = null)
{
    public static readonly string StandardObjective = Vocabulary.Name(ObjectiveKind.Standard);

    public bool IsStandard => Objective == StandardObjective;
    public bool IsImported => Model is not null;
    /// <summary>A point of an objective's strength curve (neither the standard model nor an imported one).</summary>
    public bool OnCurve => !IsStandard && !IsImported;
    public IReadOnlyList<JobResult> Completed => Runs.Where(r => r.Status == JobState.Completed).ToList();
    public bool Contains(JobResult r) => Runs.Any(x => ReferenceEquals(x, r));
    public string Label => IsImported ? $"{Objective} {Model}" : IsStandard ? StandardObjective
        : $"{Objective} {Strength.ToString("G3", CultureInfo.InvariantCulture)}";
    public double Chance => Completed.Count == 0 ? double.NaN : 1.0 / Math.Max(1, Completed[0].Classes);

    /// <summary>Per-image values of the completed runs that have them (one array per seed); null when none
    /// has. A run with a non-finite value (an overflowed or failed measurement) has no measurement: no finding or
    /// regime may speak from it.</summary>
    public Sample? Values(Func<JobResult, double[]?> pick)
    {
        var runs = Completed.Select(pick).Where(v => v is { Length: > 0 } && v.All(double.IsFinite)).Select(v => v!)
            .ToList();
        return runs.Count == 0 ? null : new Sample(runs);
    }

    public Sample Accuracy => Values(r => r.CorrectPerImage()) ?? new Sample(Array.Empty<double[]>());

    /// <summary>Test accuracy: one seed's exact binomial interval, or the bootstrap over seeds and images.</summary>
    public Estimate AccuracyEstimate => Completed.Count == 1 ? Completed[0].TestAccuracy : Bootstrap.Mean(Accuracy);
    public Sample? On(double epsilon) => Values(r => r.At(epsilon)?.OnPerImage);
    public Sample? Off(double epsilon) => Values(r => r.At(epsilon)?.OffPerImage);

    /// <summary>Levels in sweep order: by dataset, the standard model first, then each objective by strength.</summary>
    public static List<Level> Of(IReadOnlyList<JobResult> results) =>
        results.GroupBy(r => (r.Dataset, r.Objective, r.Strength, r.Model))
            .Select(g => new Level(g.Key.Dataset, g.Key.Objective, g.Key.Strength, g.ToList(), g.Key.Model))
            .OrderBy(l => l.Dataset, StringComparer.Ordinal).ThenBy(l => l.IsStandard ? 0 : l.IsImported ? 2 : 1)
            .ThenBy(l => l.Objective, StringComparer.Ordinal).ThenBy(l => l.Strength)
            .ThenBy(l => l.Model, StringComparer.Ordinal).ToList();
}

/// <summary>A level's regime and the numbers that put it there.</summary>
public sealed record LevelRegime(Level Level, Regime Regime, string Reason);

/// <summary>
/// The regime rule, derived from PAGs Section 5 ("Three regimes of robustness") and the Figure 6
/// caption (docs/experiments.md has the derivation). Per level (seeds pooled), against the standard
/// model of the same dataset, at one perturbation norm epsilon on the sweep's output measure, every
/// comparison by its 95% bootstrap interval:
///   none (undertrained): the standard model is not above chance accuracy: nothing can be judged;
///   excessive: collapsed (accuracy not above chance, or a near-constant output), or on-manifold
///              sensitivity below the standard's together with test accuracy below the standard's;
///   bayes-aligned: otherwise, off-manifold sensitivity below on-manifold (off/on interval below 1);
///   weak: otherwise, off above on (interval above 1);
///   boundary: the off/on interval contains 1.
/// </summary>
public sealed record RegimeRule
{
    /// <summary>The perturbation norm the rule compares at (default: the middle measured epsilon).</summary>
    public double? Epsilon { get; init; }

    /// <summary>
    /// Near-constant output: on and off changes both below this fraction of the standard model's
    /// (a constant classifier moves only by float rounding, ~1e-5 of a trained model's change).
    /// </summary>
    public double ConstantOutput { get; init; } = 1e-3;

    public double? EpsilonFor(IEnumerable<JobResult> results)
    {
        if (Epsilon is double e) return e;
        var eps = results.SelectMany(r => r.Sensitivity.Select(s => s.Epsilon)).Distinct().Order().ToList();
        return eps.Count == 0 ? null : eps[(eps.Count - 1) / 2];
    }

    public IReadOnlyList<LevelRegime> Classify(IReadOnlyList<JobResult> results)
    {
        double? eps = EpsilonFor(results);
        var levels = Level.Of(results);
        return levels.Select(l => Classify(l, levels.FirstOrDefault(s => s.IsStandard && s.Dataset == l.Dataset),
            eps)).ToList();
    }

    LevelRegime Classify(Level level, Level? standard, double? eps)
    {
        LevelRegime Is(Regime regime, string reason) => new(level, regime, reason);
        if (level.Completed.Count == 0) return Is(Regime.Diverged, "every seed diverged");
        if (standard is null || standard.Completed.Count == 0)
            return Is(Regime.Unclassified, $"no trained standard model of {level.Dataset} to compare with");
        double chance = level.Chance;
        var standardAccuracy = standard.AccuracyEstimate;
        if (!standardAccuracy.Above(chance))
            return Is(Regime.Unclassified,
                $"undertrained: the standard model's test accuracy {standardAccuracy.Text()} is not above "
                                           + $"chance ({chance:G3}), so no model of {level.Dataset} can be placed in "
                                               + $"a regime");
        var accuracy = level.AccuracyEstimate;
        if (!accuracy.Above(chance))
            return Is(Regime.Excessive,
                $"collapsed: test accuracy {accuracy.Text()} is not above chance ({chance:G3})");
        if (eps is not double e || level.On(e) is not { } on || level.Off(e) is not { } off
            || standard.On(e) is not { } standardOn || standard.Off(e) is not { } standardOff)
            return Is(Regime.Unclassified, "no on/off-manifold measurement to compare");
        if (on.Mean < ConstantOutput * standardOn.Mean && off.Mean < ConstantOutput * standardOff.Mean)
            return Is(Regime.Excessive,
                $"near-constant output: on {on.Mean:G3} and off {off.Mean:G3} are below {ConstantOutput:G3} x "
                                        + $"the standard model's (accuracy {accuracy.Text()})");
        string notes = "";
        bool accurate = true;
        if (!level.IsStandard)
        {
            var onChange = Bootstrap.Difference(on, standardOn);
            var accuracyChange = Bootstrap.Difference(level.Accuracy, standard.Accuracy);
            string numbers = $"on - standard's on {onChange.Text()}, accuracy - standard's {accuracyChange.Text()}";
            if (onChange.Below(0) && accuracyChange.Below(0))
                return Is(Regime.Excessive, $"insensitive on the manifold with an accuracy drop: {numbers}");
            if (onChange.Below(0)) notes = $"; on-manifold sensitivity fell but accuracy did not drop ({numbers})";
            else if (accuracyChange.Below(0))
            {
                // Not "accurate" then: the paper's regimes assume it; the note says what was seen instead.
                accurate = false;
                notes = $"; accuracy dropped but on-manifold sensitivity did not fall ({numbers})";
            }
        }
        var ratio = Bootstrap.Ratio(off, on);
        string at = $"off/on {ratio.Text()} at eps {e.ToString("G3", CultureInfo.InvariantCulture)}, accuracy "
            + $"{accuracy.Text()}";
        if (ratio.Below(1)) return Is(Regime.BayesAligned,
            $"{(accurate ? "accurate and " : "")}relatively off-manifold robust: {at}{notes}");
        if (ratio.Above(1)) return Is(Regime.Weak,
            $"{(accurate ? "accurate but " : "")}more sensitive off the manifold than on it: {at}{notes}");
        return Is(Regime.Boundary, $"off and on are not distinguishable: {at}{notes}");
    }
}
