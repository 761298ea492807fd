using PagLab.Common;
using PagLab.IO;
using PagLab.IO.Torch;
using PagLab.Metrics;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Tests.Metrics;

[Trait("Category", "Numeric")]
public class LpipsTests(ITestOutputHelper output)
{
    /// <summary>Distances are at most about 1 and pass through seven convolutional layers, a per-channel
    /// normalisation and a spatial mean on each side (PagLab's and the original's float32 orders differ).</summary>
    static readonly double OriginalTolerance = Float32Tolerance.Of(1, 8 * Float32Tolerance.Network);

    /// <summary>Runs every fixture case of one network in batches per size; returns the worst |ours -
    /// original|.</summary>
    double WorstError(Lpips lpips, string net)
    {
        double worst = 0;
        using var _ = no_grad();
        foreach (var group in LpipsFixtures.Cases().Where(c => c.Net == net && c.Distance is not null).GroupBy(c =>
            (c.Size, c.A.Channels)))
        {
            var cases = group.ToList();
            int size = group.Key.Size;
            using var a = stack(cases.Select(c => LpipsFixtures.Make(c.A, size)).ToArray());
            using var b = stack(cases.Select(c => LpipsFixtures.Make(c.B, size)).ToArray());
            using var d = lpips.call(a, b);
            var ours = d.data<float>().ToArray();
            for (int i = 0; i < cases.Count; i++) worst = Math.Max(worst, Math.Abs(ours[i] - cases[i].Distance!.Value));
        }
        output.WriteLine($"LPIPS-{net}: worst |ours - original| = {worst:E2}");
        return worst;
    }

    [Fact]
    public void Squeeze_WithSharedWeights_MatchesOriginalTo1e4()
    {
        using var lpips = Lpips.Load(LpipsNet.Squeeze, TestPaths.LpipsWeights);
        Assert.True(WorstError(lpips, "squeeze") <= OriginalTolerance);
    }

    [Theory]
    [InlineData("alex")]
    [InlineData("vgg")]
    public void AlexAndVgg_WithFormulaWeights_MatchOriginalTo1e4(string net)
    {
        using var lpips = LpipsFixtures.FormulaLpips(net);
        Assert.True(WorstError(lpips, net) <= OriginalTolerance);
    }

    [Fact]
    public void Alex_RefusesImagesBelow31Pixels_WhereTheOriginalFails()
    {
        Assert.Contains(LpipsFixtures.Cases(), c => c.Net == "alex" && c.Size == 28 && c.OriginalError is not null);
        using var lpips = new Lpips(LpipsNet.Alex);
        using var x = zeros(1, 3, 28, 28);
        var e = Assert.Throws<PagLabException>(() => lpips.call(x, x));
        Assert.Contains("at least 31x31", e.Message);
        using var ok = zeros(1, 3, 31, 31);
        using var d = lpips.call(ok, ok);
        Assert.Equal(0f, d.item<float>());
    }

    [Fact]
    public void Grayscale_EqualsTheSameImageRepeatedToRgb()
    {
        using var lpips = LpipsFixtures.FormulaLpips("squeeze");
        using var _ = no_grad();
        using var a = rand(2, 1, 28, 28) * 2 - 1;
        using var b = rand(2, 1, 28, 28) * 2 - 1;
        using var gray = lpips.call(a, b);
        using var rgb = lpips.call(a.expand(-1, 3, -1, -1), b.expand(-1, 3, -1, -1));
        Assert.True(gray.allclose(rgb, rtol: 0, atol: 1e-7));
        Assert.True((gray > 0).all().item<bool>());
    }

    [Fact]
    public void Batch_GivesTheSameDistancesAsOnePairAtATime()
    {
        using var lpips = LpipsFixtures.FormulaLpips("vgg");
        using var _ = no_grad();
        using var a = rand(3, 3, 32, 32) * 2 - 1;
        using var b = rand(3, 3, 32, 32) * 2 - 1;
        using var batch = lpips.call(a, b);
        for (int i = 0; i < 3; i++)
        {
            using var one = lpips.call(a[i..(i + 1)], b[i..(i + 1)]);
            Assert.Equal(batch[i].item<float>(), one.item<float>(), 1e-6f);
        }
    }

