using PagLab.Common;
using PagLab.Manifold;
using PagLab.Tests.Cli;
using PagLab.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Tests.Manifold;

/// <summary>Model initialisation draws from torch's process-wide generator, so the resume comparison runs
/// alone.</summary>
[CollectionDefinition(nameof(GlobalTorchRng), DisableParallelization = true)]
public sealed class GlobalTorchRng;

[Collection(nameof(GlobalTorchRng))]
public class AutoencoderTests
{
    [Theory]
    [InlineData(1, 28, 28, 16)]
    [InlineData(1, 56, 28, 16)]
    [InlineData(3, 32, 32, 128)]
    [InlineData(3, 64, 64, 128)]
    public void Autoencoder_ReconstructsEachSupportedShape(int c, int h, int w, int expectedDefaultLatent)
    {
        var shape = new PagLab.Data.ImageShape(c, h, w);
        Assert.Equal(expectedDefaultLatent, AutoencoderSpec.DefaultLatent(shape));
        using var ae = new ConvAutoencoder(new AutoencoderSpec { Kind = AutoencoderKind.Vae, Latent = 8,
            Channels = c, Height = h,
            Width = w, BaseChannels = 4 });
        using var x = rand(2, c, h, w);
        using var z = ae.Encode(x);
        using var y = ae.call(x);
        Assert.Equal(new long[] { 2, 8 }, z.shape);
        Assert.Equal(x.shape, y.shape);
        Assert.True(y.min().item<float>() >= 0 && y.max().item<float>() <= 1);
    }

    [Fact]
    public void Autoencoder_RejectsShapesItCannotHalve()
    {
        var error = Assert.Throws<PagLabException>(() => new ConvAutoencoder(new AutoencoderSpec
            { Kind = AutoencoderKind.Ae,
            Latent = 4, Channels = 1, Height = 30, Width = 30 }));
        Assert.Contains("multiples of 4", error.Message);
    }

    [Fact]
    public void Cli_TrainsAutoencoder_EstimatesTangents_AndDrawsFigure7()
    {
        string dir = TestPaths.TempDir();
        string ae = Path.Combine(dir, "ae"), t = Path.Combine(dir, "t.safetensors"), png = Path.Combine(dir,
            "fig7.png");
        var train = CliProcess.Run("autoencoder", "train", "--dataset", "shapes", "--latent", "4", "--epochs", "1",
            "--train-size", "64", "--test-size", "16", "--out", ae);
        Assert.True(train.ExitCode == 0, train.Stderr);
        var tangents = CliProcess.Run("tangents", "--autoencoder", ae, "--dataset", "shapes", "--count", "5", "--out",
            t);
        Assert.True(tangents.ExitCode == 0, tangents.Stderr);
        using (var spaces = TangentSpaces.Load(t))
        {
            Assert.Equal(new long[] { 5, 784, 4 }, spaces.Bases.shape);
            Assert.Equal("test", spaces.Info["split"]);
        }
        var show = CliProcess.Run("tangents", "show", t, "--dataset", "shapes", "--count", "2", "--out", png);
        Assert.True(show.ExitCode == 0, show.Stderr);
        Assert.True(new FileInfo(png).Length > 100);

        var wrong = CliProcess.Run("tangents", "--autoencoder", ae, "--dataset", "fashion-mnist", "--data-root", dir,
            "--count", "5", "--out", t);
        Assert.Equal(2, wrong.ExitCode);
        var missing = CliProcess.Run("measure", "manifold", "--model", Path.Combine(dir, "nope"), "--tangents", t,
            "--dataset", "shapes", "--out", Path.Combine(dir, "r.json"));
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("nope", missing.Stderr);
    }
}
