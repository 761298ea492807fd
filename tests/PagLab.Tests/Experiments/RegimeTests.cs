using PagLab.Experiments;
using PagLab.Objectives;
using static PagLab.Tests.Experiments.Tables;

namespace PagLab.Tests.Experiments;

public class RegimeTests
{
    static Dictionary<string, (Regime Regime, string Reason)> Classify(params JobResult[] table) =>
        new RegimeRule().Classify(table).ToDictionary(r => r.Level.Label, r => (r.Regime, r.Reason));

    static Dictionary<string, LevelRegime> Levels(params JobResult[] table) =>
        new RegimeRule().Classify(table).ToDictionary(r => r.Level.Label);

    [Fact]
    public void Rule_PlacesEachLevel_ByIntervalsAgainstTheStandardModel()
    {
        var regimes = Levels(
            Run("standard", 0, 0.95, on: 1.0, off: 2.0),      // off above on: weak
            Run("gnorm", 1, 0.95, on: 1.0, off: 0.5),         // off below on, accuracy kept: bayes-aligned
            Run("gnorm", 10, 0.80, on: 0.3, off: 0.1),        // a 15-point drop: excessive
            Run("gnorm", 100, 0.10, on: 0, off: 0),           // a constant classifier: excessive by definition
            Run("pgd", 1, 0.95, on: 1.0, off: 1.02, spread: 0.5), // off/on interval contains 1: boundary
            Run("pgd", 2, 0.955, on: 0.3, off: 0.1),          // on below half the standard's: excessive
            Diverged("pgd", 8));
        Assert.Equal((Regime.Weak, RegimeCause.OffAboveOn), Of(regimes["standard"]));
        Assert.Equal((Regime.BayesAligned, RegimeCause.OffBelowOn), Of(regimes["gnorm 1"]));
        Assert.Equal((Regime.Excessive, RegimeCause.AccuracyDrop), Of(regimes["gnorm 10"]));
        Assert.Equal((Regime.Excessive, RegimeCause.Collapsed), Of(regimes["gnorm 100"]));
        Assert.Equal((Regime.Boundary, RegimeCause.OffOnUndetermined), Of(regimes["pgd 1"]));
        Assert.Equal((Regime.Excessive, RegimeCause.OnManifoldInsensitive), Of(regimes["pgd 2"]));
        Assert.Equal((Regime.Diverged, RegimeCause.Diverged), Of(regimes["pgd 8"]));
        Assert.All(regimes.Values.Where(r => r.Level.OnCurve && r.Regime != Regime.Diverged && !r.Collapsed),
            r => Assert.Contains("accuracy drop", r.Reason));
    }

    static (Regime, RegimeCause) Of(LevelRegime r) => (r.Regime, r.Cause);

    /// <summary>Issue 24's cases: an inaccurate model is excessive whatever its on-manifold sensitivity, a small drop
    /// with a small loss of on-sensitivity is not, and a drop with on-sensitivity up sixfold is.</summary>
    [Fact]
    public void AccuracyDropBeyondTolerance_IsExcessive_WhateverOnManifoldSensitivityDoes()
    {
        var regimes = Levels(
            Run("standard", 0, 0.99, on: 1.0, off: 2.0),
            Run("gnorm", 10, 0.52, on: 1.0, off: 0.5),        // on unchanged, off/on < 1, accuracy 0.52
            Run("gnorm", 1, 0.987, on: 0.9, off: 0.45),       // 0.3-point drop, on -10%
            Run("pgd", 1, 0.924, on: 6.0, off: 3.0));         // 6.6-point drop, on x6
        Assert.Equal((Regime.Excessive, RegimeCause.AccuracyDrop), Of(regimes["gnorm 10"]));
        Assert.Equal((Regime.BayesAligned, RegimeCause.OffBelowOn), Of(regimes["gnorm 1"]));
        Assert.Equal((Regime.Excessive, RegimeCause.AccuracyDrop), Of(regimes["pgd 1"]));
        Assert.StartsWith("inaccurate: the accuracy drop is above 0.02", regimes["pgd 1"].Reason);
    }

    [Fact]
    public void DropWhoseIntervalContainsTheTolerance_GetsNoRegime()
    {
        // 2 points on 500 images: the drop's interval spans about +-4 points
        var regimes = Levels(Run("standard", 0, 0.9, 1.0, 2.0, testImages: 500),
            Run("gnorm", 1, 0.88, on: 1.0, off: 0.5, testImages: 500));
        Assert.Equal((Regime.Unclassified, RegimeCause.AccuracyUndetermined), Of(regimes["gnorm 1"]));
        Assert.StartsWith("accuracy undetermined", regimes["gnorm 1"].Reason);
    }

