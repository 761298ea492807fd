using PagLab.Experiments;
using PagLab.Objectives;
using PagLab.Reporting;
using PagLab.Uncertainty;
using static PagLab.Tests.Experiments.Tables;

namespace PagLab.Tests.Reporting;

/// <summary>
/// A collapsed model's off/on is a ratio of output changes at rounding level (fashion-mnist PGD eps 8: off 1.6e-8),
/// so the regime tables show none for it, and an estimate without an interval says so instead of "[NaN, NaN]".
/// </summary>
public class CollapsedLevelTests
{
    [Fact]
    public void RegimeTables_ShowNoOffOverOn_ForACollapsedLevel()
    {
        var spec = new SweepSpec
        {
            Datasets = new[] { "d" }, Seeds = new long[] { 0 },
            Objectives = new[]
            {
                new ObjectiveConfig { Kind = ObjectiveKind.Standard },
                new ObjectiveConfig { Kind = ObjectiveKind.Pgd, Strengths = new[] { 0.5, 8.0 } },
            },
        };
        var results = new List<JobResult>
        {
            Run("standard", 0, 0.95, 1.0, 2.0), Run("pgd", 0.5, 0.94, 1.0, 0.5), Run("pgd", 8, 0.1, 2e-8, 1.3e-8),
        };
        var model = ReportModel.Build(spec, results);
        Assert.True(model.Levels.Single(l => l.Level.Label == "pgd 8").Collapsed);
        Assert.False(model.Levels.Single(l => l.Level.Label == "pgd 0.5").Collapsed);
        string row = ReportSummary.Markdown(model, spec).Split('\n').Single(l => l.StartsWith("| pgd 8 |"));
        Assert.Contains($"| {ReportSummary.CollapsedRatio} | {ReportSummary.CollapsedRatio} |", row);
        Assert.DoesNotContain("| n/a (collapsed) |",
            ReportSummary.Markdown(model, spec).Split('\n').Single(l => l.StartsWith("| pgd 0.5 |")));
    }

    [Fact]
    public void Estimate_WithoutAnInterval_SaysSo()
    {
        Assert.Equal("0.652 [no interval]", new Estimate(0.652, double.NaN, double.NaN, 3).Text());
        Assert.Equal("n/a", Estimate.Empty.Text());
        Assert.Equal("0.5 [0.4, 0.6]", new Estimate(0.5, 0.4, 0.6, 3).Text());
    }
}
