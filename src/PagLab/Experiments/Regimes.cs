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

/// <summary>The condition of the regime rule that decided a level's regime (a finding reads this, never the
/// reason's wording).</summary>
public enum RegimeCause
{
    Diverged,               // every seed diverged
    NoStandard,             // no trained standard model of the dataset to compare with
    Undertrained,           // the standard model is not above chance
    Collapsed,              // accuracy not above chance
    NoMeasurement,          // no on/off measurement at the rule's epsilon
    NearConstant,           // on and off both below constantOutput x the standard's
    AccuracyDrop,           // accuracy drop vs the standard beyond delta by its interval
    OnManifoldInsensitive,  // on-manifold sensitivity below kappa x the standard's by its interval
    AccuracyUndetermined,   // the accuracy drop's interval contains delta
    OffAboveOn,             // accurate, off/on above 1
    NoGainOverWeakStandard, // accurate, the standard is weak and off/on relative to it is not below 1
    OffBelowOn,             // accurate, off/on below 1 (and below the standard's, or the standard's is below 1)
    OffOnUndetermined,      // accurate, neither of the above by the intervals
    UntrainedControl,       // the untrained control: measured for comparison, placed in no regime
}

/// <summary>One point of a sweep's curves: the runs (seeds) of one dataset, objective and strength; or one
/// imported model (<paramref name="Model"/> its name, no objective), a point of its own on no objective's
/// curve.</summary>
public sealed record Level(string Dataset, ObjectiveKind? Objective, double Strength, IReadOnlyList<JobResult> Runs,
    string? Model = null)
{
    public bool IsStandard => Objective == ObjectiveKind.Standard && !IsImported;
    public bool IsImported => Model is not null;
    /// <summary>The untrained control of the dataset (`measure.untrainedControl`).</summary>
    public bool IsUntrained => Completed.Count > 0 && Completed.All(r => r.Untrained);
    /// <summary>A point of an objective's strength curve (neither the standard model nor an imported one).</summary>
    public bool OnCurve => Objective is not null && !IsStandard && !IsImported;
    /// <summary>The objective's name as results and reports spell it ("imported" for an imported model).</summary>
    public string ObjectiveName => IsImported || Objective is not ObjectiveKind kind ? ImportedModel.Objective
        : Vocabulary.Name(kind);
    public IReadOnlyList<JobResult> Completed => Runs.Where(r => r.Status == JobState.Completed).ToList();
    public bool Contains(JobResult r) => Runs.Any(x => ReferenceEquals(x, r));
    public string Label => IsImported ? $"{ObjectiveName} {Model}" : IsStandard ? ObjectiveName
        : $"{ObjectiveName} {Strength.ToString("G3", CultureInfo.InvariantCulture)}";
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

    /// <summary>Per test image 1 (correct) or 0: the stored outcomes where every run has them, else k ones and
    /// n - k zeros per run (enough for the mean, not for pairing with another model).</summary>
    public Sample Accuracy => Values(Outcomes) is { } stored && stored.Runs.Count == Completed.Count ? stored
        : Values(r => r.CorrectPerImage()) ?? new Sample(Array.Empty<double[]>());

    /// <summary>Per-image test outcomes of this level and <paramref name="other"/>, matched by seed; null when either
    /// lacks them (results without per-image outcomes) or the seeds differ.</summary>
    public (Sample Mine, Sample Theirs)? PairedAccuracy(Level other) => PairedWith(other, Outcomes);

    /// <summary>Test accuracy: one seed's exact binomial interval, or the bootstrap over seeds and images.</summary>
    public Estimate AccuracyEstimate => Completed.Count == 1 ? Completed[0].TestAccuracy : Bootstrap.Mean(Accuracy);
    public Sample? On(double epsilon) => Values(r => r.At(epsilon)?.OnPerImage);
    public Sample? Off(double epsilon) => Values(r => r.At(epsilon)?.OffPerImage);

    /// <summary>
    /// This level's and <paramref name="other"/>'s values of one quantity with runs matched by seed, so the two can
    /// be resampled together (same images, same draws): null unless both have exactly the same seeds, each once,
    /// with values of equal length.
    /// </summary>
    public (Sample Mine, Sample Theirs)? PairedWith(Level other, Func<JobResult, double[]?> pick)
    {
        if (BySeed(this, pick) is not { } mine || BySeed(other, pick) is not { } theirs) return null;
        bool matched = mine.Seeds.SequenceEqual(theirs.Seeds)
                       && mine.Values.Zip(theirs.Values).All(p => p.First.Length == p.Second.Length);
        return matched ? (new Sample(mine.Values), new Sample(theirs.Values)) : null;
    }

    static (long[] Seeds, List<double[]> Values)? BySeed(Level level, Func<JobResult, double[]?> pick)
    {
        var runs = level.Completed.OrderBy(r => r.Seed).ToList();
        var values = runs.Select(pick).ToList();
        if (runs.Count == 0 || runs.Select(r => r.Seed).Distinct().Count() != runs.Count
            || !values.All(v => v is { Length: > 0 } && v.All(double.IsFinite))) return null;
        return (runs.Select(r => r.Seed).ToArray(), values.Select(v => v!).ToList());
    }

    static double[]? Outcomes(JobResult r) =>
        r.TestCorrectPerImage is { } c ? Array.ConvertAll(c, v => (double)v) : null;

    /// <summary>Levels in sweep order: by dataset, the standard model first, then each objective by strength.</summary>
    public static List<Level> Of(IReadOnlyList<JobResult> results) =>
        results.GroupBy(r => (r.Dataset, r.Objective, r.Strength, r.Model))
            .Select(g => new Level(g.Key.Dataset, ObjectiveOf(g.Key.Objective), g.Key.Strength, g.ToList(),
                g.Key.Model))
            .OrderBy(l => l.Dataset, StringComparer.Ordinal).ThenBy(l => l.IsStandard ? 0 : l.IsImported ? 2 : 1)
            .ThenBy(l => l.ObjectiveName, StringComparer.Ordinal).ThenBy(l => l.Strength)
            .ThenBy(l => l.Model, StringComparer.Ordinal).ToList();

    static ObjectiveKind? ObjectiveOf(string name) =>
        Vocabulary.TryParse<ObjectiveKind>(name, out var kind) ? kind : null;
}

