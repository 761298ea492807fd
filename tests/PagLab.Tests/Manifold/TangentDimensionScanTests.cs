using PagLab.Common;
using PagLab.Manifold;
using PagLab.Models;
using PagLab.Training;
using PagLab.Uncertainty;
using static TorchSharp.torch;

namespace PagLab.Tests.Manifold;

public class TangentDimensionScanTests
{
    [Fact]
    public void MedianRatio_IsTheMedianOfPerImageRatios_NotDominatedByOneImage()
    {
        // 19 images at 2, 4, ..., 38 over 2, and one low-margin image whose change is 1000 times its on-change
        double[] off = Enumerable.Range(1, 19).Select(i => 2.0 * i).Append(1000).ToArray();
        double[] on = Enumerable.Repeat(2.0, 19).Append(1).ToArray();
        var median = Bootstrap.MedianRatio(Bootstrap.Sample.One(off), Bootstrap.Sample.One(on));
        Assert.Equal(10.5, median.Mean, 12);
        Assert.True(median.Lower <= 10.5 && median.Upper >= 10.5 && median.Upper < 20, median.Text());
        var ofMeans = Bootstrap.Ratio(Bootstrap.Sample.One(off), Bootstrap.Sample.One(on));
        Assert.Equal((380 + 1000) / 39.0, ofMeans.Mean, 12);                    // the ratio of means it complements
    }

    [Fact]
    public void PcaBasis_DataInAThreeDimensionalSubspace_IsReconstructedExactlyFromThreeComponents()
    {
        using var _ = NewDisposeScope();
        using var generator = new Generator(5, device: CPU);
        var (q, _) = linalg.qr(randn(16, 3, dtype: ScalarType.Float64, generator: generator));   // (16, 3)
        var shift = randn(16, dtype: ScalarType.Float64, generator: generator);
        Tensor Sample(int n) => (randn(n, 3, dtype: ScalarType.Float64, generator: generator).matmul(q.T) + shift)
            .view(n, 1, 4, 4);
        using var pca = PcaBasis.Fit(Sample(200));
        var test = Sample(50);
        Assert.True(pca.TestMse(test, 3) < 1e-20, $"{pca.TestMse(test, 3)}");
        Assert.True(pca.TestMse(test, 2) > 0.01, "two components cannot hold three directions");
        Assert.True(pca.TestMse(test, 1) >= pca.TestMse(test, 2));
    }

    [Fact]
    public void Isotropic_LeavesOnAndOffAsTheyWere_AndAModelFlatOffTheManifoldHasNoOffChange()
    {
        using var _ = NewDisposeScope();
        using var generator = new Generator(3, device: CPU);
        // tangent spaces: the first 2 coordinates of 16; logits depend only on them
        var bases = eye(16).narrow(1, 0, 2).expand(4, 16, 2).contiguous();                    // (4, 16, 2)
        using var tangents = new TangentSpaces(arange(4L), bases, ones(4, 2));
        var weight = zeros(3, 16);
        weight.narrow(1, 0, 2).copy_(randn(3, 2, generator: generator));
        Func<Tensor, Tensor> model = x => x.flatten(1).matmul(weight.T);
        var images = rand(4, 1, 4, 4, generator: generator);
        var measure = new OutputMeasure(OutputChange.LogitsL2);
        var plain = ManifoldRobustness.Measure(model, images, tangents, new[] { 0.5 }, 6, measure, seed: 9);
        var withIso = ManifoldRobustness.Measure(model, images, tangents, new[] { 0.5 }, 6, measure, seed: 9,
            isotropic: true);
        Assert.Empty(plain[0].IsotropicPerImage);
        Assert.Equal(4, withIso[0].IsotropicPerImage.Length);
        double scale = plain[0].OnPerImage.Max();
        for (int i = 0; i < 4; i++)
        {
            Float32Tolerance.AssertClose(withIso[0].OnPerImage[i], plain[0].OnPerImage[i], scale,
                Float32Tolerance.Op, "on");
            Float32Tolerance.AssertClose(withIso[0].OffPerImage[i], 0, scale, Float32Tolerance.Op, "off");
            Assert.True(withIso[0].IsotropicPerImage[i] > 0 && withIso[0].IsotropicPerImage[i] < scale * 1.0001);
        }
        // as a sweep stores it (shared.tangentDimensions): off/isotropic and the median off/on are 0, whole intervals
        var result = PagLab.Experiments.SensitivityResult.ForLatent(withIso[0], 2);
        var ratio = result.OffOverIsotropic!;
        foreach (double v in new[] { ratio.Mean, ratio.Lower, ratio.Upper, result.MedianOffOverOn!.Mean })
            Assert.InRange(v, -1e-5, 1e-5);
        Assert.Equal(2, result.Latent);
    }

