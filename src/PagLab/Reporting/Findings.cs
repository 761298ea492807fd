using System.Globalization;
using PagLab.Common;
using PagLab.Experiments;
using PagLab.Objectives;
using PagLab.Uncertainty;
using Sample = PagLab.Uncertainty.Bootstrap.Sample;

namespace PagLab.Reporting;

public enum Outcome
{
    [Name("held", "the interval supports the claim")] Held,
    [Name("did not hold", "the interval contradicts the claim")] NotHeld,
    [Name("inconclusive", "the interval decides neither way, or a measurement is missing")] Inconclusive,
    [Name("not testable here", "a control shows the measurement cannot decide the claim at this scale")] NotTestable,
}

/// <summary>One of the paper's claims checked on a sweep: held, did not hold, or inconclusive, with the numbers behind
/// it.</summary>
public sealed record Finding(string Id, string Dataset, string? Objective, string Claim, Outcome Outcome,
    string Evidence)
{
    public string OutcomeText => Vocabulary.Name(Outcome);
}

/// <summary>
/// The paper's findings as tests over typed results (no torch, no files). Every comparison is by a
/// 95% bootstrap interval (<see cref="Bootstrap"/>): a difference counts only when its interval
/// excludes 0; trends are Spearman's rank correlation with a bootstrap interval, not read off point
/// estimates. Curves start at the standard model (strength 0 of every objective).
/// </summary>
public static class Findings
{
    public const string StandardOffAboveOn = "standard-off-above-on", OffFalls = "off-falls", OnFlat = "on-flat",
        RelativeOffRobustnessGrows = "relative-off-robustness-grows", AlignmentPeaks = "alignment-peaks",
        BayesAlignedMostAligned = "bayes-aligned-most-aligned",
            BayesAlignedNearestBayes = "bayes-aligned-nearest-bayes",
        StandardRelativeNoise = "standard-relative-noise", RobustRelativeNoise = "robust-relative-noise",
            Trained = "trained";

    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Alignment per image: 1 - LPIPS when every run has it, else SSIM.</summary>
    public static Func<JobResult, double[]?> AlignmentMetric(bool haveLpips) =>
        haveLpips ? r => r.Alignment?.OneMinusLpipsPerImage : r => r.Alignment?.SsimPerImage;

    /// <param name="scoreAdequacy">Per dataset, whether its score can support an alignment finding (null: not
    /// judged). A finding about alignment to a score judged too poor is inconclusive, whatever its numbers.</param>
    public static List<Finding> Compute(IReadOnlyList<LevelRegime> regimes, double? epsilon, bool haveLpips,
        Func<string, Score.ScoreAdequacy?>? scoreAdequacy = null)
    {
        var findings = ComputeUnqualified(regimes, epsilon, haveLpips);
        return findings.Select(f => f.Id is AlignmentPeaks or BayesAlignedMostAligned
            && scoreAdequacy?.Invoke(f.Dataset) is { Adequate: false } poor
                ? f with { Outcome = Outcome.Inconclusive,
                    Evidence = $"the score is too poor to support this ({poor.Reason}); measured: {f.Evidence}" }
                : f).ToList();
    }