/// <summary>A level's regime, the condition of the rule that decided it, and the numbers behind it.</summary>
public sealed record LevelRegime(Level Level, Regime Regime, RegimeCause Cause, string Reason)
{
    /// <summary>The model no longer works as a classifier (chance accuracy or a near-constant output).</summary>
    public bool Collapsed => Cause is RegimeCause.Collapsed or RegimeCause.NearConstant;
}

/// <summary>
/// The regime rule, derived from PAGs Section 5 ("Three regimes of robustness") and the Figure 6 caption
/// (docs/experiments.md has the derivation). Per level (seeds pooled), against the standard model of the same
/// dataset, at one perturbation norm epsilon on the sweep's output measure, every comparison by its 95% bootstrap
/// interval, paired over the same images and draws where the results allow:
///   none: no standard model, or it is not above chance (undertrained): nothing can be judged;
///   excessive: collapsed (accuracy not above chance, or a near-constant output), or the accuracy drop against the
///              standard is above delta, or on-manifold sensitivity is below kappa x the standard's;
///   none (accuracy undetermined): the drop's interval contains delta;
///   then, among accurate models only:
///   weak: off/on above 1, or the standard is weak and off/on relative to the standard's is not below 1;
///   bayes-aligned: off/on below 1, and below the standard's (relative below 1) unless the standard's is below 1 too;
///   boundary: neither.
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

    /// <summary>
    /// delta: the largest accuracy drop against the standard model that still counts as accurate. Two points: the
    /// paper's Bayes-aligned models keep the standard's accuracy within a few points (Figure 3 bottom), while the
    /// drops the paper calls excessive are sharp (tens of points); a model that lost more than two points no
    /// longer answers "does an accurate model have PAGs?".
    /// </summary>
    public double AccuracyTolerance { get; init; } = 0.02;

    /// <summary>
    /// kappa: on-manifold sensitivity below this fraction of the standard's is on-manifold insensitivity, the cause
    /// Section 5 gives for the excessive regime. One half: Figure 3's green curves stay within their spread until
    /// they fall, and a halving is well outside the seed-to-seed spread of on-manifold sensitivity.
    /// </summary>
    public double OnManifoldFactor { get; init; } = 0.5;

    public void Validate(string where)
    {
        Require.That(AccuracyTolerance is >= 0 and < 1, $"{where}: regimes.accuracyTolerance must be in [0, 1)");
        Require.That(OnManifoldFactor is > 0 and <= 1, $"{where}: regimes.onManifoldFactor must be in (0, 1]");
        Require.That(ConstantOutput is > 0 and < 1, $"{where}: regimes.constantOutput must be in (0, 1)");
        Require.That(Epsilon is not double e || e > 0 && double.IsFinite(e), $"{where}: regimes.epsilon must be > 0");
    }

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
        var standards = levels.Where(l => l.IsStandard).ToList();
        var classified = new List<LevelRegime>();
        foreach (var level in levels)
        {
            var standard = standards.FirstOrDefault(s => s.Dataset == level.Dataset);
            // the standard first, so the others can ask whether it is weak
            var standardRegime = standard is null || level.IsStandard ? null
                : classified.FirstOrDefault(c => ReferenceEquals(c.Level, standard));
            classified.Add(Classify(level, standard, standardRegime, eps));
        }
        return classified;
    }

    LevelRegime Classify(Level level, Level? standard, LevelRegime? standardRegime, double? eps)
    {
        LevelRegime Is(Regime regime, RegimeCause cause, string reason) => new(level, regime, cause, reason);
        if (level.Completed.Count == 0) return Is(Regime.Diverged, RegimeCause.Diverged, "every seed diverged");
        if (level.IsUntrained)
            return Is(Regime.Unclassified, RegimeCause.UntrainedControl,
                "untrained control (same tangents, images and draws): measured for comparison, in no regime");
        if (standard is null || standard.Completed.Count == 0)
            return Is(Regime.Unclassified, RegimeCause.NoStandard,
                $"no trained standard model of {level.Dataset} to compare with");
        double chance = level.Chance;
        var standardAccuracy = standard.AccuracyEstimate;
        if (!standardAccuracy.Above(chance))
            return Is(Regime.Unclassified, RegimeCause.Undertrained,
                $"undertrained: the standard model's test accuracy {standardAccuracy.Text()} is not above chance "
                    + $"({chance:G3}), so no model of {level.Dataset} can be placed in a regime");
        var accuracy = level.AccuracyEstimate;
        if (!accuracy.Above(chance))
            return Is(Regime.Excessive, RegimeCause.Collapsed,
                $"collapsed: test accuracy {accuracy.Text()} is not above chance ({chance:G3})");
        if (eps is not double e || level.On(e) is not { } on || level.Off(e) is not { } off
            || standard.On(e) is not { } standardOn || standard.Off(e) is not { } standardOff)
            return Is(Regime.Unclassified, RegimeCause.NoMeasurement, "no on/off-manifold measurement to compare");
        if (on.Mean < ConstantOutput * standardOn.Mean && off.Mean < ConstantOutput * standardOff.Mean)
            return Is(Regime.Excessive, RegimeCause.NearConstant,
                $"near-constant output: on {on.Mean:G3} and off {off.Mean:G3} are below {ConstantOutput:G3} x "
                    + $"the standard model's (accuracy {accuracy.Text()})");
        var comparison = level.IsStandard ? null : Compare(level, standard, e);
        if (comparison is { } c && Excessive(c) is { } excessive) return Is(Regime.Excessive, excessive.Cause,
            excessive.Reason);
        if (comparison is { } u && !u.Drop.Below(AccuracyTolerance))
            return Is(Regime.Unclassified, RegimeCause.AccuracyUndetermined,
                $"accuracy undetermined: the drop's interval contains the tolerance {AccuracyTolerance:G3} "
                    + $"({u.Text(AccuracyTolerance, OnManifoldFactor)})");
        return AmongAccurate(level, standardRegime, Bootstrap.Ratio(off, on), comparison, e, accuracy);
    }

    (RegimeCause Cause, string Reason)? Excessive(StandardComparison c)
    {
        string numbers = c.Text(AccuracyTolerance, OnManifoldFactor);
        if (c.Drop.Above(AccuracyTolerance))
            return (RegimeCause.AccuracyDrop,
                $"inaccurate: the accuracy drop is above {AccuracyTolerance:G3} ({numbers})");
        if (c.OnRatio.Below(OnManifoldFactor))
            return (RegimeCause.OnManifoldInsensitive,
                $"insensitive on the manifold: on is below {OnManifoldFactor:G3} x the standard's ({numbers})");
        return null;
    }

    /// <summary>Weak, Bayes-aligned or their boundary, for a model known to be accurate.</summary>
    LevelRegime AmongAccurate(Level level, LevelRegime? standardRegime, Estimate ratio,
        StandardComparison? comparison, double eps, Estimate accuracy)
    {
        string at = $"off/on {ratio.Text()} at eps {eps.ToString("G3", CultureInfo.InvariantCulture)}"
            + (comparison is { } c ? $", relative to the standard's off/on {c.RelativeOffOn.Text()}; "
                + c.Text(AccuracyTolerance, OnManifoldFactor) : $"; accuracy {accuracy.Text()}");
        bool standardWeak = standardRegime?.Regime == Regime.Weak;
        bool standardBelowOne = standardRegime?.Cause == RegimeCause.OffBelowOn;
        LevelRegime Is(Regime regime, RegimeCause cause, string what) => new(level, regime, cause, $"{what}: {at}");
        if (ratio.Above(1))
            return Is(Regime.Weak, RegimeCause.OffAboveOn, "accurate but more sensitive off the manifold than on it");
        if (comparison is { } w && standardWeak && !w.RelativeOffOn.Below(1))
            return Is(Regime.Weak, RegimeCause.NoGainOverWeakStandard,
                "accurate, and not more off-manifold robust than the weak standard model");
        if (ratio.Below(1) && (comparison is null || comparison.RelativeOffOn.Below(1) || standardBelowOne))
            return Is(Regime.BayesAligned, RegimeCause.OffBelowOn, "accurate and relatively off-manifold robust");
        return Is(Regime.Boundary, RegimeCause.OffOnUndetermined, "accurate; off and on are not distinguishable");
    }

    /// <summary>A level against the standard model: accuracy drop, on-manifold sensitivity as a fraction of the
    /// standard's, and off/on as a fraction of the standard's off/on; paired where both have the same seeds, images
    /// and draws.</summary>
    static StandardComparison Compare(Level level, Level standard, double eps)
    {
        var accuracy = level.PairedAccuracy(standard);
        var drop = accuracy is { } a
            ? Bootstrap.Of(new[] { new Bootstrap.Group(new[] { a.Theirs, a.Mine }) }, m => m[0][0] - m[0][1])
            : Bootstrap.Difference(standard.Accuracy, level.Accuracy);
        var on = level.PairedWith(standard, r => r.At(eps)?.OnPerImage);
        var off = level.PairedWith(standard, r => r.At(eps)?.OffPerImage);
        Estimate onRatio, relative;
        if (on is { } pairedOn && off is { } pairedOff)
        {
            var group = new[] { new Bootstrap.Group(new[] { pairedOff.Mine, pairedOn.Mine, pairedOff.Theirs,
                pairedOn.Theirs }) };
            onRatio = Bootstrap.Of(group, m => m[0][1] / m[0][3]);
            relative = Bootstrap.Of(group, m => m[0][0] / m[0][1] / (m[0][2] / m[0][3]));
        }
        else
        {
            var groups = new[] { new Bootstrap.Group(new[] { level.Off(eps)!, level.On(eps)! }),
                new Bootstrap.Group(new[] { standard.Off(eps)!, standard.On(eps)! }) };
            onRatio = Bootstrap.Of(groups, m => m[0][1] / m[1][1]);
            relative = Bootstrap.Of(groups, m => m[0][0] / m[0][1] / (m[1][0] / m[1][1]));
        }
        return new StandardComparison(drop, onRatio, relative, accuracy is not null, on is not null && off is not null);
    }
}

/// <summary>The rule's tolerances as a command sets them (unset: the spec's).</summary>
public sealed record RegimeSettings(double? AccuracyTolerance = null, double? OnManifoldFactor = null)
{
    public RegimeRule Apply(RegimeRule rule, string where)
    {
        var applied = rule with
        {
            AccuracyTolerance = AccuracyTolerance ?? rule.AccuracyTolerance,
            OnManifoldFactor = OnManifoldFactor ?? rule.OnManifoldFactor,
        };
        applied.Validate(where);
        return applied;
    }
}

/// <summary>A level against its standard model: the accuracy drop (standard's minus the level's), on / standard's on,
/// and (off/on) / standard's (off/on), each with its interval and whether it was paired.</summary>
public sealed record StandardComparison(Estimate Drop, Estimate OnRatio, Estimate RelativeOffOn, bool AccuracyPaired,
    bool SensitivityPaired)
{
    public string Text(double delta, double kappa) =>
        $"accuracy drop {Drop.Text()} vs tolerance {delta:G3}{(AccuracyPaired ? " (paired)" : "")}, "
        + $"on / standard's on {OnRatio.Text()} vs {kappa:G3}{(SensitivityPaired ? " (paired)" : "")}";
}
