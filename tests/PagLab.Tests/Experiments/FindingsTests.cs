using PagLab.Experiments;
using PagLab.Reporting;
using static PagLab.Tests.Experiments.Tables;

namespace PagLab.Tests.Experiments;

public class FindingsTests
{
    static Finding Find(string id, string? objective, params JobResult[] table)
    {
        var regimes = new RegimeRule().Classify(TwoEps(table));
        var findings = Findings.Compute(regimes, 1.0, haveLpips: true);
        return findings.Single(f => f.Id == id && (objective is null || f.Objective == objective));
    }

    /// <summary>The standard model plus gnorm at 0.01, 0.1 and 1, with the given on, off (index 0 = standard) and
    /// accuracy 0.95.</summary>
    static JobResult[] Curve(double[] on, double[] off, double spread = 0.1, int images = 40) =>
        on.Select((v, i) => Run(i == 0 ? "standard" : "gnorm", i == 0 ? 0 : Math.Pow(10, i - 3), 0.95, v, off[i],
            spread: spread, images: images)).ToArray();

    [Theory]
    [InlineData(1.0, 2.0, 0.1, Outcome.Held)]
    [InlineData(2.0, 1.0, 0.1, Outcome.NotHeld)]
    [InlineData(1.0, 1.02, 0.8, Outcome.Inconclusive)]
    public void StandardOffAboveOn(double on, double off, double spread, Outcome expected) =>
        Assert.Equal(expected, Find(Findings.StandardOffAboveOn, null, Run("standard", 0, 0.95, on, off,
            spread: spread)).Outcome);

    public static TheoryData<double[], double[], double, Outcome> OffCurves => new()
    {
        { new[] { 1.0, 1, 1, 1 }, new[] { 2.0, 1.5, 1, 0.5 }, 0.1, Outcome.Held },
        { new[] { 1.0, 1, 1, 1 }, new[] { 0.5, 1, 1.5, 2 }, 0.1, Outcome.NotHeld },
        { new[] { 1.0, 1, 1, 1 }, new[] { 1.0, 1, 1, 1 }, 0.9, Outcome.Inconclusive },
    };

    [Theory, MemberData(nameof(OffCurves))]
    public void OffFalls_IsASpearmanTrendWithItsInterval(double[] on, double[] off, double spread, Outcome expected)
    {
        var f = Find(Findings.OffFalls, "gnorm", Curve(on, off, spread, images: 8));
        Assert.Equal(expected, f.Outcome);
        Assert.Contains("Spearman's rho", f.Evidence);
    }

    [Theory, MemberData(nameof(OffCurves))]
    public void RelativeOffRobustnessGrows_IsASpearmanTrendOfOffOverOn(double[] on, double[] off, double spread,
        Outcome expected) =>
        Assert.Equal(expected, Find(Findings.RelativeOffRobustnessGrows, "gnorm", Curve(on, off, spread,
            images: 8)).Outcome);

    [Fact]
    public void OnFlat_Held_SaysUpToWhichStrength()
    {
        var f = Find(Findings.OnFlat, "gnorm", Curve(new[] { 1.0, 1, 1, 0.3 }, new[] { 2.0, 1.5, 1, 0.2 }));
        Assert.Equal(Outcome.Held, f.Outcome);
        Assert.StartsWith("held at every cell (eps 1,4). eps 1: flat up to strength 0.1", f.Evidence);
        Assert.Contains("then on moved: at gnorm 1", f.Evidence);
    }

    [Fact]
    public void OnFlat_NotHeld_WhenOnFallsBeforeOff()
    {
        var f = Find(Findings.OnFlat, "gnorm", Curve(new[] { 1.0, 0.5, 0.3, 0.2 }, new[] { 2.0, 1.5, 1, 0.5 }));
        Assert.Equal(Outcome.NotHeld, f.Outcome);
        Assert.Contains("at gnorm 0.01", f.Evidence);
    }

    [Fact]
    public void OnFlat_Inconclusive_WhenOffNeverFalls() =>
        Assert.Equal(Outcome.Inconclusive, Find(Findings.OnFlat, "gnorm", Curve(new[] { 1.0, 1, 1, 1 }, new[] { 2.0,
            2, 2, 2 })).Outcome);

