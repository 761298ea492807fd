using PagLab.Common;

namespace PagLab.Training;

/// <summary>
/// What every training loop takes (classifier, autoencoder, denoiser; TrainingLoop): epochs, batch size, learning
/// rate, threads and checkpoint cadence, declared and checked once. Each kind sets its own epochs and learning
/// rate in its constructor; files and specs keep these keys at the top level of their section.
/// </summary>
public abstract record LoopSettings
{
    public int Epochs { get; init; }
    public int BatchSize { get; init; } = 128;
    public double LearningRate { get; init; }
    public int? Threads { get; init; }
    public int CheckpointEveryBatches { get; init; } = 100;
    public double CheckpointEverySeconds { get; init; } = 60;

    /// <summary>The checks every kind of training shares; messages name the property (and trainSize, which the
    /// runs keep beside these).</summary>
    protected void ValidateLoop(int? trainSize)
    {
        Require.That(Epochs is >= 1 and <= 100000, $"epochs must be in 1..100000, got {Epochs}");
        Require.That(BatchSize is >= 1 and <= 65536, $"batchSize must be in 1..65536, got {BatchSize}");
        Require.That(LearningRate is > 0 and <= 1e12, $"learningRate must be in (0, 1e12], got {LearningRate}");
        Require.That(CheckpointEveryBatches >= 1, $"checkpointEveryBatches must be >= 1, got {CheckpointEveryBatches}");
        Require.Positive(CheckpointEverySeconds, "checkpointEverySeconds");
        if (Threads is int t) Require.That(t is >= 1 and <= 1024, $"threads must be in 1..1024, got {t}");
        if (trainSize is int n) Require.That(n >= 1, $"trainSize must be >= 1, got {n}");
    }
}
