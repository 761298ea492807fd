using System.Diagnostics;
using System.Text.Json;
using PagLab.Common;
using PagLab.Data;
using PagLab.IO;
using PagLab.Models;
using PagLab.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PagLab.Score;

/// <summary>denoiser.json beside denoiser.safetensors.</summary>
public sealed record DenoiserFile
{
    public int FormatVersion { get; init; } = 1;
    public required UNetSpec Spec { get; init; }
    public string? Dataset { get; init; }
}

public sealed record DenoiserConfig
{
    public required string Dataset { get; init; }
    public bool Conditional { get; init; }
    public int Epochs { get; init; } = 10;
    public int BatchSize { get; init; } = 128;
    public double LearningRate { get; init; } = 2e-3;
    public int BaseChannels { get; init; } = 32;
    public string Arch { get; init; } = "unet";      // unet | mlp (DenoiserNetworks)
    public int HiddenWidth { get; init; } = 512;     // mlp only
    public long Seed { get; init; } = 0;
    public string? DataRoot { get; init; }
    public int? TrainSize { get; init; }
    public int? Threads { get; init; }
    /// <summary>EMA of the weights (as EDM, with its ramp-up); the saved denoiser is the average.</summary>
    public double EmaDecay { get; init; } = 0.995;
}

/// <summary>One line of the denoiser's metrics.jsonl: mean EDM loss overall and per EDM-sigma bucket.</summary>
public sealed record DenoiserEpoch
{
    public int Epoch { get; init; }
    public double Loss { get; init; }
    public Dictionary<string, double> LossBySigma { get; init; } = new();
    public double Seconds { get; init; }
}

/// <summary>Trains an EDM denoiser; a run folder like a classifier's, checkpointed each epoch.</summary>
public static class DenoiserTrainer
{
    public const string WeightsFile = "denoiser.safetensors", InfoFile = "denoiser.json";
    static readonly double[] Buckets = { 0.1, 0.5, 1, 2, 5 }; // EDM-sigma bucket upper edges; the last bucket is open

    public static EdmPreconditioner Load(string dir)
    {
        string info = Path.Combine(dir, InfoFile);
        if (!File.Exists(info)) throw new PagLabException($"{dir}: not a denoiser folder (no {InfoFile}; train one with 'paglab denoiser train')");
        var file = JsonFiles.Read<DenoiserFile>(info);
        var net = DenoiserNetworks.Create(file.Spec);
        var tensors = SafeTensors.Read(Path.Combine(dir, WeightsFile));
        try { SavedModel.LoadStateDict(net, tensors, Path.Combine(dir, WeightsFile)); }
        finally { foreach (var t in tensors.Values) t.Dispose(); }
        net.eval();
        return new EdmPreconditioner(net);
    }

    public static void Save(string dir, EdmPreconditioner denoiser, string? dataset)
    {
        Directory.CreateDirectory(dir);
        SafeTensors.Write(Path.Combine(dir, WeightsFile), SavedModel.StateDict(denoiser.Network));
        JsonFiles.Write(Path.Combine(dir, InfoFile), new DenoiserFile { Spec = denoiser.Network.Spec, Dataset = dataset });
    }

