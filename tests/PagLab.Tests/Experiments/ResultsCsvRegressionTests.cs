using PagLab.Tests.Cli;

namespace PagLab.Tests.Experiments;

[Trait("Category", "Numeric")]
public class ResultsCsvRegressionTests
{
    /// <summary>
    /// examples/tiny-sweep.json with one torch thread gives the results.csv that main's code wrote before the sweep
    /// folder and job context were introduced (Expected/tiny-sweep-results.csv; one thread, because the order of
    /// floating-point sums depends on the thread count): every text cell equal, every number within the end-to-end
    /// float32 tolerance of its column (another CPU's vector width changes the sixth digit). results.csv has no
    /// wall-time column.
    /// The settings whose defaults changed since (issue 14: alignment sigma per dataset, LPIPS network) are pinned
    /// to the values that file was made with.
    /// </summary>
    [Fact]
    public void TinySweep_ResultsCsv_MatchesTheCommittedOne()
    {
        Assert.True(File.Exists(PagLab.Metrics.Lpips.BundledWeights)); // the expected file has LPIPS columns
        string dir = Path.Combine(TestPaths.TempDir("regress"), "sweep");
        var json = System.Text.Json.Nodes.JsonNode.Parse(
            File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "examples", "tiny-sweep.json")))!;
        json["measure"]!["alignmentSigma"] = 0.25;
        json["measure"]!["lpipsNet"] = "squeeze";
        string spec = Path.Combine(TestPaths.TempDir("regress-spec"), "tiny-sweep.json");
        File.WriteAllText(spec, json.ToJsonString());
        var run = CliProcess.Run("sweep", "run", spec, "--out", dir, "--threads", "1");
        Assert.True(run.ExitCode == 0, run.Stdout + run.Stderr);
        string csv = Path.Combine(dir, "results.csv");
        var results = CliProcess.Run("results", dir, "--out", csv);
        Assert.True(results.ExitCode == 0, results.Stdout + results.Stderr);
        string expected = Path.Combine(TestPaths.RepoRoot, "tests", "PagLab.Tests", "Experiments", "Expected",
            "tiny-sweep-results.csv");
        GoldenCsv.AssertMatches(expected, csv, Float32Tolerance.EndToEnd);
    }
}
