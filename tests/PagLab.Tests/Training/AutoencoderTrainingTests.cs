using PagLab.Common;
using PagLab.Manifold;
using PagLab.Training;

namespace PagLab.Tests.Training;

/// <summary>Autoencoder training through the shared loop (moved from Manifold with the trainer).</summary>
[Collection(nameof(PagLab.Tests.Manifold.GlobalTorchRng))]
public class AutoencoderTrainingTests
{
    static AutoencoderConfig Config(int epochs, AutoencoderKind kind = AutoencoderKind.Ae) => new()
    {
        Dataset = "shapes", Kind = kind, Latent = 4, Epochs = epochs, BatchSize = 32, TrainSize = 96, TestSize = 32,
        BaseChannels = 4, Seed = 3,
    };

    [Fact]
    public void Training_LowersReconstructionError_WritesRunFolder_AndResumesToTheSameWeights()
    {
        string straight = Path.Combine(TestPaths.TempDir(), "run"), resumed = Path.Combine(TestPaths.TempDir(), "run");
        using (var model = AutoencoderTrainer.Run(Config(3), straight)) { }
        var metrics = AutoencoderTrainer.ReadMetrics(straight);
        Assert.Equal(3, metrics.Count);
        Assert.True(metrics[^1].TestReconstruction < metrics[0].TestReconstruction,
                    string.Join(", ", metrics.Select(m => m.TestReconstruction)));
        Assert.Equal(RunStatus.Completed, RunFiles.ReadInfo(straight)!.Status);
        Assert.True(File.Exists(Path.Combine(straight, SavedAutoencoder.WeightsFile)));
        Assert.True(File.Exists(Path.Combine(straight, SavedAutoencoder.InfoFile)));

        // stop right after the epoch-2 checkpoint (as a kill there would), then resume to 3
        Assert.Throws<Stop>(() => AutoencoderTrainer.Run(Config(3), resumed, new StopAfter("epoch 2/3")));
        Assert.False(File.Exists(Path.Combine(resumed, SavedAutoencoder.WeightsFile)));
        Assert.Equal(RunStatus.Running, RunFiles.ReadInfo(resumed)!.Status);
        Assert.Throws<PagLabException>(() => AutoencoderTrainer.Run(Config(3), resumed));     // exists, no --resume
        Assert.Throws<PagLabException>(() => AutoencoderTrainer.Run(Config(4), resumed, resume: true)); // other epochs
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
        using var model = AutoencoderTrainer.Run(Config(1, AutoencoderKind.Vae), dir);
        var m = AutoencoderTrainer.ReadMetrics(dir).Single();
        Assert.True(m.Kl > 0 && double.IsFinite(m.TestReconstruction));
    }

    sealed class Stop : Exception;

    /// <summary>Throws at the first progress line that starts with the prefix.</summary>
    sealed class StopAfter(string prefix) : IProgressSink
    {
        public void Update(string task, long done, long total, string status = "") { }
        public void Line(string message) { if (message.StartsWith(prefix, StringComparison.Ordinal)) throw new Stop(); }
    }
}