    [Theory]
    [InlineData(new[] { 0.7, 0.8, 0.9, 0.7 }, 0.05, Outcome.Held)]
    [InlineData(new[] { 0.8, 0.7, 0.7, 0.9 }, 0.05, Outcome.NotHeld)]
    [InlineData(new[] { 0.7, 0.7, 0.7, 0.7 }, 0.9, Outcome.Inconclusive)]
    public void AlignmentPeaks_NeedsAnInteriorStrengthAboveBothEnds(double[] alignment, double spread, Outcome expected)
    {
        var table = Curve(new[] { 1.0, 1, 1, 1 }, new[] { 2.0, 1.5, 1, 0.5 })
            .Select((r, i) => r.WithAlignment(alignment[i], spread: spread)).ToArray();
        Assert.Equal(expected, Find(Findings.AlignmentPeaks, "gnorm", table).Outcome);
    }

    [Theory]
    [InlineData(false, Outcome.Inconclusive)]
    [InlineData(true, Outcome.Held)]
    public void AlignmentFindings_AreInconclusive_WhenTheScoreIsTooPoor(bool adequate, Outcome expected)
    {
        var table = Curve(new[] { 1.0, 1, 1, 1 }, new[] { 2.0, 1.5, 1, 0.5 })
            .Select((r, i) => r.WithAlignment(new[] { 0.7, 0.8, 0.9, 0.7 }[i], spread: 0.05)).ToArray();
        var findings = Findings.Compute(new RegimeRule().Classify(TwoEps(table)), 1.0, haveLpips: true,
            _ => new PagLab.Score.ScoreAdequacy(adequate, "a stated reason"));
        var peak = findings.Single(f => f.Id == Findings.AlignmentPeaks);
        Assert.Equal(expected, peak.Outcome);
        Assert.Equal(!adequate, peak.Evidence.StartsWith("the score is too poor to support this (a stated reason)"));
        // Findings that do not rest on the score keep their outcome.
        var off = findings.Single(f => f.Id == Findings.OffFalls);
        Assert.Equal(Find(Findings.OffFalls, "gnorm", table).Outcome, off.Outcome);
    }

    /// <summary>Standard weak, gnorm 1 bayes-aligned, gnorm 10 excessive, with the given metric per level.</summary>
    static JobResult[] ThreeRegimes(double[] alignment, double[] bayes, double spread) => new[]
    {
        Run("standard", 0, 0.95, 1, 2).WithAlignment(alignment[0], bayes[0], spread),
        Run("gnorm", 1, 0.95, 1, 0.5).WithAlignment(alignment[1], bayes[1], spread),
        Run("gnorm", 10, 0.5, 0.2, 0.1).WithAlignment(alignment[2], bayes[2], spread),
    };

    [Theory]
    [InlineData(new[] { 0.6, 0.8, 0.5 }, 0.05, Outcome.Held)]
    [InlineData(new[] { 0.8, 0.6, 0.5 }, 0.05, Outcome.NotHeld)]
    [InlineData(new[] { 0.7, 0.7, 0.7 }, 0.9, Outcome.Inconclusive)]
    public void BayesAlignedRuns_AreTheMostAligned_AndNearestTheBayesGradient(double[] metric, double spread,
        Outcome expected)
    {
        var table = ThreeRegimes(metric, metric, spread);
        Assert.Equal(expected, Find(Findings.BayesAlignedMostAligned, null, table).Outcome);
        Assert.Equal(expected, Find(Findings.BayesAlignedNearestBayes, null, table).Outcome);
    }

    [Theory]
    [InlineData(1.0, 0.5, 0.1, Outcome.Held)]
    [InlineData(0.5, 1.0, 0.1, Outcome.NotHeld)]
    [InlineData(1.0, 1.0, 0.9, Outcome.Inconclusive)]
    public void StandardRelativeNoise_IsSignalOverDistractorChange(double signal, double distractor, double spread,
        Outcome expected) =>
        Assert.Equal(expected, Find(Findings.StandardRelativeNoise, null, Run("standard", 0, 0.95, 1,
            2).WithNoise(signal, distractor, spread)).Outcome);