    /// <summary>The same 1-point drop on 2,000 images: unpaired, the two binomial spreads add up and the interval
    /// contains the tolerance; with per-image outcomes (the model wrong on the standard's errors and 20 more) the
    /// paired interval is narrow and the model is accurate.</summary>
    [Fact]
    public void PerImageOutcomes_PairTheAccuracyDrop()
    {
        var standard = Run("standard", 0, 0.9, 1.0, 2.0);
        var robust = Run("gnorm", 1, 0.89, on: 1.0, off: 0.5);
        Assert.Equal(RegimeCause.AccuracyUndetermined, Levels(standard, robust)["gnorm 1"].Cause);
        int[] Outcomes(int wrong) => Enumerable.Range(0, 2000).Select(i => i < wrong ? 0 : 1).ToArray();
        var paired = Levels(standard with { TestCorrectPerImage = Outcomes(200) },
            robust with { TestCorrectPerImage = Outcomes(220) });
        Assert.Equal((Regime.BayesAligned, RegimeCause.OffBelowOn), Of(paired["gnorm 1"]));
        Assert.Contains("(paired)", paired["gnorm 1"].Reason);
    }

    [Fact]
    public void Tolerance_AndOnManifoldFactor_AreTheRulesSettings()
    {
        var table = new[] { Run("standard", 0, 0.99, 1.0, 2.0), Run("gnorm", 1, 0.96, on: 0.4, off: 0.2) };
        Assert.Equal(RegimeCause.AccuracyDrop, new RegimeRule().Classify(table)[1].Cause);
        var lenient = new RegimeRule { AccuracyTolerance = 0.1 }.Classify(table)[1];
        Assert.Equal(RegimeCause.OnManifoldInsensitive, lenient.Cause);
        var laxer = new RegimeRule { AccuracyTolerance = 0.1, OnManifoldFactor = 0.2 }.Classify(table)[1];
        Assert.Equal((Regime.BayesAligned, RegimeCause.OffBelowOn), Of(laxer));
    }

    [Fact]
    public void AccurateModel_NoMoreOffRobustThanAWeakStandard_IsWeak()
    {
        // the model's off/on (1.1) is the standard's, but too spread to be above 1 on its own
        var regimes = Levels(Run("standard", 0, 0.95, 1.0, 1.1, spread: 0.02),
            Run("gnorm", 0.01, 0.95, on: 1.0, off: 1.1, spread: 0.9));
        var level = regimes["gnorm 0.01"];
        Assert.True((Regime.Weak, RegimeCause.NoGainOverWeakStandard) == Of(level), level.Reason);
    }

    [Fact]
    public void NearConstantModel_AboveChance_IsExcessiveByDefinition()
    {
        var regimes = Classify(Run("standard", 0, 0.95, 1.0, 2.0), Run("randsmooth", 0.3, 0.3, on: 1e-5, off: 1e-5));
        Assert.Equal(Regime.Excessive, regimes["randsmooth 0.3"].Regime);
        Assert.StartsWith("near-constant output", regimes["randsmooth 0.3"].Reason);
        Assert.Equal(RegimeCause.NearConstant, Levels(Run("standard", 0, 0.95, 1.0, 2.0),
            Run("randsmooth", 0.3, 0.3, on: 1e-5, off: 1e-5))["randsmooth 0.3"].Cause);
    }

    [Fact]
    public void UndertrainedSweep_GetsNoRegime_AndSaysWhy()
    {
        // examples/tiny-sweep.json: 1 epoch on 400 images, 0.078 test accuracy on 64 images of 10 classes.
        var regimes = Classify(Run("standard", 0, 0.078, 1.0, 0.5, testImages: 64), Run("gnorm", 0.1, 0.09, 1.0, 0.4,
            testImages: 64),
                               Run("gnorm", 10, 0.11, 0.9, 0.3, testImages: 64));
        Assert.All(regimes.Values, r => Assert.Equal(Regime.Unclassified, r.Regime));
        Assert.All(regimes.Values, r => Assert.StartsWith("undertrained: the standard model's test accuracy 0.078",
            r.Reason));
    }