    static List<Finding> ComputeUnqualified(IReadOnlyList<LevelRegime> regimes, double? epsilon, bool haveLpips)
    {
        var findings = new List<Finding>();
        foreach (var dataset in regimes.Select(r => r.Level.Dataset).Distinct())
        {
            var mine = regimes.Where(r => r.Level.Dataset == dataset && r.Level.Completed.Count > 0).ToList();
            var standard = mine.FirstOrDefault(r => r.Level.IsStandard)?.Level;
            var undertrained = mine.FirstOrDefault(r => r.Cause == RegimeCause.Undertrained);
            if (undertrained is not null)
            {
                findings.Add(new Finding(Trained, dataset, null,
                    "The models are trained well enough to test the paper's claims",
                    Outcome.NotHeld, undertrained.Reason + "; no finding is drawn from this dataset."));
                continue;
            }
            if (standard is null) continue;
            var objectives = mine.Where(r => r.Level.OnCurve).Select(r => r.Level.Objective!.Value).Distinct().ToList();
            if (epsilon is not null && OnOffCells.Of(standard) is { Count: > 0 } cells)
                findings.AddRange(OnOffFindings(dataset, mine, standard, objectives, cells));
            var alignment = AlignmentMetric(haveLpips);
            string metric = haveLpips ? "1 - LPIPS" : "SSIM";
            var untrained = mine.FirstOrDefault(r => r.Level.IsUntrained)?.Level;
            Finding WithControl(Finding f, IEnumerable<Level> trained) =>
                f with { Evidence = f.Evidence + AlignmentControl(untrained, trained, alignment, metric) };
            foreach (var objective in objectives)
            {
                var curve = Curve(mine, objective).Select(r => r.Level).Prepend(standard).ToList();
                findings.Add(WithControl(AlignmentPeak(dataset, Vocabulary.Name(objective), curve, alignment, metric),
                    curve));
            }
            var compared = mine.Where(r => r.Regime is Regime.Weak or Regime.BayesAligned or Regime.Excessive)
                .Select(r => r.Level);
            if (mine.Any(r => r.Level.Values(alignment) is not null))
                findings.Add(WithControl(RegimeComparison(BayesAlignedMostAligned, dataset, mine, alignment,
                    $"Bayes-aligned models have the most perceptually aligned gradients ({metric} to the score; "
                        + $"Figure 6)"), compared));
            var bayes = (Func<JobResult, double[]?>)(r => r.Alignment?.BayesCosinePerImage);
            if (mine.Any(r => r.Level.Values(bayes) is not null))
                findings.Add(RegimeComparison(BayesAlignedNearestBayes, dataset, mine, bayes,
                    "Bayes-aligned models have the gradients closest to the Bayes-optimal classifier's (cosine; "
                        + "ground truth)"));
            if (Noise(standard) is { } standardNoise)
            {
                findings.Add(StandardNoise(dataset, standardNoise));
                foreach (var objective in objectives)
                    findings.Add(RobustNoise(dataset, Vocabulary.Name(objective), standardNoise,
                        Curve(mine, objective)));
            }
        }
        return findings;
    }

    /// <summary>The levels of one objective's strength curve (imported models and the standard excluded).</summary>
    static List<LevelRegime> Curve(IEnumerable<LevelRegime> levels, ObjectiveKind objective) =>
        levels.Where(r => r.Level.OnCurve && r.Level.Objective == objective).ToList();

    /// <summary>The four on/off findings, each evaluated at every cell (k, eps) and combined
    /// (<see cref="OnOffCells.Combine"/>).</summary>
    static IEnumerable<Finding> OnOffFindings(string dataset, IReadOnlyList<LevelRegime> mine, Level standard,
        IReadOnlyList<ObjectiveKind> objectives, IReadOnlyList<OnOffCell> cells)
    {
        var untrained = mine.FirstOrDefault(r => r.Level.IsUntrained)?.Level;
        yield return OnOffCells.Combine(cells, c => StandardOffOverOn(dataset, standard, untrained, c));
        foreach (var objective in objectives)
        {
            var curve = Curve(mine, objective).Select(r => r.Level).Prepend(standard).ToList();
            string name = Vocabulary.Name(objective);
            yield return OnOffCells.Combine(cells, c => OffFalling(dataset, name, curve, c));
            yield return OnOffCells.Combine(cells, c => OnFlatWhileOffFalls(dataset, name, curve, c));
            var working = Curve(mine, objective).Where(r => !r.Collapsed).Select(r => r.Level)
                .Prepend(standard).ToList();
            yield return OnOffCells.Combine(cells, c => RelativeRobustnessGrowing(dataset, name, working, untrained,
                c));
        }
    }

