using PagLab.Experiments;
using static PagLab.Tests.Experiments.Tables;

namespace PagLab.Tests.Experiments;

public class RegimeTests
{
    static Dictionary<string, (Regime Regime, string Reason)> Classify(params JobResult[] table) =>
        new RegimeRule().Classify(table).ToDictionary(r => r.Level.Label, r => (r.Regime, r.Reason));

    [Fact]
    public void Rule_PlacesEachLevel_ByIntervalsAgainstTheStandardModel()
    {
        var regimes = Classify(
            Run("standard", 0, 0.95, on: 1.0, off: 2.0),      // off above on: weak
            Run("gnorm", 1, 0.95, on: 1.0, off: 0.5),         // off below on, accuracy kept: bayes-aligned
            Run("gnorm", 10, 0.80, on: 0.3, off: 0.1),        // on fell and accuracy dropped: excessive
            Run("gnorm", 100, 0.10, on: 0, off: 0),           // a constant classifier: excessive by definition
            Run("pgd", 1, 0.95, on: 1.0, off: 1.02, spread: 0.5), // off/on interval contains 1: boundary
            Run("pgd", 2, 0.955, on: 0.3, off: 0.1),          // on fell, accuracy did not: not excessive
            Diverged("pgd", 8));
        Assert.Equal(Regime.Weak, regimes["standard"].Regime);
        Assert.Equal(Regime.BayesAligned, regimes["gnorm 1"].Regime);
        Assert.Equal(Regime.Excessive, regimes["gnorm 10"].Regime);
        Assert.StartsWith("insensitive on the manifold with an accuracy drop", regimes["gnorm 10"].Reason);
        Assert.Equal(Regime.Excessive, regimes["gnorm 100"].Regime);
        Assert.StartsWith("collapsed", regimes["gnorm 100"].Reason);
        Assert.Equal(Regime.Boundary, regimes["pgd 1"].Regime);
        Assert.Equal(Regime.BayesAligned, regimes["pgd 2"].Regime);
        Assert.Contains("on-manifold sensitivity fell but accuracy did not drop", regimes["pgd 2"].Reason);
        Assert.Equal(Regime.Diverged, regimes["pgd 8"].Regime);
    }

    [Fact]
    public void NearConstantModel_AboveChance_IsExcessiveByDefinition()
    {
        var regimes = Classify(Run("standard", 0, 0.95, 1.0, 2.0), Run("randsmooth", 0.3, 0.3, on: 1e-5, off: 1e-5));
        Assert.Equal(Regime.Excessive, regimes["randsmooth 0.3"].Regime);
        Assert.StartsWith("near-constant output", regimes["randsmooth 0.3"].Reason);
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
}
