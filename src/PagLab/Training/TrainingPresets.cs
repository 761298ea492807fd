using System.Text.Json;
using System.Text.Json.Nodes;
using PagLab.Attacks;
using PagLab.Common;
using PagLab.Data;
using PagLab.IO;
using PagLab.Models;
using PagLab.Objectives;

namespace PagLab.Training;

/// <summary>
/// One dataset's training recipe of the PAGs authors (tml-tuebingen/pags), as PagLab settings.
/// LrScaleReferences: their learning-rate reduction lr * reference / constant for large constants, per objective.
/// </summary>
public sealed record AuthorsRecipe
{
    public required string Source { get; init; }          // where in their code the values are set
    public Architecture Arch { get; init; } = Architecture.ResNet18;
    public required int Epochs { get; init; }
    public required int BatchSize { get; init; }
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Sgd;
    public required double LearningRate { get; init; }
    public double Momentum { get; init; } = 0.9;
    public required double WeightDecay { get; init; }
    public required double[] Milestones { get; init; }   // fractions of the run (< 1) or epochs
    public double Gamma { get; init; } = 0.1;
    public required Data.AugmentationKind Augment { get; init; }
    public int AugmentPadding { get; init; } = 4;
    public Dictionary<ObjectiveKind, double> LrScaleReferences { get; init; } = new();
    public required PgdConfig Pgd { get; init; }
}

/// <summary>The named training presets (`--preset`, a sweep's `train.preset`).</summary>
public enum TrainingPreset
{
    [Name("authors", "the PAGs authors' recipe for the dataset (tml-tuebingen/pags; docs/training.md)")] Authors,
}

/// <summary>
/// Named training presets (`paglab train --preset authors`, a sweep's `train.preset`). A preset fills the
/// settings the caller did not set: on the CLI the flags not given, in a spec the `train` keys left at their
/// defaults. The gnorm constant is read in the authors' convention (their reg_constant) under the preset.
/// </summary>
public static class TrainingPresets
{
    public const TrainingPreset Authors = TrainingPreset.Authors;

    /// <summary>The authors' recipes by dataset.</summary>
    public static readonly IReadOnlyDictionary<DatasetName, AuthorsRecipe> AuthorsRecipes =
        new Dictionary<DatasetName, AuthorsRecipe>
        {
            // run_experiments.py train_* (ResNet-18, 200 epochs, lr 0.025, num_iter 10, lr scaled down above
            // gnorm 0.01 / smooth 10); train_models.py defaults (sgd, batch 128, momentum 0.9, weight decay 5e-4,
            // MultiStepLR at 0.75 and 0.875 of the run, gamma 0.1); utils/datasets.py (RandomCrop(32, padding=4),
            // RandomHorizontalFlip); utils/regularized_loss.py PGDAdversarialLoss (whole-batch L2, step 2 eps / 10).
            [DatasetName.Cifar10] = new()
            {
                Source = "run_experiments.py train_*, train_models.py, utils/datasets.py, utils/regularized_loss.py",
                Epochs = 200, BatchSize = 128, LearningRate = 0.025, WeightDecay = 5e-4,
                Milestones = new[] { 0.75, 0.875 }, Augment = Data.AugmentationKind.CropFlip, AugmentPadding = 4,
                LrScaleReferences = new() { [ObjectiveKind.Gnorm] = 0.01, [ObjectiveKind.Smooth] = 10 },
                Pgd = PgdConfig.Authors,
            },
            // train_robust_imagenet.py (run_experiments.py train_imagenet64x64): batch 4096, SGD lr 0.1, momentum 0.9,
            // weight decay 1e-4, StepLR(30, 0.1) over 90 epochs, RandomCrop(64, padding=8) + flip, pgd_l2 with
            // num_iter 3 (step 2 eps / 3), the same whole-batch geometry.
            [DatasetName.ImageNet64] = new()
            {
                Source = "train_robust_imagenet.py",
                Epochs = 90, BatchSize = 4096, LearningRate = 0.1, WeightDecay = 1e-4,
                Milestones = new double[] { 30, 60 }, Augment = Data.AugmentationKind.CropFlip, AugmentPadding = 8,
                Pgd = PgdConfig.Authors with { Steps = 3 },
            },
            // notebooks/MNISTDistractorPGDTraining.ipynb (PAGs Suppl. B.2): ResNet-18, 9 epochs, batch 128,
            // plain SGD lr 0.1 (no momentum, no weight decay), MultiStepLR milestones [3], no augmentation
            // (a tensor dataset), pgd_l2 with step 2.5 eps / 10, 10 steps, whole-batch geometry.
            [DatasetName.MnistDistractor] = new()
            {
                Source = "notebooks/MNISTDistractorPGDTraining.ipynb",
                Epochs = 9, BatchSize = 128, LearningRate = 0.1, Momentum = 0, WeightDecay = 0,
                Milestones = new double[] { 3 }, Augment = Data.AugmentationKind.None,
                Pgd = PgdConfig.Authors with { AlphaFactor = 2.5 },
            },
        };