    [Theory]
    [InlineData(1.0, 0.2, 0.1, Outcome.Held)]
    [InlineData(1.0, 0.0, 0.1, Outcome.Held)]      // ignores the distractor: infinitely more robust there
    [InlineData(1.0, 2.0, 0.1, Outcome.NotHeld)]
    [InlineData(1.0, 1.0, 0.9, Outcome.Inconclusive)]
    public void RobustRelativeNoise_ComparesTheStrongestWorkingModelWithTheStandard(double signal, double distractor,
        double spread, Outcome expected)
    {
        var table = new[]
        {
            Run("standard", 0, 0.95, 1, 2).WithNoise(1, 1, spread),
            Run("pgd", 0.5, 0.95, 1, 0.5).WithNoise(signal, distractor, spread),
            Run("pgd", 8, 0.1, 0, 0).WithNoise(1, 0.001, spread),                 // collapsed: excessive, never picked
        };
        var f = Find(Findings.RobustRelativeNoise, "pgd", table);
        Assert.Equal(expected, f.Outcome);
        Assert.StartsWith("pgd 0.5 (the strongest non-excessive)", f.Evidence);
    }

    [Fact]
    public void UndertrainedDataset_DrawsNoFinding_AndSaysWhy()
    {
        var regimes = new RegimeRule().Classify(new[] { Run("standard", 0, 0.078, 1, 0.5, testImages: 64),
            Run("gnorm", 1, 0.09, 1, 0.4, testImages: 64) });
        var f = Assert.Single(Findings.Compute(regimes, 1.0, haveLpips: false));
        Assert.Equal((Findings.Trained, Outcome.NotHeld), (f.Id, f.Outcome));
        Assert.Contains("not above chance", f.Evidence);
    }

    static readonly string[] ManifoldFindings =
        { Findings.StandardOffAboveOn, Findings.OffFalls, Findings.OnFlat, Findings.RelativeOffRobustnessGrows };

    [Fact]
    public void NothingMeasuredOnTheManifold_NoManifoldFindingIsStated()
    {
        var table = Curve(new[] { 1.0, 1, 1, 1 }, new[] { 2.0, 1.5, 1, 0.5 })
            .Select(r => r with { Sensitivity = new() }).ToArray();
        var findings = Findings.Compute(new RegimeRule().Classify(table), 1.0, haveLpips: true);
        Assert.DoesNotContain(findings, f => ManifoldFindings.Contains(f.Id) && f.Outcome != Outcome.Inconclusive);
    }

    [Fact]
    public void NonFiniteMeasurements_NeverHoldOrFail_AFinding()
    {
        // An overflowed measurement (off = +Infinity at every strength) must not decide any manifold finding.
        var table = Curve(new[] { 1.0, 1, 1, 1 }, new[] { double.PositiveInfinity, double.PositiveInfinity,
            double.PositiveInfinity, double.PositiveInfinity });
        var findings = Findings.Compute(new RegimeRule().Classify(table), 1.0, haveLpips: true);
        Assert.DoesNotContain(findings, f => ManifoldFindings.Contains(f.Id) && f.Outcome != Outcome.Inconclusive);
    }

    /// <summary>Findings read the rule's typed cause, never its wording: reworded reasons change no outcome.</summary>
    [Fact]
    public void RewordedReasons_ChangeNoFinding()
    {
        var table = Curve(new[] { 1.0, 1, 1, 1 }, new[] { 2.0, 1.5, 1, 0.5 })
            .Append(Run("gnorm", 100, 0.1, 0, 0)).ToArray();
        var regimes = new RegimeRule().Classify(table);
        var reworded = regimes.Select(r => r with { Reason = "reworded" }).ToList();
        Assert.Equal(Findings.Compute(regimes, 1.0, haveLpips: true).Select(f => (f.Id, f.Objective, f.Outcome)),
            Findings.Compute(reworded, 1.0, haveLpips: true).Select(f => (f.Id, f.Objective, f.Outcome)));
        var undertrained = new RegimeRule().Classify(new[] { Run("standard", 0, 0.078, 1, 0.5, testImages: 64) })
            .Select(r => r with { Reason = "reworded" }).ToList();
        Assert.Equal(Outcome.NotHeld, Assert.Single(Findings.Compute(undertrained, 1.0, haveLpips: false)).Outcome);
    }

