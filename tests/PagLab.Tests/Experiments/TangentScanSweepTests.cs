using PagLab.Common;
using PagLab.Experiments;
using PagLab.Manifold;
using PagLab.Uncertainty;
using static TorchSharp.torch;

namespace PagLab.Tests.Experiments;

/// <summary>The controls a sweep carries (issue 24.3): isotropic noise of the same norm, and the tangent-dimension
/// scan, one autoencoder per k built once per dataset.</summary>
public class TangentScanSweepTests
{
    sealed class Lines : IProgressSink
    {
        public List<string> All { get; } = new();
        public void Line(string text) { lock (All) All.Add(text); }
        public void Update(string task, long done, long total, string status = "") { }
    }

    [Fact]
    public void SweepWithTangentDimensions_MeasuresEveryKAndEps_BuildingEachAutoencoderOnce()
    {
        var tiny = TinySweep.Spec(strengths: 1);
        var spec = tiny with
        {
            Shared = tiny.Shared with
            {
                TangentDimensions = new[] { 2, 3 }, TrainSize = 200,
                Autoencoder = new() { Epochs = 1, BaseChannels = 4, BatchSize = 100 },
            },
            Measure = tiny.Measure with { Alignment = false, Distractor = false, IsotropicControl = true },
        };
        spec.Validate("test");
        var folder = new SweepFolder(TestPaths.TempDir("kscan-sweep"));
        var progress = new Lines();
        Assert.Equal(0, SweepRunner.RunAll(spec, folder, progress));

        foreach (var job in spec.Jobs())
        {
            var result = JobResult.Read(folder.Job(job).Result);
            var scan = Assert.IsType<List<SensitivityResult>>(result.TangentScan);
            Assert.Equal(4, scan.Count);                                             // 2 k x 2 eps
            foreach (int k in new[] { 2, 3 })
                foreach (double eps in spec.Measure.Epsilons)
                {
                    var cell = Assert.IsType<SensitivityResult>(result.At(k, eps));
                    Assert.Equal(spec.Shared.TangentCount, cell.OnPerImage.Length);
                    Assert.Equal(spec.Shared.TangentCount, cell.IsotropicPerImage!.Length);
                    foreach (var e in new[] { cell.OffOverOn, cell.MedianOffOverOn!, cell.OffOverIsotropic! })
                        Assert.True(e.Lower <= e.Mean && e.Mean <= e.Upper && e.Mean > 0, $"k {k}: {e}");
                }
            // the main measurement carries the isotropic control too, and is not a scan cell
            Assert.All(result.Sensitivity, s => Assert.True(s.Latent is null && s.OffOverIsotropic is not null));
        }
        var shared = folder.Shared(spec.Datasets[0]);
        var qualities = Assert.IsAssignableFrom<IReadOnlyList<LatentQuality>>(
            TangentScanArtefacts.ReadQualities(shared));
        Assert.Equal(new[] { 2, 3 }, qualities.Select(q => q.Latent));
        Assert.True(qualities[1].PcaMse <= qualities[0].PcaMse, "PCA error cannot grow with k");
        Assert.All(qualities, q => Assert.True(q.AutoencoderError is not null && q.AutoencoderMinusPca is not null
            && q.MeanAngleDegrees!.Lower <= q.MeanAngleDegrees.Upper));
        // two jobs, one autoencoder per k
        Assert.Equal(1, progress.All.Count(l => l.Contains("autoencoder k = 2")));
        Assert.Equal(1, progress.All.Count(l => l.Contains("autoencoder k = 3")));
        // a process that did not build the scan loads each file once, and its read log says so
        using (var other = new SweepSession(folder.Prepare(spec), folder))
        {
            Assert.True(other.TryComplete(spec.Datasets[0], NullProgress.Instance, wait: true));
            Assert.Contains(TangentScanArtefacts.LatentsPath(shared), other.FilesRead);
            Assert.Equal(2, other.FilesRead.Count(f => Path.GetFileName(f).StartsWith("tangents-k")));
        }

        // the report shows the scan and evaluates the on/off findings at every k and eps
        string report = Path.Combine(TestPaths.TempDir("kscan-report"), "report.html");
        PagLab.Reporting.ReportBuilder.Build(folder, report);
        string html = File.ReadAllText(report);
        Assert.Contains("Tangent-dimension scan", html);
        Assert.Contains("the manifold estimate per k", html);
        Assert.Contains("<th>off/isotropic</th>", html);
        var results = SweepResults.Read(folder);
        var model = PagLab.Reporting.ReportModel.Build(spec, results);
        // (one epoch leaves this tiny sweep undertrained, so it states no on/off finding; FindingsTests checks them)
        var standard = model.Levels.Single(l => l.Level.IsStandard).Level;
        Assert.Equal(new[] { "eps 0.5", "eps 1", "k=2 eps 0.5", "k=2 eps 1", "k=3 eps 0.5", "k=3 eps 1" },
            PagLab.Reporting.OnOffCells.Of(standard).Select(c => c.Text));
        Assert.All(model.Levels, l => Assert.Equal(4, l.Scan.Count));
    }