    /// <summary>Figure 3, left end: the standard model is more sensitive off the manifold than on it.</summary>
    /// <summary>Not testable when the untrained control is already below 1: off/on below 1 is then a property of
    /// the architecture and the perturbations, not something training did (issue 24).</summary>
    static Finding StandardOffOverOn(string dataset, Level standard, Level? untrained, OnOffCell cell)
    {
        const string claim =
            "The standard model is less robust off the manifold than on it (Figure 3: red above green at strength 0)";
        if (cell.On(standard) is not { } standardOn || cell.Off(standard) is not { } standardOff)
            return new Finding(StandardOffAboveOn, dataset, null, claim, Outcome.Inconclusive,
                $"the standard model was not measured at {cell.Text}");
        var ratio = PairedRatio(standardOff, standardOn);
        string numbers = $"off/on {ratio.Text()} at {cell.Text} (held if the interval is above 1)";
        var control = untrained is null ? null : OffOverOn(untrained, cell);
        if (control is not null && control.Below(1))
            return new Finding(StandardOffAboveOn, dataset, null, claim, Outcome.NotTestable,
                $"an untrained model of the same architecture is already at off/on {control.Text()} (below 1) on the "
                + $"same tangents, images and draws, so a standard model below 1 says nothing about training; "
                + numbers + $", relative to the untrained's {RatioOfRatios(standard, untrained!, cell)!.Text()}");
        var outcome = ratio.Above(1) ? Outcome.Held : ratio.Below(1) ? Outcome.NotHeld : Outcome.Inconclusive;
        return new Finding(StandardOffAboveOn, dataset, null, claim, outcome,
            numbers + (control is null ? "" : $"; untrained control off/on {control.Text()}, the standard's relative "
                + $"to it {RatioOfRatios(standard, untrained!, cell)!.Text()}"));
    }

    /// <summary>A level's off/on at a cell (paired over its images and draws); null when not measured there.
    /// </summary>
    static Estimate? OffOverOn(Level level, OnOffCell cell) =>
        cell.On(level) is { } on && cell.Off(level) is { } off ? PairedRatio(off, on) : null;

    /// <summary>A level's off/on over another's (the standard's or the untrained control's) at one cell, each
    /// resampled over its own images: below 1 means relatively more off-manifold robust than the reference.
    /// </summary>
    static Estimate? RatioOfRatios(Level level, Level reference, OnOffCell cell)
    {
        if (cell.On(level) is not { } on || cell.Off(level) is not { } off || cell.On(reference) is not { } refOn
            || cell.Off(reference) is not { } refOff) return null;
        var groups = new[] { new Bootstrap.Group(new[] { off, on }), new Bootstrap.Group(new[] { refOff, refOn }) };
        return Bootstrap.Of(groups, m => m[0][0] / m[0][1] / (m[1][0] / m[1][1]));
    }

    /// <summary>Figure 3 top: off-manifold sensitivity decreases with the strength of the robustness
    /// objective.</summary>
    static Finding OffFalling(string dataset, string objective, IReadOnlyList<Level> curve, OnOffCell cell)
    {
        const string claim = "Off-manifold sensitivity falls as the robustness objective grows (Figure 3 top, red)";
        var points = curve.Where(l => cell.On(l) is not null && cell.Off(l) is not null).ToList();
        if (points.Count < 3)
            return new Finding(OffFalls, dataset, objective, claim, Outcome.Inconclusive,
                $"only {points.Count} measured strengths (need 3)");
        var rho = Bootstrap
            .Spearman(points.Select(l => l.Strength).ToArray(), points.Select(l => cell.Off(l)!).ToList());
        return new Finding(OffFalls, dataset, objective, claim, Falling(rho),
            $"Spearman's rho of off vs strength {rho.Text()} (held if below 0); off at {cell.Text}: "
                + $"{Curve(points, l => cell.Off(l)!)}");
    }

