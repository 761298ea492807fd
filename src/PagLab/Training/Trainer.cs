using System.Diagnostics;
using System.Text.Json;
using PagLab.Common;
using PagLab.Data;
using PagLab.IO;
using PagLab.Models;
using PagLab.Objectives;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PagLab.Training;

/// <summary>What a finished (or stopped) run reports.</summary>
public sealed record TrainResult(RunStatus Status, string RunDir, IReadOnlyList<EpochMetrics> Metrics, string? Message);

/// <summary>
/// The training loop, top to bottom: load data, build model and optimiser, resume from the last
/// checkpoint when asked, then for each epoch and batch: objective, backward, step. Checkpoints
/// every N batches / S seconds and at each epoch end; a non-finite loss stops the run as diverged.
/// Randomness: model init from the seed, data order from (seed, epoch), objective noise from
/// (seed, epoch, batch) — so a resumed run is bit-identical to an uninterrupted one.
/// </summary>
public static class Trainer
{
    public static TrainResult Run(TrainConfig config, string runDir, IProgressSink? progress = null, bool resume = false)
    {
        progress ??= NullProgress.Instance;
        config.Validate();
        if (config.Threads is int threads) torch.set_num_threads(threads);
        var device = Devices.Resolve(config.Device);
        var existing = RunFiles.ReadInfo(runDir);
        if (existing is not null && !resume)
            throw new PagLabException($"{runDir} already holds a run (status {existing.Status.ToString().ToLowerInvariant()}); pass --resume to continue it or choose another --out");
        if (existing is { Status: RunStatus.Completed })
            return new TrainResult(RunStatus.Completed, runDir, RunFiles.ReadMetrics(runDir), "already completed");
        Directory.CreateDirectory(runDir);

        var dataset = Datasets.Load(config.Dataset, new DataOptions(config.DataRoot, config.DataSeed ?? config.Seed, config.TrainSize, config.TestSize));
        var spec = ModelSpec.For(config.Arch, dataset) with { Activation = config.Activation, WidthMultiplier = config.WidthMultiplier };
        var objective = config.Objective.Create(config.BatchSize);
        using var model = ModelFactory.Create(spec, config.Seed);
        model.to(device);
        using var optimizer = MakeOptimizer(config, model);

        var started = existing?.Started ?? DateTime.UtcNow;
        var position = new TrainPosition();
        var metrics = new List<EpochMetrics>();
        if (resume && Checkpoint.Find(runDir) is string checkpointDir)
        {
            position = Checkpoint.Load(checkpointDir, model, optimizer);
            metrics = RunFiles.ReadMetrics(runDir).Where(m => m.Epoch <= position.Epoch).ToList(); // drop lines a kill left past the checkpoint
            RunFiles.WriteMetrics(runDir, metrics);
            progress.Line($"resuming {runDir} at epoch {position.Epoch + 1}, batch {position.Batch}");
        }
        else if (resume && existing is not null) metrics = new();
        WriteInfo(runDir, config, RunStatus.Running, started, null);

        int batches = dataset.Train.BatchCount(config.BatchSize);
        var sinceCheckpoint = Stopwatch.StartNew();
        for (int epoch = position.Epoch; epoch < config.Epochs; epoch++)
        {
            double lr = config.LearningRateAt(epoch);
            foreach (var group in optimizer.ParamGroups) group.LearningRate = lr;
            model.train();
            var epochClock = Stopwatch.StartNew();
            double secondsBefore = position.Epoch == epoch ? position.Seconds : 0;
            int batchIndex = position.Epoch == epoch ? position.Batch : 0;
            foreach (var batch in dataset.Train.Batches(config.BatchSize, config.Seed, epoch, shuffle: true, firstBatch: batchIndex))
            {
                using var scope = NewDisposeScope();
                using var _ = batch;
                var x = batch.Images.to(device); var y = batch.Labels.to(device);
                using var noise = NoiseFor(config.Seed, epoch, batchIndex);
                optimizer.zero_grad();
                using var terms = objective.Loss(model, x, y, noise);
                float total = terms.Total.item<float>();
                if (!float.IsFinite(total))
                {
                    string message = $"diverged at epoch {epoch + 1}, batch {batchIndex + 1}: loss is {total}; the last good checkpoint is kept in {Path.Combine(runDir, RunFiles.Checkpoint)}";
                    WriteInfo(runDir, config, RunStatus.Diverged, started, message);
                    progress.Line(message);
                    return new TrainResult(RunStatus.Diverged, runDir, metrics, message);
                }
                terms.Total.backward();
                optimizer.step();
                long correct = terms.Logits.argmax(1).eq(y).sum().item<long>();
                position = position with
                {
                    Epoch = epoch, Batch = batchIndex + 1,
                    LossSum = position.LossSum + total * batch.Size,
                    CrossEntropySum = position.CrossEntropySum + terms.CrossEntropy.item<float>() * batch.Size,
                    PenaltySum = position.PenaltySum + terms.Penalty.item<float>() * batch.Size,
                    Correct = position.Correct + correct, Seen = position.Seen + batch.Size,
                    Seconds = secondsBefore + epochClock.Elapsed.TotalSeconds,
                };
                batchIndex++;
                double rate = position.Seen / Math.Max(position.Seconds, 1e-9);
                progress.Update($"epoch {epoch + 1}/{config.Epochs}", batchIndex, batches,
                    $"loss {position.LossSum / position.Seen:F4} acc {(double)position.Correct / position.Seen:F3} {rate:F0} img/s");
                if (batchIndex < batches && (batchIndex % config.CheckpointEveryBatches == 0 || sinceCheckpoint.Elapsed.TotalSeconds >= config.CheckpointEverySeconds))
                {
                    Checkpoint.Save(runDir, model, optimizer, position);
                    sinceCheckpoint.Restart();
                }
            }
            double testAccuracy = Evaluation.Accuracy(model, dataset.Test, device);
            var line = new EpochMetrics
            {
                Epoch = epoch + 1, LearningRate = lr,
                TrainLoss = position.LossSum / Math.Max(1, position.Seen),
                CrossEntropy = position.CrossEntropySum / Math.Max(1, position.Seen),
                Penalty = position.PenaltySum / Math.Max(1, position.Seen),
                TrainAccuracy = (double)position.Correct / Math.Max(1, position.Seen),
                TestAccuracy = testAccuracy,
                ImagesPerSecond = position.Seen / Math.Max(position.Seconds, 1e-9),
                Seconds = position.Seconds,
            };
            metrics.Add(line);
            RunFiles.WriteMetrics(runDir, metrics);
            position = new TrainPosition { Epoch = epoch + 1, Batch = 0 };
            Checkpoint.Save(runDir, model, optimizer, position);
            sinceCheckpoint.Restart();
            progress.Line($"epoch {line.Epoch}/{config.Epochs}: loss {line.TrainLoss:F4} (ce {line.CrossEntropy:F4}, penalty {line.Penalty:G4}) train acc {line.TrainAccuracy:F4} test acc {line.TestAccuracy:F4} {line.ImagesPerSecond:F0} img/s {line.Seconds:F1}s");
        }

        model.eval();
        SavedModel.Save(runDir, model, config.Objective.Name, new Dictionary<string, string>
        {
            ["strength"] = config.Objective.Strength.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["epochs"] = config.Epochs.ToString(),
        });
        WriteInfo(runDir, config, RunStatus.Completed, started, null);
        return new TrainResult(RunStatus.Completed, runDir, metrics, null);
    }

