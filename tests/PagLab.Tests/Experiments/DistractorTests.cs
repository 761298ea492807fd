using PagLab.Data;
using PagLab.Experiments;
using PagLab.Manifold;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Tests.Experiments;

public class DistractorTests
{
    /// <summary>20 random 1x4x4 images; the signal is the top half, the distractor the bottom half of every
    /// image.</summary>
    static DataSplit Split()
    {
        var generator = new Generator(5, device: CPU);
        var images = rand(new long[] { 20, 1, 4, 4 }, generator: generator);
        var top = cat(new[] { ones(1, 1, 2, 4), zeros(1, 1, 2, 4) }, 2).expand(20, -1, -1, -1).contiguous();
        return new DataSplit(images, randint(0, 3, new long[] { 20 }, generator: generator), top, 1 - top);
    }

    /// <summary>A linear 3-class model whose weights on the masked-out half are zero: it provably ignores that
    /// half.</summary>
    static Module<Tensor, Tensor> ReadingOnly(bool top)
    {
        var linear = Linear(16, 3);
        using (no_grad())
        {
            var rows = cat(new[] { ones(8), zeros(8) }).view(1, 16);
            linear.weight!.mul_(top ? rows : 1 - rows).mul_(20);
        }
        return Sequential(Flatten(), linear);
    }

    [Fact]
    public void ModelIgnoringTheDistractor_HasZeroDistractorSensitivity_AndInfiniteRelativeRobustness()
    {
        using var split = Split();
        using var model = ReadingOnly(top: true);
        var report = DistractorRobustness.Measure(model, split, new[] { 0, 0.1, 0.5 }, "m", "toy");
        Assert.Equal("softmax-l1", report.Outputs);
        foreach (var p in report.Points.Where(p => p.Sigma > 0))
        {
            Assert.Equal(0, p.DistractorChange.Mean);
            Assert.Equal(0, p.DistractorChange.Upper);
            Assert.True(p.SignalChange.Above(0));
            Assert.True(double.IsPositiveInfinity(p.RelativeRobustness.Mean)
                && double.IsPositiveInfinity(p.RelativeRobustness.Lower));
            Assert.Equal(report.CleanAccuracy.Mean, p.DistractorAccuracy.Mean);
        }
        Assert.True(double.IsPositiveInfinity(report.OverSigmas.Mean));
        // At sigma 0 nothing moves: the ratio is undefined, not 1.
        Assert.True(double.IsNaN(report.Points[0].RelativeRobustness.Mean));
    }

    [Fact]
    public void ModelIgnoringTheSignal_HasZeroRelativeRobustness()
    {
        using var split = Split();
        using var model = ReadingOnly(top: false);
        var report = DistractorRobustness.Measure(model, split, new[] { 0.1, 0.5 }, "m", "toy",
            measure: new OutputMeasure(OutputKind.Logits, 2));
        Assert.Equal("logits-l2", report.Outputs);
        Assert.All(report.Points, p =>
        {
            Assert.Equal(0, p.SignalChange.Mean);
            Assert.True(p.DistractorChange.Above(0));
            Assert.Equal((0.0, 0.0), (p.RelativeRobustness.Mean, p.RelativeRobustness.Upper));
        });
        Assert.True(report.Points[1].DistractorChange.Mean > report.Points[0].DistractorChange.Mean,
            "more noise moves the output more");
    }

    [Fact]
    public void Csv_SaysWhichMeasureItHolds_AndWritesInfinity()
    {
        using var split = Split();
        using var model = ReadingOnly(top: true);
        var report = DistractorRobustness.Measure(model, split, new[] { 0.2 }, "m", "toy");
        string path = Path.Combine(TestPaths.TempDir("distractor"), "d.json");
        DistractorRobustness.Write(path, report);
        var lines = File.ReadAllLines(Path.ChangeExtension(path, ".csv"));
        Assert.StartsWith("output_measure,sigma,", lines[0]);
        Assert.StartsWith("softmax-l1,0.2,", lines[1]);
        Assert.EndsWith(",inf,inf,inf", lines[1]);
        Assert.Equal(report.Points[0].SignalPerImage,
            PagLab.IO.JsonFiles.Read<DistractorReport>(path).Points[0].SignalPerImage);
    }
}