    [Fact]
    public void Scan_MeasuresEachModelAndItsUntrainedTwin_AtEveryK_AndWritesItsFiles()
    {
        string dir = TestPaths.TempDir("kscan"), modelDir = Path.Combine(dir, "model");
        using (var model = ModelFactory.Create(new ModelSpec { Arch = Architecture.SmallCnn, Channels = 1,
                   Height = 28, Width = 28, Classes = 10 }, seed: 1))
            SavedModel.Save(modelDir, model);
        var request = new TangentScanRequest
        {
            Dataset = "shapes", Models = new[] { modelDir }, Latents = new[] { 2, 4 }, Images = 8, Draws = 2,
            Epsilons = new[] { 1.0 }, Neighbours = 16, Seed = 2,
            Autoencoder = new AutoencoderSettings { Epochs = 1, BaseChannels = 4, BatchSize = 256 },
        };
        string outDir = Path.Combine(dir, "scan");
        Directory.CreateDirectory(outDir);
        var report = TangentDimensionScan.Run(request, outDir, NullProgress.Instance);
        TangentDimensionScan.Write(outDir, report);

        Assert.Equal(new[] { "untrained smallcnn", "model" }, report.Models.Select(m => m.Label));
        Assert.True(report.Models[0].Untrained && !report.Models[1].Untrained);
        Assert.Equal(4, report.Cells.Count);                                     // 2 models x 2 k x 1 epsilon
        foreach (var c in report.Cells)
            foreach (var e in new[] { c.OffOverOn, c.MedianOffOverOn, c.OffOverIsotropic })
                Assert.True(e.Lower <= e.Mean && e.Mean <= e.Upper && e.Mean > 0, $"{c}");
        Assert.True(report.Latents[1].PcaMse <= report.Latents[0].PcaMse, "PCA error cannot grow with k");
        Assert.All(report.Latents, q => Assert.InRange(q.AnglesToLocalPca.MeanDegrees, 0, 90));
        Assert.Equal(5, File.ReadAllLines(Path.Combine(outDir, "kscan.csv")).Length);
        var latentRows = File.ReadAllLines(Path.Combine(outDir, "kscan-latents.csv"));
        Assert.Equal(3, latentRows.Length);
        Assert.All(latentRows, row => Assert.Equal(10, row.Split(',').Length));
        foreach (var q in report.Latents)
        {
            // the paired difference is the difference of the two means; the interval holds it
            var d = q.AutoencoderMinusPca!;
            Assert.Equal(q.AutoencoderError!.Mean - q.PcaError!.Mean, d.Mean, 9);
            Assert.True(d.Lower <= d.Mean && d.Mean <= d.Upper, $"{d}");
            Assert.Equal(q.PcaMse, q.PcaError.Mean, 12);
        }
        Assert.True(Directory.Exists(Path.Combine(outDir, "autoencoder-k4")));
    }

    [Theory]
    [InlineData("--latents", "0", "--latents must be >= 1")]
    [InlineData("--draws", "0", "--draws must be a positive number")]
    [InlineData("--eps", "0", "--eps must be positive numbers")]
    public void Cli_ABadValue_IsOneLine_BeforeTheFolderIsMade(string option, string value, string message)
    {
        string output = Path.Combine(TestPaths.TempDir("kscan-bad"), "scan");
        var r = PagLab.Tests.Cli.CliProcess.Run("measure", "kscan", "--models", "m", "--dataset", "shapes", option,
            value, "--out", output);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(message, r.Stderr);
        Assert.Single(r.Stderr.TrimEnd('\n').Split('\n'));
        Assert.False(Directory.Exists(output));
    }
}
