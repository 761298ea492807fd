using PagLab.Common;
using PagLab.Manifold;
using PagLab.Tests.Cli;
using PagLab.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Tests.Manifold;

/// <summary>Model initialisation draws from torch's process-wide generator, so the resume comparison runs alone.</summary>
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
        using var ae = new ConvAutoencoder(new AutoencoderSpec { Kind = "vae", Latent = 8, Channels = c, Height = h, Width = w, BaseChannels = 4 });
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
        var error = Assert.Throws<PagLabException>(() => new ConvAutoencoder(new AutoencoderSpec { Kind = "ae", Latent = 4, Channels = 1, Height = 30, Width = 30 }));
        Assert.Contains("multiples of 4", error.Message);
    }

    static AutoencoderConfig Config(int epochs, string kind = "ae") => new()
    {
        Dataset = "shapes", Kind = kind, Latent = 4, Epochs = epochs, BatchSize = 32, TrainSize = 96, TestSize = 32, BaseChannels = 4, Seed = 3,
    };

    [Fact]
    public void Training_LowersReconstructionError_WritesRunFolder_AndResumesToTheSameWeights()
    {
        string straight = Path.Combine(TestPaths.TempDir(), "run"), resumed = Path.Combine(TestPaths.TempDir(), "run");
        using (var model = AutoencoderTrainer.Run(Config(3), straight)) { }
        var metrics = AutoencoderTrainer.ReadMetrics(straight);
        Assert.Equal(3, metrics.Count);
        Assert.True(metrics[^1].TestReconstruction < metrics[0].TestReconstruction, string.Join(", ", metrics.Select(m => m.TestReconstruction)));
        Assert.Equal(RunStatus.Completed, RunFiles.ReadInfo(straight)!.Status);
        Assert.True(File.Exists(Path.Combine(straight, SavedAutoencoder.WeightsFile)) && File.Exists(Path.Combine(straight, SavedAutoencoder.InfoFile)));

        // stop after 2 epochs (as a kill after the epoch-2 checkpoint would), then resume to 3
        using (var partial = AutoencoderTrainer.Run(Config(2), resumed)) { }
        File.Delete(Path.Combine(resumed, SavedAutoencoder.WeightsFile));
        var info = RunFiles.ReadInfo(resumed)!;
        RunFiles.WriteInfo(resumed, info with { Status = RunStatus.Running });
        Assert.Throws<PagLabException>(() => AutoencoderTrainer.Run(Config(3), resumed));     // exists, no --resume
        using var a = SavedAutoencoder.Load(straight);
        using var b = AutoencoderTrainer.Run(Config(3), resumed, resume: true);
        Assert.Equal(3, AutoencoderTrainer.ReadMetrics(resumed).Count);
        foreach (var ((name, pa), (_, pb)) in a.named_parameters().Zip(b.named_parameters()))
            Assert.True(pa.eq(pb).all().item<bool>(), $"{name} differs after resume");
    }

    [Fact]
    public void Vae_TrainsAndReportsKl()
    {
        string dir = Path.Combine(TestPaths.TempDir(), "vae");
        using var model = AutoencoderTrainer.Run(Config(1, "vae"), dir);
        var m = AutoencoderTrainer.ReadMetrics(dir).Single();
        Assert.True(m.Kl > 0 && double.IsFinite(m.TestReconstruction));
    }

    [Fact]
    public void Cli_TrainsAutoencoder_EstimatesTangents_AndDrawsFigure7()
    {
        string dir = TestPaths.TempDir();
        string ae = Path.Combine(dir, "ae"), t = Path.Combine(dir, "t.safetensors"), png = Path.Combine(dir, "fig7.png");
        var train = CliProcess.Run("autoencoder", "train", "--dataset", "shapes", "--latent", "4", "--epochs", "1", "--train-size", "64", "--test-size", "16", "--out", ae);
        Assert.True(train.ExitCode == 0, train.Stderr);
        var tangents = CliProcess.Run("tangents", "--autoencoder", ae, "--dataset", "shapes", "--count", "5", "--out", t);
        Assert.True(tangents.ExitCode == 0, tangents.Stderr);
        using (var spaces = TangentSpaces.Load(t))
        {
            Assert.Equal(new long[] { 5, 784, 4 }, spaces.Bases.shape);
            Assert.Equal("test", spaces.Info["split"]);
        }
        var show = CliProcess.Run("tangents", "show", t, "--dataset", "shapes", "--count", "2", "--out", png);
        Assert.True(show.ExitCode == 0, show.Stderr);
        Assert.True(new FileInfo(png).Length > 100);

        var wrong = CliProcess.Run("tangents", "--autoencoder", ae, "--dataset", "fashion-mnist", "--data-root", dir, "--count", "5", "--out", t);
        Assert.Equal(2, wrong.ExitCode);
        var missing = CliProcess.Run("measure", "manifold", "--model", Path.Combine(dir, "nope"), "--tangents", t, "--dataset", "shapes", "--out", Path.Combine(dir, "r.json"));
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("nope", missing.Stderr);
    }
}