    [Fact]
    public void Load_TorchvisionBackboneAndLinPth_EqualsOneFileWithEverything()
    {
        // The two-file layout users have (torchvision features + LPIPS lin), here written as PyTorch zip files.
        string dir = TestPaths.TempDir();
        using var reference = LpipsFixtures.FormulaLpips("alex");
        var all = reference.state_dict().ToDictionary(kv => kv.Key.StartsWith("net.") ? kv.Key[4..] : kv.Key,
            kv => kv.Value);
        var backbone = all.Where(kv => kv.Key.StartsWith("features.")).ToDictionary(kv => kv.Key, kv => kv.Value);
        backbone["classifier.1.weight"] = ones(4, 9216); // torchvision's head, ignored
        var lin = all.Where(kv => kv.Key.StartsWith("lin")).ToDictionary(kv => "module." + kv.Key, kv => kv.Value);
        TorchFile.WriteStateDict(Path.Combine(dir, "alexnet.pth"), backbone);
        TorchFile.WriteStateDict(Path.Combine(dir, "alex.pth"), lin);
        SafeTensors.Write(Path.Combine(dir, "alex.safetensors"), all);
        using var twoFiles = Lpips.Load(LpipsNet.Alex, Path.Combine(dir, "alexnet.pth"), Path.Combine(dir, "alex.pth"));
        using var oneFile = Lpips.Load(LpipsNet.Alex, Path.Combine(dir, "alex.safetensors"));
        using var _ = no_grad();
        using var a = rand(2, 3, 40, 40);
        using var b = rand(2, 3, 40, 40);
        using var d1 = twoFiles.call(a, b);
        using var d2 = oneFile.call(a, b);
        using var d3 = reference.call(a, b);
        Assert.True(d1.equal(d3).all().item<bool>());
        Assert.True(d2.equal(d3).all().item<bool>());
    }

    [Fact]
    public void Load_BackboneWithoutLin_SaysToPassWeightsLin()
    {
        string dir = TestPaths.TempDir();
        using var reference = new Lpips(LpipsNet.Squeeze);
        var features = reference.state_dict().Where(kv => kv.Key.StartsWith("net.")).ToDictionary(kv => kv.Key[4..],
            kv => kv.Value);
        TorchFile.WriteStateDict(Path.Combine(dir, "squeezenet1_1.pth"), features);
        var e = Assert.Throws<DataFormatException>(() => Lpips.Load(LpipsNet.Squeeze,
            Path.Combine(dir, "squeezenet1_1.pth")));
        Assert.Contains("`weightsLin`", e.Message);
    }

    [Fact]
    public void Load_WeightsOfAnotherNetwork_NamesTheShapeMismatch()
    {
        var e = Assert.Throws<DataFormatException>(() => Lpips.Load(LpipsNet.Alex, TestPaths.LpipsWeights));
        output.WriteLine(e.Message);
        Assert.Contains("LPIPS-alex", e.Message);
        Assert.Contains("lpips-squeeze", e.Message);
    }

    [Fact]
    public void FromGradient_ScalesEachImageToPeakOne_AndKeepsZeroMapsZero()
    {
        using var g = stack(new[] { tensor(new float[] { 0.5f, -2f, 1f, 0f }), zeros(4), tensor(new float[] { 3f, 1f,
            0f, 0f }) }).reshape(3, 1, 2, 2);
        using var img = PerceptualImage.FromGradient(g);
        Assert.Equal(new[] { 0.25f, -1f, 0.5f, 0f, 0f, 0f, 0f, 0f, 1f, 1f / 3, 0f, 0f }, img.data<float>().ToArray());
    }
}