    [Fact]
    public void Seeds_ArePooledPerLevel()
    {
        var rule = new RegimeRule();
        var regimes = rule.Classify(new[]
        {
            Run("standard", 0, 0.95, 1, 2, seed: 0), Run("standard", 0, 0.94, 1.1, 2.1, seed: 1),
            Run("gnorm", 1, 0.95, 1, 0.5, seed: 0), Run("gnorm", 1, 0.95, 1, 0.6, seed: 1),
        });
        Assert.Equal(2, regimes.Count);
        Assert.All(regimes, r => Assert.Equal(2, r.Level.Completed.Count));
        Assert.Equal(1.0, rule.EpsilonFor(regimes.SelectMany(r => r.Level.Runs)));
    }

    [Fact]
    public void Csv_HasLowerAndUpperColumns_AndTheRegimeOfEachJob()
    {
        var table = new[] { Run("standard", 0, 0.9, 1, 2), Run("gnorm", 1, 0.9, 1, 0.5) };
        var lines = SweepResults.Csv(table, new RegimeRule().Classify(table)).Trim().Split('\n');
        Assert.Equal(3, lines.Length);
        Assert.Contains("test_accuracy,test_accuracy_lower,test_accuracy_upper", lines[0]);
        Assert.Contains("off_over_on_eps1,off_over_on_eps1_lower,off_over_on_eps1_upper", lines[0]);
        Assert.Contains(",softmax-l1,", lines[1]);
        Assert.Contains(",bayes-aligned,", lines[2]);
    }

    [Fact]
    public void ResultOfTheOldFormat_IsRefusedWithOneLineNamingItsVersion()
    {
        string path = Path.Combine(TestPaths.TempDir("result"), "result.json");
        File.WriteAllText(path,
            "{\"id\": \"x\", \"dataset\": \"d\", \"objective\": \"standard\", \"status\": \"completed\", "
                + "\"testAccuracy\": 0.9, \"onSensitivity\": {\"1\": 0.5}}");
        var e = Assert.Throws<PagLab.Common.PagLabException>(() => JobResult.Read(path));
        Assert.Contains("result format 1", e.Message);
        Assert.DoesNotContain("\n", e.Message);
        PagLab.IO.JsonFiles.Write(path, Run("standard", 0, 0.9, 1, 2));
        Assert.Equal(0.9, JobResult.Read(path).TestAccuracy.Mean, 9);
    }

    static PagLab.Experiments.SweepSpec SpecOf(RegimeRule rule) => new()
    {
        Datasets = new[] { "d" }, Regimes = rule,
        Objectives = new[] { new ObjectiveConfig { Kind = PagLab.Objectives.ObjectiveKind.Standard } },
    };

    [Fact]
    public void Report_FlagsABayesAlignedLevel_LessAlignedThanAWeakOne()
    {
        var table = new[]
        {
            Run("standard", 0, 0.95, on: 1.0, off: 2.0).WithAlignment(0.8, 0.7, spread: 0.05),     // weak
            Run("gnorm", 1, 0.95, on: 1.0, off: 0.5).WithAlignment(0.5, 0.75, spread: 0.05),       // bayes-aligned
        };
        var model = PagLab.Reporting.ReportModel.Build(SpecOf(new RegimeRule()), table);
        var flag = Assert.Single(model.Contradictions);
        Assert.StartsWith("gnorm 1 is bayes-aligned but less aligned (1 - LPIPS) than standard, which is weak", flag);
        var agreeing = table.Select((r, i) => r.WithAlignment(i == 0 ? 0.5 : 0.8, 0.7, spread: 0.05)).ToArray();
        Assert.Empty(PagLab.Reporting.ReportModel.Build(SpecOf(new RegimeRule()), agreeing).Contradictions);
    }

    [Fact]
    public void BadTolerances_AreRefusedInOneLine()
    {
        var e = Assert.Throws<PagLab.Common.PagLabException>(() =>
            new RegimeSettings(AccuracyTolerance: 1.5).Apply(new RegimeRule(), "report"));
        Assert.Equal("report: regimes.accuracyTolerance must be in [0, 1)", e.Message);
        Assert.Throws<PagLab.Common.PagLabException>(() =>
            new RegimeSettings(OnManifoldFactor: 0).Apply(new RegimeRule(), "report"));
        Assert.Equal(0.05, new RegimeSettings(0.05).Apply(new RegimeRule(), "report").AccuracyTolerance);
    }
}