    /// <summary>
    /// Figure 3 top: on-manifold sensitivity stays roughly constant while off falls. Walking up the
    /// strengths, on stays "flat" while its difference to the standard's has an interval containing 0;
    /// held up to the largest strength where on is still flat and off has fallen below the standard's.
    /// </summary>
    static Finding OnFlatWhileOffFalls(string dataset, string objective, IReadOnlyList<Level> curve, OnOffCell cell)
    {
        const string claim = "On-manifold sensitivity stays within its interval of the standard model's while "
            + "off-manifold sensitivity falls (Figure 3 top, green flat)";
        var standard = curve[0];
        Level? flatUpTo = null;
        string flatNumbers = "", brokeAt = "";
        if (cell.On(standard) is null || cell.Off(standard) is null)
            return new Finding(OnFlat, dataset, objective, claim, Outcome.Inconclusive,
                $"the standard model was not measured at {cell.Text}");
        foreach (var level in curve.Skip(1).Where(l => cell.On(l) is not null && cell.Off(l) is not null))
        {
            var onChange = Bootstrap.Difference(cell.On(level)!, cell.On(standard)!);
            var offChange = Bootstrap.Difference(cell.Off(level)!, cell.Off(standard)!);
            string numbers = $"at {level.Label}: on - standard's {onChange.Text()}, off - standard's "
                + $"{offChange.Text()}";
            if (onChange.Below(0) || onChange.Above(0)) { brokeAt = numbers; break; }
            if (offChange.Below(0)) { flatUpTo = level; flatNumbers = numbers; }
        }
        if (flatUpTo is not null)
            return new Finding(OnFlat, dataset, objective, claim, Outcome.Held,
                $"flat up to strength {flatUpTo.Strength.ToString("G3", Inv)} ({flatNumbers})"
                + (brokeAt.Length > 0 ? $"; then on moved: {brokeAt}" : "; on never left its interval"));
        if (brokeAt.Length > 0)
            return new Finding(OnFlat, dataset, objective, claim, Outcome.NotHeld,
                $"on moved before (or when) off fell below the standard's: {brokeAt}");
        return new Finding(OnFlat, dataset, objective, claim, Outcome.Inconclusive,
            $"off never fell below the standard's by its interval at {cell.Text}, so flatness while off falls cannot "
                + $"be judged");
    }

    /// <summary>Definition 1 / Figure 3: models become relatively off-manifold robust (off/on falls), collapsed models
    /// excluded.</summary>
    /// <summary>The evidence gives each level's off/on relative to the standard's and, when measured, to the
    /// untrained control's.</summary>
    static Finding RelativeRobustnessGrowing(string dataset, string objective, IReadOnlyList<Level> curve,
        Level? untrained, OnOffCell cell)
    {
        const string claim = "Robust training makes models relatively off-manifold robust: off/on falls with "
            + "strength (Definition 1, Figure 3)";
        var points = curve.Where(l => cell.On(l) is not null && cell.Off(l) is not null).ToList();
        if (points.Count < 3)
            return new Finding(RelativeOffRobustnessGrows, dataset, objective, claim, Outcome.Inconclusive,
                $"only {points.Count} responsive strengths (need 3; collapsed models have no off/on)");
        var groups = points.Select(l => new Bootstrap.Group(new[] { cell.Off(l)!, cell.On(l)! })).ToList();
        double[] x = points.Select(l => l.Strength).ToArray();
        var rho = Bootstrap.Of(groups, m => Ranks.Spearman(x, m.Select(g => g[0] / g[1]).ToArray()));
        var standard = curve[0];
        string Relative(Level l) =>
            (!ReferenceEquals(l, standard) && RatioOfRatios(l, standard, cell) is { } s
                ? $", / standard's {s.Text()}" : "")
            + (untrained is not null && RatioOfRatios(l, untrained, cell) is { } u ? $", / untrained's {u.Text()}"
                : "");
        var ratios = points.Select(l => $"{l.Label}: {OffOverOn(l, cell)!.Text()}{Relative(l)}");
        return new Finding(RelativeOffRobustnessGrows, dataset, objective, claim, Falling(rho),
            $"Spearman's rho of off/on vs strength {rho.Text()} (held if below 0); off/on at {cell.Text}: "
                + $"{string.Join("; ", ratios)}");
    }

