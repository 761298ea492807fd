using System.CommandLine;
using System.Globalization;
using PagLab.Attacks;
using PagLab.Certification;
using PagLab.Common;
using PagLab.Data;
using PagLab.IO;
using PagLab.Models;
using PagLab.Objectives;
using PagLab.Training;

namespace PagLab.Cli.Commands;

/// <summary>paglab train | eval</summary>
public sealed class TrainCommands : ICommandGroup
{
    public void Register(RootCommand root)
    {
        root.Subcommands.Add(Train());
        root.Subcommands.Add(Eval());
    }

    /// <summary>Parses "1,4,8" into numbers, with a one-line error naming the option.</summary>
    /// <summary>Whether the user wrote the option (not its default).</summary>
    static bool Given(ParseResult parse, Option option) => parse.GetResult(option) is { Implicit: false };

    public static double[] ParseList(string text, string option)
    {
        try
        {
            return text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                       .Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        }
        catch (FormatException) { throw new PagLabException($"{option}: '{text}' is not a comma-separated list of "
            + $"numbers"); }
    }

    static Command Train()
    {
        var dataset = new Option<string>("--dataset") { Description = "Dataset name (see 'paglab data list')",
            Required = true };
        var arch = new Option<string>("--arch") { Description = "resnet18 | lenet | smallcnn | mlp | linear",
            DefaultValueFactory = _ => "smallcnn" };
        var activation = new Option<string>("--activation") { Description = "relu or softplus:BETA",
            DefaultValueFactory = _ => "relu" };
        var width = new Option<double>("--width") { Description = "resnet18 width multiplier",
            DefaultValueFactory = _ => 1.0 };
        var objective = NamedOption.Create("--objective", "Training objective", ObjectiveKind.Standard);
        var lambda = new Option<double?>("--lambda") { Description =
            $"Regularisation strength (gnorm default {ObjectiveConfig.DefaultGnormLambda}, smooth default "
            + $"{ObjectiveConfig.DefaultSmoothLambda})" };
        var convention = NamedOption.Create("--lambda-convention", "How gnorm's lambda is read",
            LambdaConvention.PagLab);
        var sigma = new Option<double?>("--sigma") { Description =
            $"Noise level (smooth default {ObjectiveConfig.DefaultSmoothSigma}, randsmooth default "
            + $"{ObjectiveConfig.DefaultRandSmoothSigma})" };
        var draws = new Option<int>("--draws") { Description = "Noise draws per image (smooth)",
            DefaultValueFactory = _ => 1 };
        var probabilities = new Option<bool>("--on-probabilities") { Description =
            "smooth: penalise softmax probabilities, not logits" };
        var pgd = new PgdOptions("PGD budget(s), one drawn per example, e.g. 1,4,8 (PAGs Suppl. B.2)", steps: 10);
        var (eps, steps, alphaFactor) = (pgd.Eps, pgd.Steps, pgd.AlphaFactor);
        var norm = NamedOption.Create("--norm", "PGD norm", AttackNorm.L2);
        var randomStart = new Option<bool>("--random-start") { Description =
            "PGD: start at a random point of the ball" };
        var batchNorm = new Option<bool>("--pgd-batch-norm") { Description =
            "PGD: normalise over the whole batch (the authors' geometry)" };
        var pgdVariant = NamedOption.Create("--pgd-variant", "PGD settings", PgdVariant.PagLab);
        var optimizer = NamedOption.Create("--optimizer", "Optimizer", OptimizerKind.Adam);
        var lr = new Option<double>("--lr") { Description = "Learning rate", DefaultValueFactory = _ => 3e-3 };
        var momentum = new Option<double>("--momentum") { Description = "SGD momentum",
            DefaultValueFactory = _ => 0.9 };
        var weightDecay = new Option<double>("--weight-decay") { Description = "Weight decay",
            DefaultValueFactory = _ => 0.0 };
        var schedule = NamedOption.Create("--schedule", "Learning-rate schedule", Schedule.None);
        var milestones = new Option<string>("--milestones") { Description =
            "multistep: epochs, or fractions of the run (<1)", DefaultValueFactory = _ => "0.75,0.875" };
        var gamma = new Option<double>("--gamma") { Description = "multistep decay factor",
            DefaultValueFactory = _ => 0.1 };
        var lrScale = new Option<double?>("--lr-scale-reference") { Description =
            "Scale lr by reference/lambda when lambda exceeds it (PAGs Suppl. B.2)" };
        var batchSize = new Option<int>("--batch-size") { Description = "Batch size", DefaultValueFactory = _ => 128 };
        var epochs = new Option<int>("--epochs") { Description = "Epochs", DefaultValueFactory = _ => 1 };
        var augment = new Option<string>("--augment")
        {
            Description = "Training augmentation: none | crop-flip (random crop of the zero-padded image, mirrored)",
            DefaultValueFactory = _ => "none",
        };
        var augmentPadding = new Option<int>("--augment-padding")
            { Description = "crop-flip: zero padding per side", DefaultValueFactory = _ => 4 };
        var preset = new Option<string?>("--preset")
            { Description = "authors: the PAGs authors' recipe for the dataset (docs/training.md); flags given win" };
        var run = new RunOptions();
        var output = CommonOptions.Out(description: "Run folder to create");
        var device = CommonOptions.Device();
        var channelsLast = new Option<bool?>("--channels-last")
        {
            Description = "Train the convolutions in channels-last (NHWC) memory: same numbers to float rounding; "
                + "default on, except for gnorm on models with batch norm (resnet18), whose double backward runs "
                + "faster NCHW (docs/training.md)",
        };
        var cmd = new Command("train", "Train a classifier with a robust objective; writes a resumable run folder")
        {
            dataset, arch, activation, width, objective, lambda, convention, sigma, draws, probabilities, norm,
            randomStart, batchNorm, pgdVariant, optimizer, lr, momentum, weightDecay, schedule, milestones, gamma,
                lrScale, batchSize, epochs, output, device, augment, augmentPadding, preset, channelsLast,
        };
        pgd.AddTo(cmd);
        run.AddTo(cmd);
        // the options a preset may fill, by TrainConfig key (TrainingPresets.Apply)
        var presetKeys = new Dictionary<string, Option>
        {
            ["arch"] = arch, ["epochs"] = epochs, ["batchSize"] = batchSize, ["optimizer"] = optimizer,
            ["learningRate"] = lr, ["momentum"] = momentum, ["weightDecay"] = weightDecay, ["schedule"] = schedule,
            ["milestones"] = milestones, ["gamma"] = gamma, ["augment"] = augment, ["augmentPadding"] = augmentPadding,
            ["lrScaleReference"] = lrScale, ["objective.lambdaConvention"] = convention,
            ["objective.pgd"] = pgdVariant,
        };
        cmd.SetAction(parse =>
        {
            run.CheckOutputs(parse, output);
            var config = new TrainConfig
            {
                Dataset = parse.GetValue(dataset)!, Arch = parse.GetValue(arch)!,
                    Activation = parse.GetValue(activation)!,
                WidthMultiplier = parse.GetValue(width),
                Objective = new ObjectiveConfig
                {
                    Kind = objective.ValueIn(parse),
                    Lambda = parse.GetValue(lambda) ?? ObjectiveConfig.DefaultLambda(objective.ValueIn(parse)),
                    LambdaConvention = convention.ValueIn(parse),
                    Sigma = parse.GetValue(sigma) ?? ObjectiveConfig.DefaultSigma(objective.ValueIn(parse)),
                    Draws = parse.GetValue(draws), OnProbabilities = parse.GetValue(probabilities),
                    Epsilons = ParseList(parse.GetValue(eps)!, "--eps"),
                    Pgd = PgdConfig.For(pgdVariant.ValueIn(parse)) ?? new PgdConfig
                    {
                        Norm = norm.ValueIn(parse), Steps = parse.GetValue(steps),
                        AlphaFactor = parse.GetValue(alphaFactor),
                        RandomStart = parse.GetValue(randomStart),
                            Normalisation = parse.GetValue(batchNorm) ? PgdNorm.WholeBatch : PgdNorm.PerExample,
                    },
                },
                Optimizer = optimizer.ValueIn(parse), LearningRate = parse.GetValue(lr),
                Momentum = parse.GetValue(momentum),
                WeightDecay = parse.GetValue(weightDecay), Schedule = schedule.ValueIn(parse),
                Milestones = ParseList(parse.GetValue(milestones)!, "--milestones"), Gamma = parse.GetValue(gamma),
                LrScaleReference = parse.GetValue(lrScale), BatchSize = parse.GetValue(batchSize),
                    Epochs = parse.GetValue(epochs),
                Seed = parse.GetValue(run.Seed), Device = parse.GetValue(device)!,
                DataRoot = parse.GetValue(run.DataRoot),
                TrainSize = parse.GetValue(run.TrainSize), TestSize = parse.GetValue(run.TestSize),
                CheckpointEveryBatches = parse.GetValue(run.CheckpointEvery), Threads = parse.GetValue(run.Threads),
                Augment = Vocabulary.Parse<PagLab.Data.AugmentationKind>(parse.GetValue(augment)!, "augment"),
                AugmentPadding = parse.GetValue(augmentPadding),
                Preset = parse.GetValue(preset), ChannelsLast = parse.GetValue(channelsLast),
            };
            bool pgdGiven = new Option[] { norm, steps, alphaFactor, randomStart, batchNorm }.Any(o => Given(parse, o));
            config = TrainingPresets.Apply(config,
                key => Given(parse, presetKeys[key]) || key == "objective.pgd" && pgdGiven);
            config.Objective.Create(config.BatchSize); // validate before loading data
            string outDir = parse.GetValue(output)!;
            var result = Trainer.Run(config, outDir, new ConsoleProgress(), parse.GetValue(run.Resume),
                                     tensorboard: parse.GetValue(run.Tensorboard));
            if (result.Status == RunStatus.Diverged) { Console.Error.WriteLine($"error: {result.Message}"); return 3; }
            var last = result.Metrics.LastOrDefault();
            Console.WriteLine(last is null
                ? $"run {outDir}: {result.Message}" : $"run {outDir}: test accuracy {last.TestAccuracy:F4} after "
                + $"{last.Epoch} epoch(s)");
            return 0;
        });
        return cmd;
    }

