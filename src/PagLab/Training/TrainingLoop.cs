using System.Diagnostics;
using PagLab.Common;
using PagLab.Data;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PagLab.Training;

/// <summary>How the loop walks the data; each step derives it from its config.</summary>
public sealed record LoopOptions
{
    public required int Epochs { get; init; }
    public required int BatchSize { get; init; }
    public required long Seed { get; init; }                      // data order of epoch e: (Seed, e)
    public required long NoiseSeed { get; init; }                 // the step's noise of batch b: (NoiseSeed, e, b)
    public int CheckpointEveryBatches { get; init; } = 100;
    public double CheckpointEverySeconds { get; init; } = 60;     // and at every epoch end
}

/// <summary>
/// What one kind of training adds to the loop (EDM's loss plug-in, plus what it owns): the network and
/// optimiser, the loss of a batch, what happens after an update (EMA), the epoch's summary line and
/// the final artefact. The loop never knows which kind it runs.
/// </summary>
public interface ITrainingStep<TEpoch> : IDisposable where TEpoch : IEpochRecord
{
    LoopOptions Options { get; }
    DataSplit Train { get; }
    /// <summary>Progress label of an epoch: "epoch", "denoiser epoch".</summary>
    string Task { get; }
    nn.Module Network { get; }
    OptimizerHelper Optimizer { get; }
    /// <summary>Further modules a checkpoint keeps, by file stem (the denoiser's EMA).</summary>
    IReadOnlyDictionary<string, nn.Module> Extra => new Dictionary<string, nn.Module>();
    void BeginEpoch(int epoch) { }
    /// <summary>The batch's mean loss, before backward; adds the step's own sums over the batch's images.</summary>
    Tensor Loss(Batch batch, Generator noise, Dictionary<string, double> sums);
    /// <summary>After optimizer update number <paramref name="update"/> (from 1, counted over the whole run).</summary>
    void AfterUpdate(long update) { }
    string Status(TrainPosition position);
    TEpoch EndEpoch(int epoch, TrainPosition position);
    string Describe(TEpoch line);
    void SaveFinal(string dir);
    /// <summary>What the step adds to TensorBoard after epoch <paramref name="epoch"/> (from 1) besides its metrics
    /// line: the classifier's gradient images.</summary>
    void LogEpoch(TensorboardLog board, int epoch) { }
}

public sealed record LoopResult<TEpoch>(RunStatus Status, List<TEpoch> Metrics, string? Message);

/// <summary>
/// The training loop, top to bottom (EDM training_loop.py's shape): resume from the last checkpoint,
/// then for each epoch and batch: loss, bound check, backward, step; checkpoints every N batches /
/// S seconds and at each epoch end; the final artefact. Randomness: init from the seed, data order
/// from (seed, epoch), the step's noise from (seed, epoch, batch), so a resumed run is bit-identical.
/// </summary>
public static class TrainingLoop
{
    /// <summary>
    /// A batch loss above this (or not finite) ends the run as diverged. No objective here comes near it
    /// when training works: cross-entropy plus penalties, EDM's weighted loss and an autoencoder's
    /// squared error summed over at most 3x64x64 pixels in [0, 1] (12288) all stay orders below.
    /// </summary>
    public const double LossBound = 1e6;

