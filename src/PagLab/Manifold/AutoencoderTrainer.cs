using System.Diagnostics;
using System.Text.Json;
using PagLab.Common;
using PagLab.Data;
using PagLab.IO;
using PagLab.Models;
using PagLab.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Manifold;

/// <summary>Options of `paglab autoencoder train`.</summary>
public sealed record AutoencoderConfig
{
    public required string Dataset { get; init; }
    public string Kind { get; init; } = "ae";
    public int? Latent { get; init; }                 // null: 16 for 28-pixel data, 128 from 32 pixels (PAGs, Suppl. B.6)
    public int Epochs { get; init; } = 10;
    public int BatchSize { get; init; } = 128;
    public double LearningRate { get; init; } = 1e-3; // Adam
    public double KlWeight { get; init; } = 1.0;      // vae: weight of KL(q(z|x) || N(0, I)) against the summed squared error
    public int BaseChannels { get; init; } = 32;
    public long Seed { get; init; }
    public int? TrainSize { get; init; }
    public int? TestSize { get; init; }
    public string? DataRoot { get; init; }

    public void Validate()
    {
        Require.That(Kind is "ae" or "vae", $"--kind must be ae or vae, got '{Kind}'");
        Require.That(Epochs >= 1, $"--epochs must be >= 1, got {Epochs}");
        Require.That(BatchSize >= 1, $"--batch-size must be >= 1, got {BatchSize}");
        Require.Positive(LearningRate, "--lr");
        Require.NonNegative(KlWeight, "--kl-weight");
        if (Latent is int k) Require.That(k >= 1, $"--latent must be >= 1, got {k}");
    }
}

/// <summary>One line of metrics.jsonl of an autoencoder run.</summary>
public sealed record AutoencoderEpoch
{
    public int Epoch { get; init; }
    public double TrainReconstruction { get; init; }   // mean squared error per pixel, training batches
    public double TestReconstruction { get; init; }    // mean squared error per pixel, test split
    public double Kl { get; init; }                    // vae only: mean KL per image
    public double Seconds { get; init; }
}

/// <summary>A saved autoencoder: autoencoder.safetensors + autoencoder.json in a folder.</summary>
public static class SavedAutoencoder
{
    public const string WeightsFile = "autoencoder.safetensors", InfoFile = "autoencoder.json";

    public static void Save(string dir, ConvAutoencoder model)
    {
        Directory.CreateDirectory(dir);
        SafeTensors.Write(Path.Combine(dir, WeightsFile), SavedModel.StateDict(model));
        JsonFiles.Write(Path.Combine(dir, InfoFile), model.Spec);
    }

    public static ConvAutoencoder Load(string dir)
    {
        string info = Path.Combine(dir, InfoFile), weights = Path.Combine(dir, WeightsFile);
        if (!Directory.Exists(dir)) throw new PagLabException($"{dir}: autoencoder folder not found");
        if (!File.Exists(info)) throw new PagLabException($"{dir}: not an autoencoder folder (no {InfoFile})");
        var spec = JsonFiles.Read<AutoencoderSpec>(info);
        var model = new ConvAutoencoder(spec);
        var tensors = SafeTensors.Read(weights);
        try { SavedModel.LoadStateDict(model, tensors, weights); }
        finally { foreach (var t in tensors.Values) t.Dispose(); }
        model.eval();
        return model;
    }
}

