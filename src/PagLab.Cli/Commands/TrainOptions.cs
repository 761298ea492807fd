using System.CommandLine;
using PagLab.Attacks;
using PagLab.Common;
using PagLab.Data;
using PagLab.Models;
using PagLab.Objectives;
using PagLab.Training;

namespace PagLab.Cli.Commands;

/// <summary>
/// The options of `paglab train`, each defaulting to TrainSettings' (and ObjectiveConfig's, PgdConfig's) value, so a
/// default is written once. <see cref="Config"/> builds the run's TrainConfig: an option given wins, any other
/// takes the preset's recipe for the dataset when --preset names one, else the record's default.
/// </summary>
public sealed class TrainOptions
{
    static readonly TrainSettings Defaults = new();
    static readonly ObjectiveConfig ObjectiveDefaults = new();
    static readonly PgdConfig PgdDefaults = new();

    readonly Option<string> dataset = new("--dataset")
        { Description = "Dataset name (see 'paglab data list')", Required = true };
    readonly NamedOption<Architecture> arch = NamedOption.Create("--arch", "Architecture", Defaults.Arch);
    readonly Option<string> activation = new("--activation")
        { Description = "relu or softplus:BETA", DefaultValueFactory = _ => Defaults.Activation };
    readonly Option<double> width = new("--width")
        { Description = "resnet18 width multiplier", DefaultValueFactory = _ => Defaults.WidthMultiplier };
    readonly NamedOption<ObjectiveKind> objective =
        NamedOption.Create("--objective", "Training objective", ObjectiveDefaults.Kind);
    readonly Option<double?> lambda = new("--lambda") { Description =
        $"Regularisation strength (gnorm default {ObjectiveConfig.DefaultGnormLambda}, smooth default "
        + $"{ObjectiveConfig.DefaultSmoothLambda})" };
    readonly NamedOption<LambdaConvention> convention = NamedOption.Create("--lambda-convention",
        "How gnorm's lambda is read", ObjectiveDefaults.LambdaConvention);
    readonly Option<double?> sigma = new("--sigma") { Description =
        $"Noise level (smooth default {ObjectiveConfig.DefaultSmoothSigma}, randsmooth default "
        + $"{ObjectiveConfig.DefaultRandSmoothSigma})" };
    readonly Option<int> draws = new("--draws")
        { Description = "Noise draws per image (smooth)", DefaultValueFactory = _ => ObjectiveDefaults.Draws };
    readonly Option<bool> probabilities = new("--on-probabilities")
        { Description = "smooth: penalise softmax probabilities, not logits" };
    readonly PgdOptions pgd = new("PGD budget(s), one drawn per example, e.g. 1,4,8 (PAGs Suppl. B.2)",
        PgdDefaults.Steps);
    readonly NamedOption<AttackNorm> norm = NamedOption.Create("--norm", "PGD norm", PgdDefaults.Norm);
    readonly Option<bool> randomStart = new("--random-start")
        { Description = "PGD: start at a random point of the ball" };
    readonly Option<bool> batchNorm = new("--pgd-batch-norm")
        { Description = "PGD: normalise over the whole batch (the authors' geometry)" };
    readonly NamedOption<PgdVariant> pgdVariant =
        NamedOption.Create("--pgd-variant", "PGD settings", PgdVariant.PagLab);
    readonly NamedOption<OptimizerKind> optimizer = NamedOption.Create("--optimizer", "Optimizer", Defaults.Optimizer);
    readonly Option<double> lr = new("--lr")
        { Description = "Learning rate", DefaultValueFactory = _ => Defaults.LearningRate };
    readonly Option<double> momentum = new("--momentum")
        { Description = "SGD momentum", DefaultValueFactory = _ => Defaults.Momentum };
    readonly Option<double> weightDecay = new("--weight-decay")
        { Description = "Weight decay", DefaultValueFactory = _ => Defaults.WeightDecay };
    readonly NamedOption<Schedule> schedule =
        NamedOption.Create("--schedule", "Learning-rate schedule", Defaults.Schedule);
    readonly Option<string> milestones = new("--milestones") { Description =
        "multistep: epochs, or fractions of the run (<1)", DefaultValueFactory = _ => string.Join(",",
        Defaults.Milestones.Select(m => m.ToString(System.Globalization.CultureInfo.InvariantCulture))) };
    readonly Option<double> gamma = new("--gamma")
        { Description = "multistep decay factor", DefaultValueFactory = _ => Defaults.Gamma };
    readonly Option<double?> lrScale = new("--lr-scale-reference")
        { Description = "Scale lr by reference/lambda when lambda exceeds it (PAGs Suppl. B.2)" };
    readonly Option<int> batchSize = new("--batch-size")
        { Description = "Batch size", DefaultValueFactory = _ => Defaults.BatchSize };
    readonly Option<int> epochs = new("--epochs")
        { Description = "Epochs", DefaultValueFactory = _ => Defaults.Epochs };
    readonly NamedOption<AugmentationKind> augment =
        NamedOption.Create("--augment", "Training augmentation", Defaults.Augment);
    readonly Option<int> augmentPadding = new("--augment-padding")
        { Description = "crop-flip: zero padding per side", DefaultValueFactory = _ => Defaults.AugmentPadding };
    readonly NamedOption<TrainingPreset> preset =
        NamedOption.Optional<TrainingPreset>("--preset", "Training recipe (flags given win)", "no preset");
    readonly Option<string> device = CommonOptions.Device();
    readonly Option<bool?> channelsLast = new("--channels-last")
    {
        Description = "Train the convolutions in channels-last (NHWC) memory: same numbers to float rounding; "
            + "default on, except for gnorm on models with batch norm (resnet18), whose double backward runs "
            + "faster NCHW (docs/training.md)",
    };