    /// <summary>The noise source of one batch, a pure function of (seed, epoch, batch).</summary>
    public static Generator NoiseFor(long seed, int epoch, int batch) =>
        new(unchecked((ulong)seed * 0x9E3779B97F4A7C15UL ^ (ulong)epoch * 1_000_003UL ^ (ulong)batch * 7_919UL), device: CPU);

    static OptimizerHelper MakeOptimizer(TrainConfig config, nn.Module model) => config.Optimizer switch
    {
        "sgd" => torch.optim.SGD(model.parameters(), config.LearningRate, momentum: config.Momentum, weight_decay: config.WeightDecay),
        _ => torch.optim.Adam(model.parameters(), config.LearningRate, weight_decay: config.WeightDecay),
    };

    static void WriteInfo(string runDir, TrainConfig config, RunStatus status, DateTime started, string? message) =>
        RunFiles.WriteInfo(runDir, new RunInfo
        {
            Kind = "train", Status = status, Config = JsonSerializer.SerializeToElement(config, JsonFiles.Options),
            Dataset = config.Dataset, Seed = config.Seed, Started = started,
            Finished = status == RunStatus.Running ? null : DateTime.UtcNow, Message = message,
        });
}

public static class Devices
{
    public static Device Resolve(string name)
    {
        if (name == "cpu") return CPU;
        if (!torch.cuda.is_available())
            throw new PagLabException($"--device {name}: CUDA is not available in this build (PagLab ships TorchSharp-cpu; install TorchSharp-cuda-linux for GPUs)");
        return torch.device(name);
    }
}