    [Fact]
    public void LocalPcaScan_OfDataExactlyOnASubspace_LiesInTheExactTangentSpace_AtEveryKBelowItsDimension()
    {
        var tiny = TinySweep.Spec(strengths: 1);
        var spec = tiny with
        {
            Objectives = tiny.Objectives.Take(1).ToArray(),
            Shared = tiny.Shared with
                { TangentDimensions = new[] { 2, 3 }, TangentScanEstimator = TangentEstimator.LocalPca },
            Measure = tiny.Measure with { Alignment = false, Distractor = false },
        };
        spec.Validate("test");
        var folder = new SweepFolder(TestPaths.TempDir("kscan-local"));
        Assert.Equal(0, SweepRunner.RunAll(spec, folder, NullProgress.Instance));
        var shared = folder.Shared(spec.Datasets[0]);
        var qualities = TangentScanArtefacts.ReadQualities(shared)!;
        // subspace-gaussians lies exactly on a 16-dimensional subspace: every local principal direction is in it
        foreach (var q in qualities)
        {
            Assert.Equal(TangentEstimator.LocalPca, q.Estimator);
            Assert.InRange(q.MeanAngleToExactDegrees!.Upper, 0, 0.5);            // float32 rounding, not geometry
            Assert.True(double.IsNaN(q.AutoencoderMse));
        }
        Assert.False(Directory.Exists(Path.Combine(TangentScanArtefacts.Root(shared), "autoencoder-k2")));
        var result = JobResult.Read(folder.Job(spec.Jobs()[0]).Result);
        Assert.Equal(4, result.TangentScan!.Count);
    }

    [Fact]
    public void Scan_TakesTheSweepsOwnAutoencoder_AtItsLatent_InsteadOfTrainingATwin()
    {
        var tiny = TinySweep.Spec(strengths: 1);
        var spec = tiny with
        {
            Objectives = tiny.Objectives.Take(1).ToArray(),
            Shared = tiny.Shared with
            {
                TangentEstimator = TangentEstimator.Autoencoder, TangentDimensions = new[] { 2, 3 }, TrainSize = 200,
                Autoencoder = new() { Latent = 2, Epochs = 1, BaseChannels = 4, BatchSize = 100 },
            },
            Measure = tiny.Measure with { Alignment = false, Distractor = false },
        };
        var folder = new SweepFolder(TestPaths.TempDir("kscan-reuse"));
        Assert.Equal(0, SweepRunner.RunAll(spec, folder, NullProgress.Instance));
        var shared = folder.Shared(spec.Datasets[0]);
        Assert.False(Directory.Exists(Path.Combine(TangentScanArtefacts.Root(shared), "autoencoder-k2")));
        Assert.True(Directory.Exists(Path.Combine(TangentScanArtefacts.Root(shared), "autoencoder-k3")));
        var k2 = TangentScanArtefacts.ReadQualities(shared)!.Single(q => q.Latent == 2);
        Assert.Equal(PagLab.Training.AutoencoderTrainer.ReadMetrics(shared.Autoencoder).Last().TestReconstruction,
            k2.AutoencoderMse);
        // the same autoencoder and images: the scan's k = 2 cells are the main measurement's
        var result = JobResult.Read(folder.Job(spec.Jobs()[0]).Result);
        foreach (var main in result.Sensitivity)
        {
            var cell = result.At(2, main.Epsilon)!;
            double scale = main.OffPerImage.Max();
            for (int i = 0; i < main.OffPerImage.Length; i++)
                Float32Tolerance.AssertClose(cell.OffPerImage[i], main.OffPerImage[i], scale, Float32Tolerance.EndToEnd,
                    $"off of image {i} at eps {main.Epsilon}");
        }
    }

