using PagLab.Manifold;

namespace PagLab.Tests.Manifold;

/// <summary>The files of `measure manifold` and `measure theorem1` stay byte for byte as they were written before
/// ManifoldReportFiles (Expected/ holds the old writer's output for these reports).</summary>
public class ManifoldFilesTests
{
    static string Expected(string name) =>
        Path.Combine(TestPaths.RepoRoot, "tests", "PagLab.Tests", "Manifold", "Expected", name);

    static Distribution Dist(double mean) => new(mean, mean / 4, mean / 2, mean * 0.75, mean, mean * 1.25, mean * 1.5,
        mean * 2, 3);

    internal static ManifoldReport Report() => new()
    {
        Model = "/m", Tangents = "/t.safetensors", Dataset = "shapes", Outputs = "softmax-l1", Images = 3, Draws = 2,
        Seed = 7,
        Results = new[]
        {
            new EpsilonResult(0.5, Dist(0.01), Dist(0.04), 4.0)
                { OnPerImage = new[] { 0.01, 0.02, 0.005 }, OffPerImage = new[] { 0.03, 0.05, 0.04 } },
            new EpsilonResult(2, Dist(0.125), Dist(1.0 / 3), 8.0 / 3)
                { OnPerImage = new[] { 0.1, 0.2, 0.075 }, OffPerImage = new[] { 0.3, 0.4, 0.3 } },
        },
        Rho2 = new() { ["predicted"] = Dist(0.9) },
        Rho2PerImage = new() { ["predicted"] = new[] { 0.8, 0.9, 1.0 } },
        Rho1 = new() { ["predicted"] = new() { ["0.5"] = Dist(0.7) } },
    };

    internal static Theorem1Report Theorem1() => new()
    {
        Model = "/m", Tangents = "/t.safetensors", Dataset = "shapes", ClassMode = PagLab.Models.GradientMode.Label,
        Images = 2, Draws = 4,
        Rows = new[] { new Theorem1Row(1, 0.5, 0.25, 0.1, 0.2, 0.45, 1.0 / 3), new Theorem1Row(1e-4, 0.26, 0.25,
            0.01, 0.02, 0.2500001, 2e-7) },
    };

    [Fact]
    public void ManifoldReport_JsonAndCsv_AreByteForByteTheOldFormat()
    {
        string json = Path.Combine(TestPaths.TempDir("manifold-files"), "m.json");
        ManifoldReportFiles.Write(json, Report());
        Assert.Equal(File.ReadAllText(Expected("manifold-report.json")), File.ReadAllText(json));
        Assert.Equal(File.ReadAllText(Expected("manifold-report.csv")),
            File.ReadAllText(Path.ChangeExtension(json, ".csv")));
        Assert.Equal(ManifoldReportFiles.Of(json).Select(f => f.Path).Order(),
            Directory.GetFiles(Path.GetDirectoryName(json)!).Order());
    }

    [Fact]
    public void Theorem1Report_JsonAndCsv_AreByteForByteTheOldFormat()
    {
        string output = Path.Combine(TestPaths.TempDir("manifold-files"), "t");
        ManifoldReportFiles.Write(output, Theorem1());
        Assert.Equal(File.ReadAllText(Expected("theorem1-report.json")), File.ReadAllText(output + ".json"));
        Assert.Equal(File.ReadAllText(Expected("theorem1-report.csv")), File.ReadAllText(output + ".csv"));
        Assert.Equal(ManifoldReportFiles.OfTheorem1(output).Select(f => f.Path).Order(),
            Directory.GetFiles(Path.GetDirectoryName(output)!).Order());
    }
}

/// <summary>kscan.csv and kscan-latents.csv keep their format (free-text labels quoted, numbers G6).</summary>
public class TangentScanFilesTests
{
    [Fact]
    public void KscanCsvs_QuoteLabels_AndListOneRowPerCellAndLatent()
    {
        var estimate = new PagLab.Uncertainty.Estimate(1.5, 1.25, 1.75, 3);
        var report = new TangentScanReport("shapes", "softmax-l1", 3, 2,
            new[] { new ScannedModel("a \"b\", c", null, true, new PagLab.Uncertainty.Estimate(0.9, 0.8, 1, 3)) },
            new[] { new LatentQuality(4, 0.01, 0.02, new AngleSummary(10, 20, 15, 3)) },
            new[] { new ScanCell("a \"b\", c", 4, 0.5, estimate, estimate with { Mean = 1.0 / 3 }, estimate) });
        string dir = TestPaths.TempDir("kscan-files");
        TangentDimensionScan.Write(dir, report);
        Assert.Equal("model,untrained,test_accuracy,latent,epsilon,off_over_on,off_over_on_lower,off_over_on_upper,"
            + "median_off_over_on,median_off_over_on_lower,median_off_over_on_upper,off_over_isotropic,"
            + "off_over_isotropic_lower,off_over_isotropic_upper\n"
            + "\"a \"\"b\"\", c\",true,0.9,4,0.5,1.5,1.25,1.75,0.333333,1.25,1.75,1.5,1.25,1.75\n",
            File.ReadAllText(Path.Combine(dir, "kscan.csv")));
        Assert.Equal("latent,autoencoder_test_mse,pca_test_mse,mean_angle_to_local_pca_degrees,"
            + "max_angle_to_local_pca_degrees,autoencoder_minus_pca,autoencoder_minus_pca_lower,"
            + "autoencoder_minus_pca_upper,mean_angle_lower,mean_angle_upper\n4,0.01,0.02,10,20,,,,,\n",
            File.ReadAllText(Path.Combine(dir, "kscan-latents.csv")));
    }
}
