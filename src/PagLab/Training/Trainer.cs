using System.Globalization;
using PagLab.Common;
using PagLab.Data;
using PagLab.Models;
using PagLab.Objectives;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PagLab.Training;

/// <summary>What a finished (or stopped) run reports.</summary>
public sealed record TrainResult(RunStatus Status, string RunDir, IReadOnlyList<EpochMetrics> Metrics, string? Message)
{
    /// <summary>The message of a run that was complete before this call (nothing trained now).</summary>
    public const string AlreadyCompleted = "already completed";
}

/// <summary>A finished run and, when trained in this call, its model in memory (owned by this object until
/// <see cref="Release"/>).</summary>
public sealed class TrainedClassifier(TrainResult result, ImageClassifier? model) : IDisposable
{
    public TrainResult Result { get; } = result;
    public ImageClassifier? Model { get; private set; } = model;

    /// <summary>The model, which the caller now owns (this object no longer disposes it).</summary>
    public ImageClassifier? Release()
    {
        var released = Model;
        Model = null;
        return released;
    }

    public void Dispose() => Release()?.Dispose();
}

/// <summary>Trains a classifier with a robust objective (run kind "train"); the loop is TrainingLoop.</summary>
public static class Trainer
{
    public const string Kind = "train";

    /// <summary>Trains into runDir; dataset, when given, is the one config names (a sweep job loads it once).</summary>
    public static TrainResult Run(TrainConfig config, string runDir, IProgressSink? progress = null,
                                  bool resume = false, IDataset? dataset = null, string? tensorboard = null)
    {
        using var trained = Train(config, runDir, progress, resume, dataset, tensorboard);
        return trained.Result;
    }

    /// <summary>
    /// <see cref="Run"/>, keeping the model it trained: the caller measures it without reading it back from runDir.
    /// The model is the saved one (eval mode, on the training device, in the training memory layout); null when
    /// the run had completed before this call or diverged.
    /// </summary>
    public static TrainedClassifier Train(TrainConfig config, string runDir, IProgressSink? progress = null,
                                          bool resume = false, IDataset? dataset = null, string? tensorboard = null)
    {
        var run = RunFolder.Open(runDir, Kind, config, resume);
        if (run.Completed)
            return new(new TrainResult(RunStatus.Completed, runDir, run.ReadMetrics<EpochMetrics>(),
                TrainResult.AlreadyCompleted), null);
        using var step = new ClassifierStep(config, dataset);
        var result = TrainingLoop.Run(run, step, progress, tensorboard);
        var training = new TrainResult(result.Status, runDir, result.Metrics, result.Message);
        return new(training, result.Status == RunStatus.Completed ? step.TakeModel() : null);
    }

    /// <summary>The noise source of one batch, a pure function of (seed, epoch, batch).</summary>
    public static Generator NoiseFor(long seed, int epoch, int batch) =>
        new(unchecked((ulong)seed * 0x9E3779B97F4A7C15UL ^ (ulong)epoch * 1_000_003UL ^ (ulong)batch * 7_919UL),
            device: CPU);
}

/// <summary>
/// The classifier step: the objective's loss (PAGs, Suppl. B.1), the learning-rate schedule, test
/// accuracy per epoch.
/// </summary>
public sealed class ClassifierStep : ITrainingStep<EpochMetrics>
{
    readonly TrainConfig config;
    readonly IDataset dataset;
    readonly ITrainingObjective objective;
    readonly ImageClassifier model;
    readonly Device device;
    double learningRate;
    bool ownsModel = true;      // until TakeModel hands it on

    public ClassifierStep(TrainConfig config, IDataset? dataset = null)
    {
        this.config = config;
        device = Devices.Resolve(config.Device);
        var data = new DataOptions(config.DataRoot, config.DataSeed ?? config.Seed, config.TrainSize, config.TestSize);
        this.dataset = dataset ?? Datasets.Load(config.Dataset, data);
        var spec = ModelSpec.For(config.Arch, this.dataset) with
        {
            Activation = config.Activation, WidthMultiplier = config.WidthMultiplier,
        };
        objective = config.Objective.Create(config.BatchSize);
        model = ModelFactory.Create(spec, config.Seed);
        model.to(device);
        // Before the optimiser: its state takes the weights' strides.
        if (config.TrainsChannelsLast(NormLayers.HasBatchNorm(model))) model.ToChannelsLast();
        Optimizer = config.Optimizer switch
        {
            OptimizerKind.Sgd => new RaceFree.SGD(model.parameters(), config.LearningRate, config.Momentum,
                                    config.WeightDecay),
            _ => new RaceFree.Adam(model.parameters(), config.LearningRate, config.WeightDecay),
        };
        Options = new LoopOptions
        {
            Epochs = config.Epochs, BatchSize = config.BatchSize, Seed = config.Seed, NoiseSeed = config.Seed,
            CheckpointEveryBatches = config.CheckpointEveryBatches,
            CheckpointEverySeconds = config.CheckpointEverySeconds,
        };
    }