    [Fact]
    public void TangentScanEstimator_True_IsRefused()
    {
        var spec = TinySweep.Spec() with { Shared = TinySweep.Spec().Shared with
            { TangentDimensions = new[] { 2 }, TangentScanEstimator = TangentEstimator.True } };
        var e = Assert.ThrowsAny<PagLabException>(() => spec.Validate("test"));
        Assert.Contains("shared.tangentScanEstimator must be autoencoder or local-pca", e.Message);
    }

    [Fact]
    public void TinySweep_WithoutTheControls_WritesNoneOfTheirFields()
    {
        var spec = TinySweep.Spec();
        Assert.Null(spec.Shared.TangentDimensions);
        Assert.False(spec.Measure.IsotropicControl);
        string json = System.Text.Json.JsonSerializer.Serialize(new SensitivityResult
        {
            Epsilon = 1, On = Estimate.Empty, Off = Estimate.Empty, OffOverOn = Estimate.Empty,
            OnPerImage = new[] { 1.0 }, OffPerImage = new[] { 1.0 },
        }, PagLab.IO.JsonFiles.Options);
        Assert.DoesNotContain("isotropic", json, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("latent", json, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("study-mnist-distractor.json", new[] { 8, 16, 32, 64 })]
    [InlineData("study-fashion-mnist.json", new[] { 8, 16, 32, 64 })]
    [InlineData("ground-truth-sweep.json", new[] { 2, 4, 8 })]         // local PCA: its pixels are centred at 0
    public void ExampleStudies_CarryBothControls(string file, int[] latents)
    {
        var spec = SweepSpec.Load(Path.Combine(TestPaths.RepoRoot, "examples", file));
        Assert.Equal(latents, spec.Shared.TangentDimensions);
        Assert.True(spec.Measure.IsotropicControl && spec.Measure.UntrainedControl);
    }

    [Fact]
    public void Demo_ScansThreeSmallK_WithTheIsotropicControl()
    {
        var spec = SweepSpec.Demo();
        spec.Validate("demo");
        Assert.Equal(new[] { 8, 16, 32 }, spec.Shared.TangentDimensions);
        Assert.True(spec.Measure.IsotropicControl);
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("[0]")]
    [InlineData("[4, 4]")]
    public void TangentDimensions_Bad_IsOneLine(string list)
    {
        string path = Path.Combine(TestPaths.TempDir("spec"), "spec.yaml");
        File.WriteAllText(path, $"datasets: [shapes]\nobjectives: [{{name: standard}}]\nshared: {{tangentDimensions: {list}}}\n");
        var e = Assert.ThrowsAny<PagLabException>(() => SweepSpec.Load(path));
        Assert.Contains("shared.tangentDimensions must list distinct latent dimensions k >= 1", e.Message);
    }

    [Theory]
    [InlineData("shared: {tangentDimensions: [8, 64]}", 64)]           // the scan compares k with local PCA
    [InlineData("shared: {tangentEstimator: local-pca, localPcaDimension: 20, localPcaNeighbours: 20}", 20)]
    public void LocalPcaWiderThanItsNeighbours_IsRefusedAtLoad(string shared, int widest)
    {
        string path = Path.Combine(TestPaths.TempDir("spec"), "spec.yaml");
        File.WriteAllText(path, $"datasets: [shapes]\nobjectives: [{{name: standard}}]\n{shared}\n");
        var e = Assert.ThrowsAny<PagLabException>(() => SweepSpec.Load(path));
        Assert.Contains($"must exceed the largest local-PCA tangent dimension ({widest}", e.Message);
        Assert.Contains($"set it to at least {widest + 1}", e.Message);
    }

    [Fact]
    public void IsotropicControl_Misspelt_GetsADidYouMean()
    {
        string path = Path.Combine(TestPaths.TempDir("spec"), "spec.yaml");
        File.WriteAllText(path, "datasets: [shapes]\nobjectives: [{name: standard}]\nmeasure: {isotropicControll: true}\n");
        var e = Assert.ThrowsAny<PagLabException>(() => SweepSpec.Load(path));
        Assert.Contains("isotropicControl", e.Message);
    }
}
