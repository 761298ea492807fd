using System.Globalization;
using PagLab.IO;
using PagLab.Metrics;
using PagLab.Tests.Cli;
using SkiaSharp;
using static TorchSharp.torch;

namespace PagLab.Tests.Metrics;

public class LpipsCliTests
{
    static string WritePng(string dir, string name, int seed, int w, int h)
    {
        var rng = new Random(seed);
        using var bmp = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                bmp.SetPixel(x, y, new SKColor((byte)rng.Next(256), (byte)((x * 7 + y * 3) % 256),
                    (byte)rng.Next(256)));
        string path = Path.Combine(dir, name);
        using var data = bmp.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, data.ToArray());
        return path;
    }

    [Fact]
    public void Lpips_PrintsTheDistanceOfThePngPixelsMappedToMinusOneOne()
    {
        string weights = TestPaths.LpipsWeights, dir = TestPaths.TempDir();
        string a = WritePng(dir, "a.png", 1, 36, 30), b = WritePng(dir, "b.png", 2, 36, 30);
        var run = CliProcess.Run("lpips", a, b, "--weights", weights);
        Assert.True(run.ExitCode == 0, run.Stderr);
        using var lpips = Lpips.Load(LpipsNet.Squeeze, weights);
        using var x = RgbImage.Read(a);
        using var y = RgbImage.Read(b);
        Assert.Equal(new long[] { 3, 30, 36 }, x.shape);
        using var _ = no_grad();
        using var d = lpips.call(Lpips.FromUnitRange(x.unsqueeze(0)), Lpips.FromUnitRange(y.unsqueeze(0)));
        Assert.Equal(d.item<float>(), float.Parse(run.Stdout.Trim(), CultureInfo.InvariantCulture), 1e-5f);
        Assert.True(d.item<float>() > 0.01f);
    }

    [Fact]
    public void Lpips_OnImagesOfDifferentSizes_GivesAOneLineError()
    {
        string weights = TestPaths.LpipsWeights, dir = TestPaths.TempDir();
        var run = CliProcess.Run("lpips", WritePng(dir, "a.png", 1, 32, 32), WritePng(dir, "b.png", 1, 28, 28),
            "--weights", weights);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("same size", run.Stderr);
        Assert.Single(run.Stderr.Trim().Split('\n'));
    }

    [Fact]
    public void Lpips_WithoutOptionOrVariable_UsesTheDataRootsWeights_ElseTheShippedOnes()
    {
        string dir = TestPaths.TempDir();
        string a = WritePng(dir, "a.png", 3, 32, 32), b = WritePng(dir, "b.png", 4, 32, 32);
        var noVariable = new Dictionary<string, string?> { ["PAGLAB_LPIPS_WEIGHTS"] = null };
        string root = Directory.CreateDirectory(Path.Combine(dir, "root")).FullName;

        var shipped = CliProcess.RunWithEnvironment(noVariable, "lpips", a, b, "--data-root", root);
        var direct = CliProcess.Run("lpips", a, b, "--weights", TestPaths.LpipsWeights);
        Assert.True(shipped.ExitCode == 0, shipped.Stderr);
        Assert.Equal(direct.Stdout, shipped.Stdout);

        // the data root's file comes before the shipped one: randomly initialised weights give another distance
        LpipsDefaultNetTests.WriteWeights("squeeze", Directory.CreateDirectory(Path.Combine(root, "weights")).FullName);
        var fromRoot = CliProcess.RunWithEnvironment(noVariable, "lpips", a, b, "--data-root", root);
        Assert.True(fromRoot.ExitCode == 0, fromRoot.Stderr);
        Assert.NotEqual(direct.Stdout, fromRoot.Stdout);

        var alex = CliProcess.RunWithEnvironment(noVariable, "lpips", a, b, "--net", "alex", "--data-root", root);
        Assert.Equal(2, alex.ExitCode);
        Assert.Contains(Path.Combine(root, "weights", "lpips-alex-v0.1.safetensors"), alex.Stderr);
        Assert.Contains("paglab weights fetch lpips-alex", alex.Stderr);
        Assert.Single(alex.Stderr.Trim().Split('\n'));
    }
}