/// <summary>
/// Trains a ConvAutoencoder with Adam: squared reconstruction error summed over pixels (plus the KL
/// term for a vae), mean over the batch. A run folder holds run.json, metrics.jsonl, a checkpoint at
/// every epoch end (resume continues from it) and, when done, the saved autoencoder.
/// </summary>
public static class AutoencoderTrainer
{
    public static ConvAutoencoder Run(AutoencoderConfig config, string runDir, IProgressSink? progress = null, bool resume = false)
    {
        progress ??= NullProgress.Instance;
        config.Validate();
        var existing = RunFiles.ReadInfo(runDir);
        if (existing is not null && !resume)
            throw new PagLabException($"{runDir} already holds a run (status {existing.Status.ToString().ToLowerInvariant()}); pass --resume to continue it or choose another --out");
        if (existing is { Status: RunStatus.Completed }) return SavedAutoencoder.Load(runDir);
        Directory.CreateDirectory(runDir);
        var dataset = Datasets.Load(config.Dataset, new DataOptions(config.DataRoot, config.Seed, config.TrainSize, config.TestSize));
        var spec = new AutoencoderSpec
        {
            Kind = config.Kind, Latent = config.Latent ?? AutoencoderSpec.DefaultLatent(dataset.Shape),
            Channels = dataset.Shape.Channels, Height = dataset.Shape.Height, Width = dataset.Shape.Width,
            BaseChannels = config.BaseChannels, Dataset = dataset.Name,
        };
        torch.manual_seed(config.Seed);
        var model = new ConvAutoencoder(spec);
        using var optimizer = optim.Adam(model.parameters(), config.LearningRate);
        var started = existing?.Started ?? DateTime.UtcNow;
        var metrics = new List<AutoencoderEpoch>();
        int firstEpoch = 0;
        if (resume && Checkpoint.Find(runDir) is string checkpointDir)
        {
            firstEpoch = Checkpoint.Load(checkpointDir, model, optimizer).Epoch;
            metrics = ReadMetrics(runDir).Where(m => m.Epoch <= firstEpoch).ToList();
            progress.Line($"resuming {runDir} at epoch {firstEpoch + 1}");
        }
        WriteInfo(runDir, config, RunStatus.Running, started, null);
        int batches = dataset.Train.BatchCount(config.BatchSize);
        long pixels = dataset.Shape.Pixels;
        for (int epoch = firstEpoch; epoch < config.Epochs; epoch++)
        {
            model.train();
            var clock = Stopwatch.StartNew();
            double squaredSum = 0, klSum = 0;
            long seen = 0;
            int batchIndex = 0;
            foreach (var batch in dataset.Train.Batches(config.BatchSize, config.Seed, epoch, shuffle: true))
            {
                using var scope = NewDisposeScope();
                using var _ = batch;
                using var noise = Trainer.NoiseFor(config.Seed, epoch, batchIndex);
                optimizer.zero_grad();
                var (squared, kl) = Loss(model, batch.Images, noise);              // (B), (B)
                var loss = (squared + config.KlWeight * kl).mean();
                float value = loss.item<float>();
                if (!float.IsFinite(value))
                {
                    string message = $"diverged at epoch {epoch + 1}, batch {batchIndex + 1}: loss is {value}";
                    WriteInfo(runDir, config, RunStatus.Diverged, started, message);
                    throw new PagLabException($"{runDir}: {message}");
                }
                loss.backward();
                optimizer.step();
                squaredSum += squared.sum().item<float>();
                klSum += kl.sum().item<float>();
                seen += batch.Size;
                batchIndex++;
                progress.Update($"autoencoder epoch {epoch + 1}/{config.Epochs}", batchIndex, batches, $"mse {squaredSum / seen / pixels:F5}");
            }
            var line = new AutoencoderEpoch
            {
                Epoch = epoch + 1, TrainReconstruction = squaredSum / Math.Max(1, seen) / pixels,
                TestReconstruction = ReconstructionError(model, dataset.Test.Images, config.BatchSize),
                Kl = klSum / Math.Max(1, seen), Seconds = clock.Elapsed.TotalSeconds,
            };
            metrics.Add(line);
            AtomicFile.WriteAllText(Path.Combine(runDir, RunFiles.Metrics), string.Concat(metrics.Select(m => JsonSerializer.Serialize(m, JsonFiles.Lines) + "\n")));
            Checkpoint.Save(runDir, model, optimizer, new TrainPosition { Epoch = epoch + 1 });
            progress.Line($"epoch {line.Epoch}/{config.Epochs}: train mse {line.TrainReconstruction:F5} test mse {line.TestReconstruction:F5}{(spec.Kind == "vae" ? $" kl {line.Kl:F2}" : "")} {line.Seconds:F1}s");
        }
        model.eval();
        SavedAutoencoder.Save(runDir, model);
        WriteInfo(runDir, config, RunStatus.Completed, started, null);
        return model;
    }

    /// <summary>Per image: squared error summed over pixels, and the KL term (zero for a plain ae).</summary>
    static (Tensor Squared, Tensor Kl) Loss(ConvAutoencoder model, Tensor x, Generator noise)
    {
        var (mean, logVar) = model.EncodeDistribution(x);
        Tensor z = mean, kl = zeros(x.shape[0]);
        if (logVar is not null)
        {
            // Kingma and Welling 2014: z = mu + sigma * eps, KL(N(mu, sigma^2) || N(0, I)) in closed form
            z = mean + (0.5 * logVar).exp() * randn(mean.shape, generator: noise);
            kl = 0.5 * (mean.pow(2) + logVar.exp() - 1 - logVar).sum(1);
        }
        var squared = (model.Decode(z) - x).pow(2).flatten(1).sum(1);
        return (squared, kl);
    }

    /// <summary>Mean squared error per pixel of D(E(x)) (the mean code for a vae), batched.</summary>
    public static double ReconstructionError(ConvAutoencoder model, Tensor images, int batchSize = 256)
    {
        model.eval();
        using var noGrad = no_grad();
        double sum = 0;
        for (long start = 0; start < images.shape[0]; start += batchSize)
        {
            using var _ = NewDisposeScope();
            var x = images.narrow(0, start, Math.Min(batchSize, images.shape[0] - start));
            sum += (model.call(x) - x).pow(2).sum().item<float>();
        }
        return sum / Math.Max(1, images.numel());
    }

    public static List<AutoencoderEpoch> ReadMetrics(string dir)
    {
        string path = Path.Combine(dir, RunFiles.Metrics);
        if (!File.Exists(path)) return new();
        return File.ReadAllLines(path).Where(l => l.Trim().Length > 0)
            .Select(l => JsonSerializer.Deserialize<AutoencoderEpoch>(l, JsonFiles.Lines)!).ToList();
    }

    static void WriteInfo(string runDir, AutoencoderConfig config, RunStatus status, DateTime started, string? message) =>
        RunFiles.WriteInfo(runDir, new RunInfo
        {
            Kind = "autoencoder", Status = status, Config = JsonSerializer.SerializeToElement(config, JsonFiles.Options),
            Dataset = config.Dataset, Seed = config.Seed, Started = started,
            Finished = status == RunStatus.Running ? null : DateTime.UtcNow, Message = message,
        });
}