    public static IReadOnlyList<DenoiserEpoch> Run(DenoiserConfig config, string runDir, IProgressSink? progress = null, bool resume = false, IDataset? dataset = null)
    {
        progress ??= NullProgress.Instance;
        Require.That(config.Epochs >= 1, "--epochs must be >= 1");
        Require.That(config.BatchSize >= 1, "--batch-size must be >= 1");
        Require.Positive(config.LearningRate, "--lr");
        if (config.Threads is int t) torch.set_num_threads(t);
        var existing = RunFiles.ReadInfo(runDir);
        if (existing is not null && !resume) throw new PagLabException($"{runDir} already holds a run; pass --resume or choose another --out");
        if (existing is { Status: RunStatus.Completed }) return ReadMetrics(runDir);
        dataset ??= Datasets.Load(config.Dataset,
            new DataOptions(config.DataRoot, config.Seed, config.TrainSize, DenoiserQuality.DefaultCount));
        var train = config.TrainSize is int n ? dataset.Train.Take(n) : dataset.Train;
        torch.manual_seed(config.Seed);
        var spec = new UNetSpec
        {
            Channels = dataset.Shape.Channels, Height = dataset.Shape.Height, Width = dataset.Shape.Width,
            Classes = config.Conditional ? dataset.Classes : 0, BaseChannels = config.BaseChannels,
            Arch = config.Arch, HiddenWidth = config.HiddenWidth,
        };
        using var denoiser = new EdmPreconditioner(DenoiserNetworks.Create(spec));
        using var optimizer = torch.optim.Adam(denoiser.Network.parameters(), config.LearningRate);
        using var ema = DenoiserNetworks.Create(spec);
        CopyWeights(denoiser.Network, ema);
        Directory.CreateDirectory(runDir);
        var metrics = new List<DenoiserEpoch>();
        int startEpoch = 0;
        string checkpoint = Path.Combine(runDir, RunFiles.Checkpoint);
        if (resume && Checkpoint.Find(runDir) is string found)
        {
            startEpoch = Checkpoint.Load(found, denoiser.Network, optimizer).Epoch;
            string emaFile = Path.Combine(found, "ema.safetensors");
            if (File.Exists(emaFile))
            {
                var tensors = SafeTensors.Read(emaFile);
                try { SavedModel.LoadStateDict(ema, tensors, emaFile); } finally { foreach (var tensor in tensors.Values) tensor.Dispose(); }
            }
            metrics = ReadMetrics(runDir).Where(m => m.Epoch <= startEpoch).ToList();
            progress.Line($"resuming {runDir} at epoch {startEpoch + 1}");
        }
        var started = existing?.Started ?? DateTime.UtcNow;
        WriteInfo(runDir, config, RunStatus.Running, started);
        int batches = train.BatchCount(config.BatchSize);
        for (int epoch = startEpoch; epoch < config.Epochs; epoch++)
        {
            denoiser.Network.train();
            var clock = Stopwatch.StartNew();
            var sums = new double[Buckets.Length + 1]; var counts = new long[Buckets.Length + 1];
            double total = 0; long seen = 0; int b = 0;
            foreach (var batch in train.Batches(config.BatchSize, config.Seed, epoch))
            {
                using var scope = NewDisposeScope();
                using var _ = batch;
                using var g = Trainer.NoiseFor(config.Seed + 7919, epoch, b);
                optimizer.zero_grad();
                var (loss, sigma) = EdmLoss.PerExample(denoiser, batch.Images, spec.Conditional ? batch.Labels : null, g);
                var mean = loss.mean();
                float value = mean.item<float>();
                if (!float.IsFinite(value)) throw new PagLabException($"denoiser training diverged at epoch {epoch + 1} (loss {value}); try a smaller --lr");
                mean.backward();
                optimizer.step();
                UpdateEma(ema, denoiser.Network, EmaDecayAt(config.EmaDecay, (long)epoch * batches + b + 1));
                var l = loss.detach().data<float>().ToArray(); var s = sigma.data<float>().ToArray();
                for (int i = 0; i < l.Length; i++)
                {
                    int k = Array.FindIndex(Buckets, edge => s[i] < edge);
                    if (k < 0) k = Buckets.Length;
                    sums[k] += l[i]; counts[k]++;
                }
                total += value * batch.Size; seen += batch.Size; b++;
                progress.Update($"denoiser epoch {epoch + 1}/{config.Epochs}", b, batches, $"loss {total / seen:F4}");
            }
            var line = new DenoiserEpoch
            {
                Epoch = epoch + 1, Loss = total / Math.Max(1, seen), Seconds = clock.Elapsed.TotalSeconds,
                LossBySigma = Enumerable.Range(0, sums.Length).Where(k => counts[k] > 0)
                    .ToDictionary(k => k < Buckets.Length ? $"<{Buckets[k]}" : $">={Buckets[^1]}", k => sums[k] / counts[k]),
            };
            metrics.Add(line);
            AtomicFile.WriteAllText(Path.Combine(runDir, RunFiles.Metrics), string.Concat(metrics.Select(m => JsonSerializer.Serialize(m, JsonFiles.Lines) + "\n")));
            Checkpoint.Save(runDir, denoiser.Network, optimizer, new TrainPosition { Epoch = epoch + 1 });
            SafeTensors.Write(Path.Combine(runDir, RunFiles.Checkpoint, "ema.safetensors"), SavedModel.StateDict(ema));
            progress.Line($"denoiser epoch {line.Epoch}/{config.Epochs}: EDM loss {line.Loss:F4} ({string.Join(", ", line.LossBySigma.Select(kv => $"sigma {kv.Key}: {kv.Value:F3}"))}) {line.Seconds:F1}s");
        }
        ema.eval();
        var trained = new EdmPreconditioner(ema);             // ema is disposed by its using
        Save(runDir, trained, dataset.Name);
        DenoiserQuality.Write(runDir, DenoiserQuality.Measure(trained, dataset));
        WriteInfo(runDir, config, RunStatus.Completed, started);
        return metrics;
    }

    static void CopyWeights(nn.Module from, nn.Module to)
    {
        using var _ = no_grad();
        var source = from.state_dict();
        foreach (var (name, t) in to.state_dict()) t.copy_(source[name]);
    }

    /// <summary>
    /// The EMA decay at optimizer step t (from 1), with EDM's ramp-up (Karras et al. 2022, training_loop.py:
    /// ema_rampup_ratio = 0.05): the half-life is at most 5% of the steps so far, so a short run's average is not
    /// dominated by its random initialisation (0.995^150 = 0.47 of it after 150 steps without the ramp-up).
    /// </summary>
    public static double EmaDecayAt(double decay, long step) =>
        Math.Min(decay, Math.Pow(0.5, 1 / Math.Max(EmaRampUp * step, 1e-8)));

    const double EmaRampUp = 0.05;

    /// <summary>ema = decay * ema + (1 - decay) * weights, in place.</summary>
    static void UpdateEma(nn.Module ema, nn.Module model, double decay)
    {
        using var _ = no_grad();
        var current = model.state_dict();
        foreach (var (name, t) in ema.state_dict()) t.mul_(decay).add_(current[name], alpha: 1 - decay);
    }

    static List<DenoiserEpoch> ReadMetrics(string runDir)
    {
        string path = Path.Combine(runDir, RunFiles.Metrics);
        return File.Exists(path)
            ? File.ReadAllLines(path).Where(l => l.Trim().Length > 0).Select(l => JsonSerializer.Deserialize<DenoiserEpoch>(l, JsonFiles.Lines)!).ToList()
            : new();
    }

    static void WriteInfo(string runDir, DenoiserConfig config, RunStatus status, DateTime started) =>
        RunFiles.WriteInfo(runDir, new RunInfo
        {
            Kind = "denoiser", Status = status, Config = JsonSerializer.SerializeToElement(config, JsonFiles.Options),
            Dataset = config.Dataset, Seed = config.Seed, Started = started, Finished = status == RunStatus.Running ? null : DateTime.UtcNow,
        });
}