    public RunOptions Run { get; } = new();
    public Option<string> Output { get; } = CommonOptions.Out(description: "Run folder to create");

    public void AddTo(Command command)
    {
        foreach (var option in new Option[]
        {
            dataset, arch, activation, width, objective, lambda, convention, sigma, draws, probabilities, norm,
            randomStart, batchNorm, pgdVariant, optimizer, lr, momentum, weightDecay, schedule, milestones, gamma,
            lrScale, batchSize, epochs, Output, device, augment, augmentPadding, preset, channelsLast,
        }) command.Options.Add(option);
        pgd.AddTo(command);
        Run.AddTo(command);
    }

    /// <summary>The run's config: options given, else the preset's recipe, else TrainSettings' defaults.</summary>
    public TrainConfig Config(ParseResult parse)
    {
        var kind = objective.ValueIn(parse);
        // what the options not given take: the preset's recipe for the dataset, or the records' defaults
        var baseline = TrainingPresets.Apply(new TrainConfig
        {
            Dataset = parse.GetValue(dataset)!, Preset = parse.GetValue(preset),
            Objective = new ObjectiveConfig { Kind = kind },
        }, _ => false);
        T Pick<T>(Option<T> option, T otherwise) =>
            parse.GetResult(option) is { Implicit: false } ? parse.GetValue(option)! : otherwise;
        T PickNamed<T>(NamedOption<T> option, T otherwise) where T : struct, Enum =>
            parse.GetValue(option) ?? otherwise;
        return baseline with
        {
            Arch = PickNamed(arch, baseline.Arch), Activation = Pick(activation, baseline.Activation),
            WidthMultiplier = Pick(width, baseline.WidthMultiplier),
            Objective = baseline.Objective with
            {
                Lambda = parse.GetValue(lambda) ?? ObjectiveConfig.DefaultLambda(kind),
                LambdaConvention = PickNamed(convention, baseline.Objective.LambdaConvention),
                Sigma = parse.GetValue(sigma) ?? ObjectiveConfig.DefaultSigma(kind),
                Draws = parse.GetValue(draws), OnProbabilities = parse.GetValue(probabilities),
                Epsilons = NumberList.Parse(parse.GetValue(pgd.Eps)!, "--eps"),
                Pgd = PgdSettings(parse) ?? baseline.Objective.Pgd,
            },
            Optimizer = PickNamed(optimizer, baseline.Optimizer), LearningRate = Pick(lr, baseline.LearningRate),
            Momentum = Pick(momentum, baseline.Momentum), WeightDecay = Pick(weightDecay, baseline.WeightDecay),
            Schedule = PickNamed(schedule, baseline.Schedule), Gamma = Pick(gamma, baseline.Gamma),
            Milestones = parse.GetResult(milestones) is { Implicit: false }
                ? NumberList.Parse(parse.GetValue(milestones)!, "--milestones") : baseline.Milestones,
            LrScaleReference = Pick(lrScale, baseline.LrScaleReference),
            BatchSize = Pick(batchSize, baseline.BatchSize), Epochs = Pick(epochs, baseline.Epochs),
            Augment = PickNamed(augment, baseline.Augment),
            AugmentPadding = Pick(augmentPadding, baseline.AugmentPadding),
            Seed = parse.GetValue(Run.Seed), Device = parse.GetValue(device)!,
            DataRoot = parse.GetValue(Run.DataRoot),
            TrainSize = parse.GetValue(Run.TrainSize), TestSize = parse.GetValue(Run.TestSize),
            CheckpointEveryBatches = parse.GetValue(Run.CheckpointEvery), Threads = parse.GetValue(Run.Threads),
            ChannelsLast = parse.GetValue(channelsLast),
        };
    }

    /// <summary>The PGD settings the options name; null when none of them is given (the baseline's apply).</summary>
    PgdConfig? PgdSettings(ParseResult parse)
    {
        bool given = new Option[] { norm, pgd.Steps, pgd.AlphaFactor, randomStart, batchNorm, pgdVariant }
            .Any(o => parse.GetResult(o) is { Implicit: false });
        if (!given) return null;
        return PgdConfig.For(pgdVariant.ValueIn(parse)) ?? new PgdConfig
        {
            Norm = norm.ValueIn(parse), Steps = parse.GetValue(pgd.Steps),
            AlphaFactor = parse.GetValue(pgd.AlphaFactor),
            RandomStart = parse.GetValue(randomStart),
            Normalisation = parse.GetValue(batchNorm) ? PgdNorm.WholeBatch : PgdNorm.PerExample,
        };
    }
}
