using PagLab.Common;
using PagLab.Data;
using PagLab.Manifold;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PagLab.Training;

/// <summary>
/// How an autoencoder trains, apart from what the caller decides (dataset, seed, data). A sweep spec's
/// `shared.autoencoder` section is this record and AutoencoderConfig extends it, so a spec can set whatever
/// `paglab autoencoder train` can, with one set of defaults (these, the CLI's too).
/// </summary>
public record AutoencoderSettings : LoopSettings
{
    public AutoencoderSettings() { Epochs = 10; LearningRate = 1e-3; }   // Adam

    public AutoencoderKind Kind { get; init; } = AutoencoderKind.Ae;
    public int? Latent { get; init; }                 // null: 16 for 28-pixel data, 128 from 32 pixels (Suppl. B.6)
    public double KlWeight { get; init; } = 1.0;      // vae: weight of KL(q(z|x) || N(0, I)) against the squared error
    public int BaseChannels { get; init; } = 32;
}

/// <summary>Everything that defines an autoencoder run (`paglab autoencoder train`); stored in run.json.</summary>
public sealed record AutoencoderConfig : AutoencoderSettings, IRunConfig
{
    public AutoencoderConfig() { }

    /// <summary>A run from a template (a sweep's `shared.autoencoder`); the caller adds dataset, seed, data.</summary>
    public AutoencoderConfig(AutoencoderSettings template) : base(template) { }

    public required string Dataset { get; init; }
    public long Seed { get; init; }
    public int? TrainSize { get; init; }
    public int? TestSize { get; init; }
    public string? DataRoot { get; init; }

    /// <summary>Checks every value; messages name the property (the CLI shows the flag the user wrote).</summary>
    public void Validate()
    {
        Require.That(Enum.IsDefined(Kind), $"unknown autoencoder kind {(int)Kind}");
        ValidateLoop(TrainSize);
        Require.NonNegative(KlWeight, "klWeight");
        Require.That(BaseChannels is >= 1 and <= 512, $"baseChannels must be in 1..512, got {BaseChannels}");
        if (Latent is int k) Require.That(k >= 1, $"latent must be >= 1, got {k}");
        if (TestSize is int n) Require.That(n >= 1, $"testSize must be >= 1, got {n}");
    }
}

/// <summary>One line of metrics.jsonl of an autoencoder run.</summary>
public sealed record AutoencoderEpoch : IEpochRecord
{
    public int Epoch { get; init; }
    public double TrainReconstruction { get; init; }   // mean squared error per pixel, training batches
    public double TestReconstruction { get; init; }    // mean squared error per pixel, test split
    public double Kl { get; init; }                    // vae only: mean KL per image
    public double Seconds { get; init; }
}

/// <summary>
/// Trains a ConvAutoencoder with Adam (run kind "autoencoder"): squared reconstruction error summed over
/// pixels (plus the KL term for a vae), mean over the batch; the saved autoencoder is the artefact.
/// </summary>
public static class AutoencoderTrainer
{
    public const string Kind = "autoencoder";

    /// <summary>The trained autoencoder (the saved one when the run had completed); divergence throws.</summary>
    public static ConvAutoencoder Run(AutoencoderConfig config, string runDir, IProgressSink? progress = null,
                                      bool resume = false, string? tensorboard = null)
    {
        var run = RunFolder.Open(runDir, Kind, config, resume);
        if (run.Completed) return SavedAutoencoder.Load(runDir);
        var step = new AutoencoderStep(config);
        try
        {
            var result = TrainingLoop.Run(run, step, progress, tensorboard);
            if (result.Status == RunStatus.Diverged) throw new PagLabException($"{runDir}: {result.Message}");
            return step.Model;
        }
        catch
        {
            step.Model.Dispose();
            throw;
        }
        finally { step.Dispose(); }
    }

    public static List<AutoencoderEpoch> ReadMetrics(string dir) => RunFiles.ReadMetrics<AutoencoderEpoch>(dir);
}

/// <summary>The autoencoder step; the caller owns Model (it outlives the step).</summary>
public sealed class AutoencoderStep : ITrainingStep<AutoencoderEpoch>
{
    readonly AutoencoderConfig config;
    readonly IDataset dataset;

    public AutoencoderStep(AutoencoderConfig config)
    {
        this.config = config;
        var data = new DataOptions(config.DataRoot, config.Seed, config.TrainSize, config.TestSize);
        dataset = Datasets.Load(config.Dataset, data);
        var spec = new AutoencoderSpec
        {
            Kind = config.Kind, Latent = config.Latent ?? AutoencoderSpec.DefaultLatent(dataset.Shape),
            Channels = dataset.Shape.Channels, Height = dataset.Shape.Height, Width = dataset.Shape.Width,
            BaseChannels = config.BaseChannels, Dataset = dataset.Name,
        };
        torch.manual_seed(config.Seed);
        Model = new ConvAutoencoder(spec);
        Optimizer = new RaceFree.Adam(Model.parameters(), config.LearningRate);
        Options = new LoopOptions
        {
            Epochs = config.Epochs, BatchSize = config.BatchSize, Seed = config.Seed, NoiseSeed = config.Seed,
            CheckpointEveryBatches = config.CheckpointEveryBatches,
            CheckpointEverySeconds = config.CheckpointEverySeconds,
        };
    }

    public ConvAutoencoder Model { get; }
    public LoopOptions Options { get; }
    public DataSplit Train => dataset.Train;
    public string Task => "autoencoder epoch";
    public nn.Module Network => Model;
    public OptimizerHelper Optimizer { get; }

    public Tensor Loss(Batch batch, Generator noise, Dictionary<string, double> sums)
    {
        var (squared, kl) = AutoencoderLoss.PerExample(Model, batch.Images, noise);   // (B), (B)
        sums["squared"] = sums.GetValueOrDefault("squared") + squared.sum().item<float>();
        sums["kl"] = sums.GetValueOrDefault("kl") + kl.sum().item<float>();
        return (squared + config.KlWeight * kl).mean();
    }

    double Mse(TrainPosition p) => p.Sums.GetValueOrDefault("squared") / Math.Max(1, p.Seen) / dataset.Shape.Pixels;

    public string Status(TrainPosition p) => $"mse {Mse(p):F5}";

    public AutoencoderEpoch EndEpoch(int epoch, TrainPosition p) => new()
    {
        Epoch = epoch + 1, TrainReconstruction = Mse(p),
        TestReconstruction = AutoencoderLoss.ReconstructionError(Model, dataset.Test.Images, config.BatchSize),
        Kl = p.Sums.GetValueOrDefault("kl") / Math.Max(1, p.Seen), Seconds = p.Seconds,
    };

    public string Describe(AutoencoderEpoch m) =>
        $"epoch {m.Epoch}/{config.Epochs}: train mse {m.TrainReconstruction:F5} test mse {m.TestReconstruction:F5}" +
        $"{(config.Kind == AutoencoderKind.Vae ? $" kl {m.Kl:F2}" : "")} {m.Seconds:F1}s";

    public void SaveFinal(string dir)
    {
        Model.eval();
        SavedAutoencoder.Save(dir, Model);
    }

    public void Dispose() => Optimizer.Dispose();
}