    /// <summary>Runs (or resumes) the loop; <paramref name="tensorboard"/>: a folder for TensorBoard scalars.</summary>
    public static LoopResult<TEpoch> Run<TEpoch>(RunFolder run, ITrainingStep<TEpoch> step, IProgressSink? progress,
                                                 string? tensorboard = null)
        where TEpoch : IEpochRecord
    {
        progress ??= NullProgress.Instance;
        var options = step.Options;
        if (step.Train.Count == 0) throw new PagLabException($"{run.Dir}: the training set is empty; nothing to train");
        int batches = step.Train.BatchCount(options.BatchSize);
        using var threads = run.UseThreads();
        var (position, metrics) = Resume(run, step, batches, progress);
        run.Start();
        run.WriteMetrics(metrics);
        var board = tensorboard is null ? null : new TensorboardLog(tensorboard);
        board?.Text("config", $"{run.Kind} run `{run.Dir}`\n\n```json\n{run.ConfigJson}\n```");

        var sinceCheckpoint = Stopwatch.StartNew();
        for (int epoch = position.Epoch; epoch < options.Epochs; epoch++)
        {
            step.BeginEpoch(epoch);
            step.Network.train();
            var clock = Stopwatch.StartNew();
            double secondsBefore = position.Seconds;
            var sums = new Dictionary<string, double>(position.Sums);
            int batchIndex = position.Batch;
            foreach (var batch in step.Train.Batches(options.BatchSize, options.Seed, epoch, firstBatch: batchIndex))
            {
                using var scope = NewDisposeScope();
                using var _ = batch;
                using var noise = Trainer.NoiseFor(options.NoiseSeed, epoch, batchIndex);
                step.Optimizer.zero_grad();
                var loss = step.Loss(batch, noise, sums);
                float value = loss.item<float>();
                if (!float.IsFinite(value) || Math.Abs(value) > LossBound)
                {
                    string message = $"diverged at epoch {epoch + 1}, batch {batchIndex + 1}: loss is {value}" +
                                     (float.IsFinite(value) ? $", above the bound {LossBound:G}" : "") +
                        $"; the last good checkpoint is kept in {Path.Combine(run.Dir, RunFiles.Checkpoint)}";
                    run.Finish(RunStatus.Diverged, message);
                    progress.Line(message);
                    return new LoopResult<TEpoch>(RunStatus.Diverged, metrics, message);
                }
                loss.backward();
                step.Optimizer.step();
                step.AfterUpdate((long)epoch * batches + batchIndex + 1);
                board?.Step((long)epoch * batches + batchIndex + 1, value,
                            step.Optimizer.ParamGroups.First().LearningRate);
                sums["loss"] = sums.GetValueOrDefault("loss") + (double)value * batch.Size;
                batchIndex++;
                position = new TrainPosition
                {
                    Epoch = epoch, Batch = batchIndex, Seen = position.Seen + batch.Size, Sums = new(sums),
                    Seconds = secondsBefore + clock.Elapsed.TotalSeconds,
                };
                string task = $"{step.Task} {epoch + 1}/{options.Epochs}";
                progress.Update(task, batchIndex, batches, step.Status(position));
                bool due = batchIndex % options.CheckpointEveryBatches == 0
                           || sinceCheckpoint.Elapsed.TotalSeconds >= options.CheckpointEverySeconds;
                if (batchIndex < batches && due)
                {
                    Checkpoint.Save(run.Dir, step.Network, step.Optimizer, position, step.Extra);
                    sinceCheckpoint.Restart();
                }
            }
            var line = step.EndEpoch(epoch, position);
            metrics.Add(line);
            board?.Epoch(line);
            if (board is not null) step.LogEpoch(board, epoch + 1);
            run.WriteMetrics(metrics);
            position = new TrainPosition { Epoch = epoch + 1 };
            Checkpoint.Save(run.Dir, step.Network, step.Optimizer, position, step.Extra);
            sinceCheckpoint.Restart();
            progress.Line(step.Describe(line));
        }
        step.SaveFinal(run.Dir);
        run.Finish(RunStatus.Completed, null);
        return new LoopResult<TEpoch>(RunStatus.Completed, metrics, null);
    }

    /// <summary>Where a run starts: its last checkpoint and the metrics up to it, or the beginning.</summary>
    static (TrainPosition Position, List<TEpoch> Metrics) Resume<TEpoch>(RunFolder run, ITrainingStep<TEpoch> step,
        int batches, IProgressSink progress) where TEpoch : IEpochRecord
    {
        if (run.Existing is null || Checkpoint.Find(run.Dir) is not string found)
            return (new TrainPosition(), new List<TEpoch>());
        var position = Checkpoint.Load(found, step.Network, step.Optimizer, step.Options.Epochs, batches, step.Extra);
        // drop lines a kill left past the checkpoint
        var metrics = run.ReadMetrics<TEpoch>().Where(m => m.Epoch <= position.Epoch).ToList();
        progress.Line($"resuming {run.Dir} at epoch {position.Epoch + 1}, batch {position.Batch}");
        return (position, metrics);
    }
}
