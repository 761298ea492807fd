using System.Text.Json.Serialization;
using PagLab.Common;
using PagLab.Models;
using PagLab.Objectives;

namespace PagLab.Training;

public enum OptimizerKind
{
    [Name("adam", "Adam (Kingma and Ba 2015)")] Adam,
    [Name("sgd", "SGD with momentum and weight decay")] Sgd,
}

/// <summary>How the learning rate changes over the epochs.</summary>
public enum Schedule
{
    [Name("none", "constant learning rate")] None,
    [Name("multistep", "times gamma at each milestone")] MultiStep,
    [Name("cosine", "cosine annealing to zero over the run")] Cosine,
}

/// <summary>
/// How a classifier trains, apart from what a sweep's grid varies (dataset, objective, seed). A sweep
/// spec's `train` section is this record and TrainConfig extends it, so a spec can set whatever the CLI
/// can, with one set of defaults (the CLI's).
/// </summary>
public record TrainSettings : LoopSettings
{
    public TrainSettings() { Epochs = 1; LearningRate = 3e-3; }

    public Architecture Arch { get; init; } = Architecture.SmallCnn;
    public string Activation { get; init; } = "relu";
    public double WidthMultiplier { get; init; } = 1.0;
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Adam;
    public double Momentum { get; init; } = 0.9;                // sgd only
    public double WeightDecay { get; init; } = 0;
    public Schedule Schedule { get; init; } = Schedule.None;
    public double[] Milestones { get; init; } = { 0.75, 0.875 }; // multistep: fractions of the run (150/175 of 200)
    public double Gamma { get; init; } = 0.1;                   // multistep decay factor
    public Data.AugmentationKind Augment { get; init; } = Data.AugmentationKind.None;
    public int AugmentPadding { get; init; } = 4;               // crop-flip: zero padding per side (authors: 4)
    /// <summary>A named recipe applied per dataset (TrainingPresets: authors); keys set otherwise win.</summary>
    public TrainingPreset? Preset { get; init; }
    /// <summary>
    /// PAGs Suppl. B.2: with large regularisation constants the learning rate was reduced in
    /// proportion. When set, lr = lr * min(1, LrScaleReference / lambda) for gnorm and smooth.
    /// </summary>
    public double? LrScaleReference { get; init; }
    public string Device { get; init; } = "cpu";
    public int? TrainSize { get; init; }
    public int? TestSize { get; init; }
    /// <summary>Convolutions in NHWC memory through training and the epoch's evaluation (MemoryFormat); unset means on,
    /// except for training with gnorm through batch norm (TrainConfig.TrainsChannelsLast; docs/training.md), false
    /// runs NCHW; no effect on models without convolutions. Unwritten when unset, so run.json files from before it
    /// read and write the same (and resume channels-last: a key that may change on resume).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public bool? ChannelsLast { get; init; }

    /// <summary>Whether a trained model's first-order passes (evaluation, attacks, measurements) run
    /// channels-last (<see cref="ChannelsLast"/> unset: yes).</summary>
    [JsonIgnore] public bool UsesChannelsLast => ChannelsLast != false;

    /// <summary>
    /// The training layout when <see cref="ChannelsLast"/> is unset: NHWC, except for a double backward (gnorm)
    /// through batch norm. There libtorch 2.10 runs the double backward's weight-gradient convolutions on
    /// transposed views no NHWC kernel takes, reordering them to a blocked layout each time, and batch norm's
    /// double backward mixes the layouts: the resnet18 gnorm step measured 1.27x faster in NCHW, while the
    /// smallcnn gnorm step (no batch norm) and every first-order objective are faster in NHWC (docs/training.md).
    /// </summary>
    public static bool ChannelsLastByDefault(ObjectiveKind objective, bool hasBatchNorm) =>
        objective != ObjectiveKind.Gnorm || !hasBatchNorm;
}

/// <summary>Everything that defines a training run; stored in run.json so a run can be resumed or repeated.</summary>
public sealed record TrainConfig : TrainSettings, IRunConfig
{
    public TrainConfig() { }

    /// <summary>A run from a template (a sweep's `train` section); the caller adds dataset, objective, seed.</summary>
    public TrainConfig(TrainSettings template) : base(template) { }

    public required string Dataset { get; init; }
    public ObjectiveConfig Objective { get; init; } = new();

    /// <summary>Whether training runs the convolutions channels-last: the key when set, else the default for the
    /// objective and model (<see cref="TrainSettings.ChannelsLastByDefault"/>).</summary>
    public bool TrainsChannelsLast(bool modelHasBatchNorm) =>
        ChannelsLast ?? ChannelsLastByDefault(Objective.Kind, modelHasBatchNorm);
    public long Seed { get; init; } = 0;
    /// <summary>
    /// Seed of generated datasets (shapes, subspace-gaussians); null = Seed. Sweeps fix it so every seed
    /// sees the same data.
    /// </summary>
    public long? DataSeed { get; init; }
    public string? DataRoot { get; init; }

    /// <summary>Checks every value; messages name the property (the CLI shows the flag the user wrote).</summary>
    public void Validate()
    {
        ValidateLoop(TrainSize);
        Require.InRange(Momentum, 0, 1, "momentum");
        Require.NonNegative(WeightDecay, "weightDecay");
        Require.That(Device is "cpu" or "cuda" || Device.StartsWith("cuda:", StringComparison.Ordinal),
                     $"device must be cpu or cuda, got '{Device}'");
        Require.That(Milestones.All(m => m > 0 && double.IsFinite(m)), "milestones must be positive");
        Require.Positive(Gamma, "gamma");
        TrainingPresets.Validate(Preset, new[] { Dataset });
        Require.That(AugmentPadding is >= 0 and <= 64, $"augmentPadding must be in 0..64, got {AugmentPadding}");
        if (LrScaleReference is double r) Require.Positive(r, "lrScaleReference");
        if (TestSize is int n) Require.That(n >= 1, $"testSize must be >= 1, got {n}");
    }

    /// <summary>Learning rate for an epoch: base (after lambda scaling) times the schedule.</summary>
    public double LearningRateAt(int epoch)
    {
        double lr = LearningRate;
        if (LrScaleReference is double reference && Objective.Kind is ObjectiveKind.Gnorm or ObjectiveKind.Smooth
            && Objective.Lambda > reference)
            lr *= reference / Objective.Lambda;
        switch (Schedule)
        {
            case Schedule.MultiStep:
                foreach (var m in Milestones)
                {
                    int at = m < 1 ? (int)(m * Epochs) : (int)m; // fractions of the run, or epoch numbers
                    if (epoch >= at) lr *= Gamma;
                }
                return lr;
            case Schedule.Cosine:
                return lr * 0.5 * (1 + Math.Cos(Math.PI * epoch / Epochs));
            default:
                return lr;
        }
    }
}
