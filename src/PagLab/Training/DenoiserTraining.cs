using System.Globalization;
using PagLab.Common;
using PagLab.Data;
using PagLab.Score;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PagLab.Training;

/// <summary>
/// How an EDM denoiser trains, apart from what the caller decides (dataset, conditioning, seed, data). A sweep
/// spec's `shared.denoiser` section is this record and DenoiserConfig extends it, so a spec can set whatever
/// `paglab denoiser train` can, with one set of defaults (these, the CLI's too).
/// </summary>
public record DenoiserSettings : LoopSettings
{
    public DenoiserSettings() { Epochs = 10; LearningRate = 2e-3; }

    public int BaseChannels { get; init; } = 32;     // unet only
    public DenoiserArch Arch { get; init; } = DenoiserArch.UNet;
    public int HiddenWidth { get; init; } = 512;     // mlp only
    /// <summary>EMA of the weights (as EDM, with its ramp-up); the saved denoiser is the average.</summary>
    public double EmaDecay { get; init; } = 0.995;
}

/// <summary>Everything that defines a denoiser run; stored in run.json so a run can be resumed.</summary>
public sealed record DenoiserConfig : DenoiserSettings, IRunConfig
{
    public DenoiserConfig() { }

    /// <summary>A run from a template (a sweep's `shared.denoiser`); the caller adds dataset, seed, data.</summary>
    public DenoiserConfig(DenoiserSettings template) : base(template) { }

    public required string Dataset { get; init; }
    public bool Conditional { get; init; }
    public long Seed { get; init; } = 0;
    public string? DataRoot { get; init; }
    public int? TrainSize { get; init; }

    /// <summary>Checks every value; messages name the property (the CLI shows the flag the user wrote).</summary>
    public void Validate()
    {
        ValidateLoop(TrainSize);
        Require.That(BaseChannels is >= 8 and <= 512 && BaseChannels % 8 == 0,
                     $"baseChannels must be a multiple of 8 in 8..512, got {BaseChannels}");
        Require.That(Enum.IsDefined(Arch), $"unknown denoiser architecture {(int)Arch}");
        Require.That(HiddenWidth is >= 16 and <= 8192, $"hiddenWidth must be in 16..8192, got {HiddenWidth}");
        Require.InRange(EmaDecay, 0, 1, "emaDecay");
    }
}

/// <summary>One line of the denoiser's metrics.jsonl: mean EDM loss overall and per EDM-sigma bucket.</summary>
public sealed record DenoiserEpoch : IEpochRecord
{
    public int Epoch { get; init; }
    public double Loss { get; init; }
    public Dictionary<string, double> LossBySigma { get; init; } = new();
    public double Seconds { get; init; }
}

/// <summary>Trains an EDM denoiser (run kind "denoiser"); the saved denoiser is the EMA of the weights.</summary>
public static class DenoiserTrainer
{
    public const string Kind = "denoiser";
    public const string WeightsFile = SavedDenoiser.WeightsFile, InfoFile = SavedDenoiser.InfoFile;

    public static EdmPreconditioner Load(string dir) => SavedDenoiser.Load(dir);

    public static void Save(string dir, EdmPreconditioner denoiser, string? dataset) =>
        SavedDenoiser.Save(dir, denoiser, dataset);

    /// <summary>The run's metrics (the stored ones when it had completed); divergence throws.</summary>
    public static IReadOnlyList<DenoiserEpoch> Run(DenoiserConfig config, string runDir, IProgressSink? progress = null,
                                                   bool resume = false, IDataset? dataset = null,
                                                   string? tensorboard = null)
    {
        var (metrics, denoiser) = Train(config, runDir, progress, resume, dataset, tensorboard);
        denoiser?.Dispose();
        return metrics;
    }

    /// <summary>
    /// <see cref="Run"/>, keeping the denoiser it saved (the EMA, eval mode; the caller owns it): a sweep uses it
    /// without reading it back from runDir. Null when the run had completed before this call.
    /// </summary>
    public static (IReadOnlyList<DenoiserEpoch> Metrics, EdmPreconditioner? Denoiser) Train(DenoiserConfig config,
        string runDir, IProgressSink? progress = null, bool resume = false, IDataset? dataset = null,
        string? tensorboard = null)
    {
        var run = RunFolder.Open(runDir, Kind, config, resume);
        if (run.Completed) return (run.ReadMetrics<DenoiserEpoch>(), null);
        using var step = new DenoiserStep(config, dataset);
        var result = TrainingLoop.Run(run, step, progress, tensorboard);
        if (result.Status == RunStatus.Diverged)
            throw new PagLabException($"{runDir}: denoiser training {result.Message}; try a smaller learning rate");
        return (result.Metrics, step.TakeDenoiser());
    }
}

/// <summary>The EDM denoiser step: EDM's loss (EdmLoss), an EMA of the weights after each update.</summary>
public sealed class DenoiserStep : ITrainingStep<DenoiserEpoch>
{
    static readonly double[] Buckets = { 0.1, 0.5, 1, 2, 5 }; // EDM-sigma bucket upper edges; the last bucket is open
    readonly DenoiserConfig config;
    readonly IDataset dataset;
    readonly EdmPreconditioner denoiser;
    readonly DenoiserNetwork ema;
    bool ownsEma = true;        // until TakeDenoiser hands it on