    static JobResult Untrained(double on, double off) =>
        Run("imported", 0, 0.1, on, off) with { Model = "untrained", Untrained = true, Id = "untrained" };

    /// <summary>The untrained control's alignment stands beside both alignment findings; when it is not below the most
    /// aligned trained level, the evidence says the metric does not tell trained gradients from random ones. The
    /// outcomes are the trained models' and do not change.</summary>
    [Theory]
    [InlineData(0.3, false)]
    [InlineData(0.95, true)]
    public void AlignmentFindings_NameTheUntrainedControlsAlignment(double untrained, bool notAbove)
    {
        var trained = ThreeRegimes(new[] { 0.6, 0.8, 0.5 }, new[] { 0.6, 0.8, 0.5 }, 0.05);
        var table = trained.Append(Untrained(1.0, 2.0).WithAlignment(untrained, spread: 0.05)).ToArray();
        foreach (var id in new[] { Findings.BayesAlignedMostAligned, Findings.AlignmentPeaks })
        {
            var f = Find(id, null, table);
            Assert.Equal(Find(id, null, trained).Outcome, f.Outcome);
            Assert.Contains("; untrained control 1 - LPIPS ", f.Evidence);
            Assert.Contains("the most aligned trained level (gnorm 1) minus it", f.Evidence);
            Assert.Equal(notAbove, f.Evidence.Contains("does not rate a trained model's gradients above random"));
        }
    }

    /// <summary>Issue 24: an untrained network already below 1 makes "the standard model is less robust off than on"
    /// untestable; above 1 the finding stands and names the control.</summary>
    [Theory]
    [InlineData(1.0, 0.8, Outcome.NotTestable)]
    [InlineData(1.0, 1.5, Outcome.NotHeld)]
    public void StandardOffAboveOn_IsNotTestable_WhenTheUntrainedControlIsAlreadyBelowOne(double on, double off,
        Outcome expected)
    {
        var table = new[] { Run("standard", 0, 0.95, 1.0, 0.5), Untrained(on, off) };
        var regimes = new RegimeRule().Classify(table);
        Assert.Equal(RegimeCause.UntrainedControl, regimes.Single(r => r.Level.IsUntrained).Cause);
        var f = Findings.Compute(regimes, 1.0, haveLpips: false).Single(f => f.Id == Findings.StandardOffAboveOn);
        Assert.Equal(expected, f.Outcome);
        Assert.Contains(expected == Outcome.NotTestable ? "an untrained model" : "untrained control off/on",
            f.Evidence);
    }

    /// <summary>Each run's measurement at eps 1 repeated at eps 4 (same values): an on/off finding that holds at
    /// eps 1 holds at two eps.</summary>
    static JobResult[] TwoEps(JobResult[] table) => table.Select(r => r with
        { Sensitivity = r.Sensitivity.Concat(r.Sensitivity.Select(x => x with { Epsilon = 4 })).ToList() }).ToArray();

    /// <summary>A tangent-dimension scan at eps 1 and 4: per k, the given on and off (the same at both eps).</summary>
    static JobResult WithScan(JobResult r, params (int K, double On, double Off)[] cells) => r with
    {
        TangentScan = cells.SelectMany(c => new[] { 1.0, 4.0 }.Select(eps => SensitivityResult.From(
            new PagLab.Manifold.EpsilonResult(eps, null!, null!, c.Off / c.On)
            {
                OnPerImage = Around(c.On, 0.1, 40, c.K * 7 + 1), OffPerImage = Around(c.Off, 0.1, 40, c.K * 7 + 2),
            }) with { Latent = c.K })).ToList(),
    };