    /// <summary>
    /// Figure 3 bottom: alignment peaks at an intermediate strength. Held if some interior strength is
    /// above both ends by its intervals; not held if every interior strength is below an end.
    /// </summary>
    static Finding AlignmentPeak(string dataset, string objective, IReadOnlyList<Level> curve,
        Func<JobResult, double[]?> metric, string name)
    {
        string claim = $"Perceptual alignment ({name}) peaks at an intermediate strength (Figure 3 bottom)";
        var points = curve.Where(l => l.Values(metric) is not null).ToList();
        if (points.Count < 3)
            return new Finding(AlignmentPeaks, dataset, objective, claim, Outcome.Inconclusive,
                $"only {points.Count} measured strengths (need 3)");
        Sample first = points[0].Values(metric)!, last = points[^1].Values(metric)!;
        bool anyAbove = false, allBelow = true;
        var notes = new List<string>();
        foreach (var level in points.Skip(1).SkipLast(1))
        {
            var sample = level.Values(metric)!;
            var overFirst = Bootstrap.Difference(sample, first);
            var overLast = Bootstrap.Difference(sample, last);
            if (overFirst.Above(0)
                && overLast.Above(0)) { anyAbove = true; notes.Add($"{level.Label} is above both ends "
                    + $"({overFirst.Text()}, {overLast.Text()})"); }
            if (!overFirst.Below(0) && !overLast.Below(0)) allBelow = false;
        }
        var outcome = anyAbove ? Outcome.Held : allBelow ? Outcome.NotHeld : Outcome.Inconclusive;
        return new Finding(AlignmentPeaks, dataset, objective, claim, outcome,
            $"{name}: {Curve(points, l => l.Values(metric)!)}" + (notes.Count > 0 ? "; " + string.Join("; ", notes)
                : "")
            + (outcome == Outcome.NotHeld ? "; every intermediate strength is below an end" : ""));
    }

    /// <summary>The untrained control's alignment beside a finding about trained levels (empty without the
    /// control): where random weights score as high as the most aligned trained level, the metric does not tell
    /// trained gradients from random ones at this scale, whatever the finding's outcome.</summary>
    static string AlignmentControl(Level? untrained, IEnumerable<Level> trained, Func<JobResult, double[]?> metric,
        string name)
    {
        if (untrained?.Values(metric) is not { } control) return "";
        var best = trained.Where(l => l.Values(metric) is not null)
            .MaxBy(l => Bootstrap.Mean(l.Values(metric)!).Mean);
        if (best is null) return "";
        var difference = Bootstrap.Difference(best.Values(metric)!, control);
        return $"; untrained control {name} {Bootstrap.Mean(control).Text()}, the most aligned trained level "
            + $"({best.Label}) minus it {difference.Text()}"
            + (difference.Above(0) ? "" : ": the metric does not rate a trained model's gradients above random "
                + "weights' here");
    }

    /// <summary>Figure 6: the bayes-aligned regime beats the weak and the excessive ones on a per-image metric (runs
    /// pooled per regime).</summary>
    static Finding RegimeComparison(string id, string dataset, IReadOnlyList<LevelRegime> regimes,
        Func<JobResult, double[]?> metric, string claim)
    {
        Sample? Pool(Regime regime)
        {
            var runs = regimes.Where(r => r.Regime == regime).SelectMany(r => r.Level.Completed).Select(metric)
                .Where(v => v is { Length: > 0 }).Select(v => v!).ToList();
            return runs.Count == 0 ? null : new Sample(runs);
        }
        var bayes = Pool(Regime.BayesAligned);
        var others = new[] { Regime.Weak, Regime.Excessive }.Select(r => (Regime: r, Sample: Pool(r)))
            .Where(o => o.Sample is not null).ToList();
        if (bayes is null || others.Count == 0)
            return new Finding(id, dataset, null, claim, Outcome.Inconclusive,
                bayes is null ? "no run is bayes-aligned" : "no weak or excessive run to compare with");
        var differences = others.Select(o => (o.Regime, Difference: Bootstrap.Difference(bayes, o.Sample!))).ToList();
        var outcome = differences.All(d => d.Difference.Above(0)) ? Outcome.Held
            : differences.Any(d => d.Difference.Below(0)) ? Outcome.NotHeld : Outcome.Inconclusive;
        return new Finding(id, dataset, null, claim, outcome,
            $"bayes-aligned {Bootstrap.Mean(bayes).Text()}; " + string.Join("; ", differences.Select(d =>
                $"{d.Regime.Name()} {Bootstrap.Mean(others.First(o => o.Regime == d.Regime).Sample!).Text()}, "
                    + $"difference {d.Difference.Text()}")));
    }