    /// <summary>One line unless <paramref name="preset"/> is null, or known with a recipe per dataset.</summary>
    public static void Validate(TrainingPreset? preset, IEnumerable<string> datasets)
    {
        if (preset is not TrainingPreset named) return;
        foreach (var d in datasets)
            Require.That(Vocabulary.TryParse(d, out DatasetName id) && AuthorsRecipes.ContainsKey(id),
                $"preset {Vocabulary.Name(named)} has no recipe for dataset '{d}' (it has "
                + $"{string.Join(", ", AuthorsRecipes.Keys.Select(Vocabulary.Name))})");
    }

    /// <summary>
    /// The config with the preset's values for every key <paramref name="isSet"/> says the caller did not set
    /// (keys are TrainConfig's JSON names: "learningRate", "objective.pgd", ...); unchanged without a preset.
    /// </summary>
    public static TrainConfig Apply(TrainConfig config, Func<string, bool> isSet)
    {
        if (config.Preset is null) return config;
        Validate(config.Preset, new[] { config.Dataset });
        var r = AuthorsRecipes[Vocabulary.Parse<DatasetName>(config.Dataset, "dataset")];
        T Pick<T>(string key, T given, T preset) => isSet(key) ? given : preset;
        double? reference = r.LrScaleReferences.TryGetValue(config.Objective.Kind, out var v) ? v : null;
        return config with
        {
            Arch = Pick("arch", config.Arch, r.Arch),
            Epochs = Pick("epochs", config.Epochs, r.Epochs),
            BatchSize = Pick("batchSize", config.BatchSize, r.BatchSize),
            Optimizer = Pick("optimizer", config.Optimizer, r.Optimizer),
            LearningRate = Pick("learningRate", config.LearningRate, r.LearningRate),
            Momentum = Pick("momentum", config.Momentum, r.Momentum),
            WeightDecay = Pick("weightDecay", config.WeightDecay, r.WeightDecay),
            Schedule = Pick("schedule", config.Schedule, Schedule.MultiStep),
            Milestones = Pick("milestones", config.Milestones, r.Milestones),
            Gamma = Pick("gamma", config.Gamma, r.Gamma),
            Augment = Pick("augment", config.Augment, r.Augment),
            AugmentPadding = Pick("augmentPadding", config.AugmentPadding, r.AugmentPadding),
            LrScaleReference = Pick("lrScaleReference", config.LrScaleReference, reference),
            Objective = config.Objective with
            {
                LambdaConvention = Pick("objective.lambdaConvention", config.Objective.LambdaConvention,
                    Objectives.LambdaConvention.Authors),
                Pgd = Pick("objective.pgd", config.Objective.Pgd, r.Pgd),
            },
        };
    }

    /// <summary>
    /// A sweep job's config under its spec's preset: a `train` key counts as set when its value differs from
    /// the default (a spec record cannot tell a default written out from one left out); the objective's
    /// convention and PGD variant always come from the preset.
    /// </summary>
    public static TrainConfig ApplyToSweepJob(TrainConfig config, TrainSettings train)
    {
        var given = JsonSerializer.SerializeToNode(train, JsonFiles.Options)!.AsObject();
        var defaults = JsonSerializer.SerializeToNode(new TrainSettings(), JsonFiles.Options)!.AsObject();
        return Apply(config, key => given.TryGetPropertyValue(key, out var value)
                                    && !JsonNode.DeepEquals(value, defaults[key]));
    }
}