    static Finding StandardFinding(params JobResult[] table) => Findings.Compute(new RegimeRule().Classify(table), 1.0,
        haveLpips: false).Single(f => f.Id == Findings.StandardOffAboveOn);

    [Fact]
    public void OnOffFinding_HeldAtOneEpsOnly_IsInconclusive_NeedingTwo()
    {
        var f = StandardFinding(Run("standard", 0, 0.95, 1, 2));
        Assert.Equal(Outcome.Inconclusive, f.Outcome);
        Assert.StartsWith("held at eps 1, but measured at one eps; a finding needs two", f.Evidence);
        Assert.Equal(Outcome.Held, StandardFinding(TwoEps(new[] { Run("standard", 0, 0.95, 1, 2) })).Outcome);
    }

    [Fact]
    public void OnOffFinding_HeldAtK8ButNotAtK64_IsInconclusive_NamingK64()
    {
        var f = StandardFinding(WithScan(Run("standard", 0, 0.95, 1, 2), (8, 1, 2), (16, 1, 2), (64, 2, 1)));
        Assert.Equal(Outcome.Inconclusive, f.Outcome);
        Assert.StartsWith("held at the main tangents at eps 1; k=8,16 eps 1,4; did not hold at k=64 eps 1,4.",
            f.Evidence);
        Assert.Contains("k=64 eps 4: off/on 0.5", f.Evidence);
    }

    [Fact]
    public void OnOffFinding_HeldAtEveryKAndTwoEps_IsHeld()
    {
        var f = StandardFinding(WithScan(Run("standard", 0, 0.95, 1, 2), (8, 1, 2), (64, 1, 3)));
        Assert.Equal(Outcome.Held, f.Outcome);
        Assert.StartsWith("held at every cell (the main tangents at eps 1; k=8,64 eps 1,4)", f.Evidence);
    }

    [Fact]
    public void OnOffFinding_HeldAtEveryScannedK_ButNotOnTheMainTangents_IsInconclusive_NamingThem()
    {
        // the main tangents (exact ones on subspace-gaussians) stay a cell beside the scan
        var f = StandardFinding(WithScan(Run("standard", 0, 0.95, 2, 1), (8, 1, 2), (64, 1, 3)));
        Assert.Equal(Outcome.Inconclusive, f.Outcome);
        Assert.StartsWith("held at k=8,64 eps 1,4; did not hold at the main tangents at eps 1.", f.Evidence);
    }

    [Fact]
    public void OnOffFinding_NotHeldAnywhere_IsNotHeld()
    {
        var f = StandardFinding(WithScan(Run("standard", 0, 0.95, 2, 1), (8, 2, 1), (64, 3, 1)));
        Assert.Equal(Outcome.NotHeld, f.Outcome);
        Assert.StartsWith("did not hold at the main tangents at eps 1; k=8,64 eps 1,4", f.Evidence);
    }

    [Fact]
    public void RelativeOffRobustness_SaysEachLevelRelativeToTheStandardAndTheUntrained()
    {
        var table = TwoEps(Curve(new[] { 1.0, 1, 1, 1 }, new[] { 2.0, 1.5, 1, 0.5 })
            .Append(Untrained(1.0, 1.0)).ToArray());
        var f = Findings.Compute(new RegimeRule().Classify(table), 1.0, haveLpips: false)
            .Single(f => f.Id == Findings.RelativeOffRobustnessGrows);
        Assert.Equal(Outcome.Held, f.Outcome);
        // gnorm 1 at off/on 0.5: relative to the standard's 2 is 0.25, to the untrained's 1 is 0.5 (closed forms
        // inside the intervals)
        var m = System.Text.RegularExpressions.Regex.Match(f.Evidence, @"gnorm 1: [^\]]*\], / standard's \S+ "
            + @"\[([\d.]+), ([\d.]+)\], / untrained's \S+ \[([\d.]+), ([\d.]+)\]");
        Assert.True(m.Success, f.Evidence);
        double Group(int i) => double.Parse(m.Groups[i].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(0.25, Group(1), Group(2));
        Assert.InRange(0.5, Group(3), Group(4));
    }
}