    public LoopOptions Options { get; }
    public DataSplit Train => dataset.Train;
    public string Task => "epoch";
    public nn.Module Network => model;
    public OptimizerHelper Optimizer { get; }

    public void BeginEpoch(int epoch)
    {
        learningRate = config.LearningRateAt(epoch);
        foreach (var group in Optimizer.ParamGroups) group.LearningRate = learningRate;
    }

    public Tensor Loss(Batch batch, Generator noise, Dictionary<string, double> sums)
    {
        var images = Augmentation.Apply(config.Augment, batch.Images, config.AugmentPadding, noise);
        var x = images.to(device); var y = batch.Labels.to(device);
        var terms = objective.Loss(model, x, y, noise);
        Add(sums, "crossEntropy", terms.CrossEntropy.item<float>() * (double)batch.Size);
        Add(sums, "penalty", terms.Penalty.item<float>() * (double)batch.Size);
        Add(sums, "correct", terms.Logits.argmax(1).eq(y).sum().item<long>());
        return terms.Total;
    }

    static void Add(Dictionary<string, double> sums, string key, double value) =>
        sums[key] = sums.GetValueOrDefault(key) + value;

    public string Status(TrainPosition p) =>
        $"loss {Mean(p, "loss"):F4} acc {Mean(p, "correct"):F3} {p.Seen / Math.Max(p.Seconds, 1e-9):F0} img/s";

    static double Mean(TrainPosition p, string key) => p.Sums.GetValueOrDefault(key) / Math.Max(1, p.Seen);

    public EpochMetrics EndEpoch(int epoch, TrainPosition p)
    {
        var (accuracy, testLoss) = Evaluation.AccuracyAndLoss(model, dataset.Test, device);
        return new()
        {
            Epoch = epoch + 1, LearningRate = learningRate, TrainLoss = Mean(p, "loss"),
            CrossEntropy = Mean(p, "crossEntropy"), Penalty = Mean(p, "penalty"), TrainAccuracy = Mean(p, "correct"),
            TestAccuracy = accuracy, TestLoss = testLoss,
            ImagesPerSecond = p.Seen / Math.Max(p.Seconds, 1e-9), Seconds = p.Seconds,
        };
    }

    /// <summary>Test images whose input gradients TensorBoard shows each epoch (the first of the test split).</summary>
    public const int TensorboardImages = 8;

    /// <summary>
    /// The input gradients (predicted class) of the first <see cref="TensorboardImages"/> test images as one RGB
    /// grid, images above their gradients (blue negative, red positive, each scaled to its max |value|): the
    /// same images every epoch, so a researcher watches them become perceptually aligned as robustness grows.
    /// </summary>
    public void LogEpoch(TensorboardLog board, int epoch)
    {
        using var _ = NewDisposeScope();
        var split = dataset.Test.Take(TensorboardImages);
        var x = split.Images.to(device);                                                      // (N, C, H, W)
        var gradients = Score.ModelGradients.Compute(model, x, GradientMode.Predicted);
        var images = x.expand(-1, 3, -1, -1).to(float32).clamp(0, 1).cpu();                   // (N, 3, H, W)
        var maps = Imaging.ImageGrid.SignedToImage(gradients.cpu());                           // (N, 3, H, W)
        var grid = cat(new[] { cat(images.unbind(0), 2), cat(maps.unbind(0), 2) }, 1);        // (3, 2H, N*W)
        board.Image("gradients", grid, epoch);
    }

    public string Describe(EpochMetrics m) =>
        $"epoch {m.Epoch}/{config.Epochs}: loss {m.TrainLoss:F4} (ce {m.CrossEntropy:F4}, penalty {m.Penalty:G4}) " +
        $"train acc {m.TrainAccuracy:F4} test acc {m.TestAccuracy:F4} {m.ImagesPerSecond:F0} img/s {m.Seconds:F1}s";

    public void SaveFinal(string dir)
    {
        model.eval();
        SavedModel.Save(dir, model, Vocabulary.Name(config.Objective.Kind), new Dictionary<string, string>
        {
            ["strength"] = config.Objective.Strength.ToString(CultureInfo.InvariantCulture),
            ["epochs"] = config.Epochs.ToString(CultureInfo.InvariantCulture),
        });
    }

    /// <summary>The trained model, which the caller now owns (this step no longer disposes it).</summary>
    public ImageClassifier TakeModel()
    {
        ownsModel = false;
        return model;
    }

    public void Dispose()
    {
        Optimizer.Dispose();
        if (ownsModel) model.Dispose();
    }
}

public static class Devices
{
    public static Device Resolve(string name)
    {
        if (name == "cpu") return CPU;
        if (!torch.cuda.is_available())
            throw new PagLabException($"device {name}: CUDA is not available in this build " +
                                      "(PagLab ships TorchSharp-cpu; install TorchSharp-cuda-linux for GPUs)");
        return torch.device(name);
    }
}