    /// <summary>Per image, signal and distractor output changes averaged over sigma > 0, for the completed
    /// runs.</summary>
    static (Sample Signal, Sample Distractor)? Noise(Level level)
    {
        var runs = level.Completed.Where(r => r.Distractor.Any(p => p.Sigma > 0))
            .Select(r => DistractorRobustness.MeanOverSigmas(r.Distractor)).ToList();
        if (runs.Count == 0) return null;
        return (new Sample(runs.Select(r => r.Signal).ToList()), new Sample(runs.Select(r => r.Distractor).ToList()));
    }

    /// <summary>Figure 5: the standard model is already more robust to noise on the distractor (relative noise
    /// robustness above 1).</summary>
    static Finding StandardNoise(string dataset, (Sample Signal, Sample Distractor) standard)
    {
        var ratio = PairedRatio(standard.Signal, standard.Distractor);
        var outcome = ratio.Above(1) ? Outcome.Held : ratio.Below(1) ? Outcome.NotHeld : Outcome.Inconclusive;
        return new Finding(StandardRelativeNoise, dataset, null,
            "The standard model is more robust to noise on the distractor than on the signal (Figure 5)", outcome,
            $"relative noise robustness (signal / distractor change, averaged over sigma) {ratio.Text()} (held if "
                + $"above 1)");
    }

    /// <summary>Figure 5: the strongest non-excessive model of an objective is relatively more robust on the distractor
    /// than the standard.</summary>
    static Finding RobustNoise(string dataset, string objective, (Sample Signal, Sample Distractor) standard,
        IReadOnlyList<LevelRegime> levels)
    {
        const string claim = "Robust models are relatively more robust to noise on the distractor than the standard "
            + "model (Figure 5)";
        var pick = levels.Where(l => l.Regime is not (Regime.Excessive or Regime.Diverged))
            .OrderByDescending(l => l.Level.Strength)
            .Select(l => (Level: l.Level, Noise: Noise(l.Level))).FirstOrDefault(p => p.Noise is not null);
        if (pick.Noise is not { } robust)
            return new Finding(RobustRelativeNoise, dataset, objective, claim, Outcome.Inconclusive,
                "no non-excessive model with a distractor measurement");
        var groups = new[] { new Bootstrap.Group(new[] { robust.Signal, robust.Distractor }),
            new Bootstrap.Group(new[] { standard.Signal, standard.Distractor }) };
        var difference = Bootstrap.Of(groups, m => m[0][0] / m[0][1] - m[1][0] / m[1][1]);
        var outcome = difference.Above(0) ? Outcome.Held : difference.Below(0) ? Outcome.NotHeld : Outcome.Inconclusive;
        return new Finding(RobustRelativeNoise, dataset, objective, claim, outcome,
            $"{pick.Level.Label} (the strongest non-excessive): "
                + $"{PairedRatio(robust.Signal, robust.Distractor).Text()} vs standard "
            + $"{PairedRatio(standard.Signal, standard.Distractor).Text()}, difference {difference.Text()}");
    }

    static Estimate PairedRatio(Sample a, Sample b) =>
        Bootstrap.Ratio(a, b);

    /// <summary>A falling trend: held if rho's interval is below 0, not held if above.</summary>
    static Outcome Falling(Estimate rho) => rho.Below(0) ? Outcome.Held : rho.Above(0) ? Outcome.NotHeld
        : Outcome.Inconclusive;

    static string Curve(IEnumerable<Level> levels, Func<Level, Sample> sample) =>
        string.Join("; ", levels.Select(l => $"{l.Label} {Bootstrap.Mean(sample(l)).Text()}"));
}