    static Command Eval()
    {
        var model = new Option<string>("--model") { Description = "Model or run folder", Required = true };
        var dataset = new Option<string>("--dataset") { Description = "Dataset name", Required = true };
        var attack = new Option<string?>("--attack") { Description = "pgd-l2 | pgd-linf" };
        var pgd = new PgdOptions("Attack budget(s), e.g. 0.5,1,2", steps: 20);
        var (eps, steps, alphaFactor) = (pgd.Eps, pgd.Steps, pgd.AlphaFactor);
        var smoothed = new Option<bool>("--smoothed") { Description =
            "Certify the smoothed classifier (Cohen et al. 2019)" };
        var sigma = new Option<double>("--sigma") { Description = "Smoothing noise level",
            DefaultValueFactory = _ => 0.25 };
        var n = new Option<int>("--n") { Description = "Monte Carlo draws for certification",
            DefaultValueFactory = _ => 1000 };
        var n0 = new Option<int>("--n0") { Description = "Draws to select the top class",
            DefaultValueFactory = _ => 100 };
        var alpha = new Option<double>("--alpha") { Description = "Failure probability of the certificate",
            DefaultValueFactory = _ => 0.001 };
        var count = new Option<int?>("--count") { Description = "Evaluate the first n test images" };
        var output = CommonOptions.Out(required: false, description: "JSON file to write");
        var seed = CommonOptions.Seed(); var dataRoot = CommonOptions.DataRoot();
        var channelsLast = CommonOptions.ChannelsLast();
        var cmd = new Command("eval", "Clean, PGD-robust or certified (randomized smoothing) accuracy of a model")
            { model, dataset, attack, smoothed, sigma, n, n0, alpha, count, output, seed, dataRoot, channelsLast };
        pgd.AddTo(cmd);
        cmd.SetAction(parse =>
        {
            // Every option checked before the model and data are loaded.
            var attackConfig = new PgdConfig
            {
                Norm = parse.GetValue(attack) == "pgd-linf" ? AttackNorm.Linf : AttackNorm.L2,
                Steps = parse.GetValue(steps),
                AlphaFactor = parse.GetValue(alphaFactor),
            };
            if (parse.GetValue(attack) is string named)
            {
                Require.That(named is "pgd-l2" or "pgd-linf", $"--attack must be pgd-l2 or pgd-linf, got '{named}'");
                attackConfig.Validate(ParseList(parse.GetValue(eps)!, "--eps"));
            }
            if (parse.GetValue(count) is int wanted) Require.That(wanted >= 1, $"--count must be >= 1, got {wanted}");
            if (parse.GetResult(output) is not null)
                OutputPolicy.CheckFile("out", parse.GetValue(output), FileKind.Json, parse.GetValue(model));
            using var net = SavedModel.Load(parse.GetValue(model)!, channelsLast: parse.GetValue(channelsLast));
            var data = Datasets.LoadFor(parse.GetValue(dataset)!, new DataOptions(parse.GetValue(dataRoot),
                parse.GetValue(seed), TestSize: parse.GetValue(count)), net.Spec.Shape, "the model");
            var test = parse.GetValue(count) is int c ? data.Test.Take(c) : data.Test;
            var smoothing = parse.GetValue(smoothed)
                ? new EvalReport.Smoothing(parse.GetValue(sigma), parse.GetValue(n0), parse.GetValue(n),
                    parse.GetValue(alpha))
                : null;
            var epsilons = parse.GetValue(attack) is null ? Array.Empty<double>()
                : ParseList(parse.GetValue(eps)!, "--eps");
            var report = EvalReport.Measure(net, parse.GetValue(model)!, data.Name, test, parse.GetValue(attack),
                attackConfig, epsilons, smoothing, parse.GetValue(seed), Console.WriteLine);
            if (parse.GetValue(output) is string path) { JsonFiles.Write(path,
                report); Console.WriteLine($"wrote {path}"); }
            return 0;
        });
        return cmd;
    }
}