    public DenoiserStep(DenoiserConfig config, IDataset? dataset)
    {
        this.config = config;
        dataset ??= Datasets.Load(config.Dataset, new DataOptions(config.DataRoot, config.Seed, config.TrainSize,
                                                                            DenoiserQuality.DefaultCount));
        this.dataset = dataset;
        Train = config.TrainSize is int n ? dataset.Train.Take(n) : dataset.Train;
        torch.manual_seed(config.Seed);
        var spec = new UNetSpec
        {
            Channels = dataset.Shape.Channels, Height = dataset.Shape.Height, Width = dataset.Shape.Width,
            Classes = config.Conditional ? dataset.Classes : 0, BaseChannels = config.BaseChannels,
            Arch = config.Arch, HiddenWidth = config.HiddenWidth,
        };
        denoiser = new EdmPreconditioner(DenoiserNetworks.Create(spec));
        Optimizer = new RaceFree.Adam(denoiser.Network.parameters(), config.LearningRate);
        ema = DenoiserNetworks.Create(spec);
        using (no_grad())
        {
            var source = denoiser.Network.state_dict();
            foreach (var (name, t) in ema.state_dict()) t.copy_(source[name]);
        }
        Extra = new Dictionary<string, nn.Module> { ["ema"] = ema };
        Options = new LoopOptions
        {
            Epochs = config.Epochs, BatchSize = config.BatchSize, Seed = config.Seed, NoiseSeed = config.Seed + 7919,
            CheckpointEveryBatches = config.CheckpointEveryBatches,
            CheckpointEverySeconds = config.CheckpointEverySeconds,
        };
    }

    public LoopOptions Options { get; }
    public DataSplit Train { get; }
    public string Task => "denoiser epoch";
    public nn.Module Network => denoiser.Network;
    public OptimizerHelper Optimizer { get; }
    public IReadOnlyDictionary<string, nn.Module> Extra { get; }

    public Tensor Loss(Batch batch, Generator noise, Dictionary<string, double> sums)
    {
        var labels = denoiser.Conditional ? batch.Labels : null;
        var (loss, sigma) = EdmLoss.PerExample(denoiser, batch.Images, labels, noise);              // (B), (B)
        // bucket k = number of edges <= sigma; per-bucket sums of the loss and counts over the batch
        var bucket = sigma.unsqueeze(1).ge(tensor(Buckets, dtype: sigma.dtype).unsqueeze(0)).sum(1);           // (B)
        var perExample = loss.detach().to_type(ScalarType.Float64);
        for (int k = 0; k <= Buckets.Length; k++)
        {
            var inBucket = bucket.eq(k).to_type(ScalarType.Float64);                                  // (B) 0/1
            sums[$"loss{k}"] = sums.GetValueOrDefault($"loss{k}") + (inBucket * perExample).sum().item<double>();
            sums[$"count{k}"] = sums.GetValueOrDefault($"count{k}") + inBucket.sum().item<double>();
        }
        return loss.mean();
    }

    /// <summary>ema = decay * ema + (1 - decay) * weights, in place.</summary>
    public void AfterUpdate(long update)
    {
        using var _ = no_grad();
        var current = denoiser.Network.state_dict();
        double decay = EmaDecayAt(config.EmaDecay, update);
        foreach (var (name, t) in ema.state_dict()) t.mul_(decay).add_(current[name], alpha: 1 - decay);
    }

    /// <summary>
    /// The EMA decay at optimizer step t (from 1), with EDM's ramp-up (Karras et al. 2022, training_loop.py:
    /// ema_rampup_ratio = 0.05): the half-life is at most 5% of the steps so far, so a short run's average is not
    /// dominated by its random initialisation (0.995^150 = 0.47 of it after 150 steps without the ramp-up).
    /// </summary>
    public static double EmaDecayAt(double decay, long step) =>
        Math.Min(decay, Math.Pow(0.5, 1 / Math.Max(EmaRampUp * step, 1e-8)));

    const double EmaRampUp = 0.05;

    public string Status(TrainPosition p) => $"loss {p.Sums.GetValueOrDefault("loss") / Math.Max(1, p.Seen):F4}";

    public DenoiserEpoch EndEpoch(int epoch, TrainPosition p) => new()
    {
        Epoch = epoch + 1, Loss = p.Sums.GetValueOrDefault("loss") / Math.Max(1, p.Seen), Seconds = p.Seconds,
        LossBySigma = Enumerable.Range(0, Buckets.Length + 1).Where(k => p.Sums.GetValueOrDefault($"count{k}") > 0)
            .ToDictionary(k => k < Buckets.Length ? "<" + Edge(k) : ">=" + Edge(Buckets.Length - 1),
                          k => p.Sums[$"loss{k}"] / p.Sums[$"count{k}"]),
    };

    static string Edge(int k) => Buckets[k].ToString(CultureInfo.InvariantCulture);

    public string Describe(DenoiserEpoch m) =>
        $"denoiser epoch {m.Epoch}/{config.Epochs}: EDM loss {m.Loss:F4} " +
        $"({string.Join(", ", m.LossBySigma.Select(kv => $"sigma {kv.Key}: {kv.Value:F3}"))}) {m.Seconds:F1}s";

    public void SaveFinal(string dir)
    {
        ema.eval();
        var trained = new EdmPreconditioner(ema);             // ema is disposed with the step
        SavedDenoiser.Save(dir, trained, dataset.Name);
        DenoiserQuality.Write(dir, DenoiserQuality.Measure(trained, dataset));
    }

    /// <summary>The saved denoiser (the EMA, after <see cref="SaveFinal"/>), which the caller now owns.</summary>
    public EdmPreconditioner TakeDenoiser()
    {
        ownsEma = false;
        return new EdmPreconditioner(ema);
    }

    public void Dispose()
    {
        Optimizer.Dispose();
        denoiser.Dispose();
        if (ownsEma) ema.Dispose();
    }
}
