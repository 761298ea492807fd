using System.CommandLine;
using PagLab.Common;
using PagLab.Data;
using PagLab.IO;
using PagLab.Metrics;
using PagLab.Models;
using PagLab.Score;
using PagLab.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Cli.Commands;

/// <summary>paglab denoiser train | score | measure alignment | figure gradients</summary>
public sealed class ScoreCommands : ICommandGroup
{
    public void Register(RootCommand root)
    {
        var denoiser = new Command("denoiser", "EDM denoisers that estimate the score of the data");
        denoiser.Subcommands.Add(TrainDenoiser());
        denoiser.Subcommands.Add(TorchScriptCommands.DenoiserImport());
        denoiser.Subcommands.Add(DenoiserQualityCommand());
        root.Subcommands.Add(denoiser);
        root.Subcommands.Add(ScoreCommand());
        CommandTree.Group(root, "measure", "Measurements on trained models").Subcommands.Add(Alignment());
        CommandTree.Group(root, "figure", "Figures in the paper's layouts").Subcommands.Add(GradientsFigure());
    }


    /// <summary>The LPIPS of --lpips-weights and --lpips-net (<see cref="LpipsChoice"/>), said out loud; null
    /// without weights.</summary>
    static Lpips? OptionalLpips(string? weights, string? dataRoot, LpipsNet? net)
    {
        var choice = LpipsChoice.Find(weights, dataRoot, net);
        Console.WriteLine(choice.Describe());
        return choice.Load();
    }

    static Command TrainDenoiser()
    {
        var dataset = new Option<string>("--dataset") { Description = "Dataset name", Required = true };
        var conditional = new Option<bool>("--conditional") { Description = "Class-conditional denoiser" };
        var defaults = new DenoiserSettings();   // one set of defaults: the record's, as in a sweep's shared.denoiser
        var epochs = new Option<int>("--epochs") { Description = "Epochs", DefaultValueFactory = _ => defaults.Epochs };
        var batchSize = new Option<int>("--batch-size")
            { Description = "Batch size", DefaultValueFactory = _ => defaults.BatchSize };
        var lr = new Option<double>("--lr")
            { Description = "Adam learning rate", DefaultValueFactory = _ => defaults.LearningRate };
        var arch = NamedOption.Create("--arch", "Network", defaults.Arch);
        var channels = new Option<int>("--channels") { Description = "U-Net base channels",
            DefaultValueFactory = _ => defaults.BaseChannels };
        var width = new Option<int>("--width")
            { Description = "MLP hidden width", DefaultValueFactory = _ => defaults.HiddenWidth };
        var ema = new Option<double>("--ema-decay")
            { Description = "EMA decay of the saved weights (with EDM's ramp-up)", DefaultValueFactory = _ =>
                defaults.EmaDecay };
        var run = new RunOptions(withTestSize: false);
        var output = CommonOptions.Out(description: "Run folder");
        var cmd = new Command("train", "Train an EDM denoiser (resumable run folder)")
        {
            dataset, conditional, arch, epochs, batchSize, lr, channels, width, ema, output,
        };
        run.AddTo(cmd);
        cmd.SetAction(parse =>
        {
            run.CheckOutputs(parse, output);
            var config = new DenoiserConfig
            {
                Dataset = parse.GetValue(dataset)!, Conditional = parse.GetValue(conditional),
                    Epochs = parse.GetValue(epochs),
                BatchSize = parse.GetValue(batchSize), LearningRate = parse.GetValue(lr),
                    BaseChannels = parse.GetValue(channels),
                Arch = arch.ValueIn(parse), HiddenWidth = parse.GetValue(width), EmaDecay = parse.GetValue(ema),
                TrainSize = parse.GetValue(run.TrainSize), Seed = parse.GetValue(run.Seed),
                DataRoot = parse.GetValue(run.DataRoot),
                CheckpointEveryBatches = parse.GetValue(run.CheckpointEvery), Threads = parse.GetValue(run.Threads),
            };
            var metrics = DenoiserTrainer.Run(config, parse.GetValue(output)!, new ConsoleProgress(),
                                              parse.GetValue(run.Resume), tensorboard: parse.GetValue(run.Tensorboard));
            Console.WriteLine($"denoiser {parse.GetValue(output)}: final EDM loss {metrics.LastOrDefault()?.Loss:F4}");
            return 0;
        });
        return cmd;
    }

    static Command DenoiserQualityCommand()
    {
        var denoiser = new Option<string>("--denoiser") { Description = "Denoiser folder", Required = true };
        var dataset = new Option<string>("--dataset") { Description = "Dataset name", Required = true };
        var count = new Option<int>("--count")
        {
            Description = "Held-out images", DefaultValueFactory = _ => DenoiserQuality.DefaultCount,
        };
        var seed = CommonOptions.Seed(); var dataRoot = CommonOptions.DataRoot();
        string what = "EDM loss, denoising error and (where truth exists) cosine to the exact score, into the folder's "
            + DenoiserQuality.FileName;
        var cmd = new Command("quality", what)
            { denoiser, dataset, count, seed, dataRoot };
        cmd.SetAction(parse =>
        {
            string dir = parse.GetValue(denoiser)!;
            int n = parse.GetValue(count);
            Require.That(n >= 2, "--count must be >= 2");
            using var d = DenoiserTrainer.Load(dir);
            var spec = d.Network.Spec;
            var options = new DataOptions(parse.GetValue(dataRoot), parse.GetValue(seed), TestSize: n);
            var shape = new ImageShape(spec.Channels, spec.Height, spec.Width);
            var data = Datasets.LoadFor(parse.GetValue(dataset)!, options, shape, "the denoiser");
            var quality = DenoiserQuality.Measure(d, data, n);
            DenoiserQuality.Write(dir, quality);
            var loss = quality.EdmLoss;
            Console.WriteLine(
                $"EDM loss on {quality.Count} held-out images: {loss.Mean:F4} [{loss.Lower:F4}, {loss.Upper:F4}]");
            foreach (var q in quality.BySigma)
                Console.WriteLine($"sigma {q.Sigma}: mse {q.Mse.Mean:G4}"
                    + (q.ScoreCosine is { } c
                        ? $", cosine to the exact score {c.Mean:F3} [{c.Lower:F3}, {c.Upper:F3}]" : ""));
            return 0;
        });
        return cmd;
    }

    static Command ScoreCommand()
    {
        var denoiser = new Option<string>("--denoiser") { Description = "Denoiser folder (trained or imported)",
            Required = true };
        var dataset = new Option<string>("--dataset") { Description = "Dataset name", Required = true };
        var sigma = new Option<double>("--sigma") { Description = "Noise level in pixel units ([0,1] images)",
            DefaultValueFactory = _ => 0.5 };
        var count = new Option<int>("--count") { Description = "Number of test images", DefaultValueFactory = _ => 64 };
        var output = CommonOptions.Out(description: "safetensors file: indices, images, scores");
        var seed = CommonOptions.Seed(); var dataRoot = CommonOptions.DataRoot();
        var cmd = new Command("score", "Score s(x, sigma) = (D(x, sigma) - x) / sigma^2 of test images") { denoiser,
            dataset, sigma, count, output, seed, dataRoot };
        cmd.SetAction(parse =>
        {
            ScoreFunction.RequireSigma(parse.GetValue(sigma));
            OutputPolicy.CheckFile("out", parse.GetValue(output), FileKind.SafeTensors, parse.GetValue(denoiser));
            var (d, shape) = TorchScriptDenoiser.LoadFolder(parse.GetValue(denoiser)!);
            using var _ = d;
            int n = parse.GetValue(count);
            Require.That(n >= 1, "--count must be >= 1");
            var data = Datasets.LoadFor(parse.GetValue(dataset)!, new DataOptions(parse.GetValue(dataRoot),
                parse.GetValue(seed), TestSize: n),
                shape, "the denoiser");
            var test = data.Test.Take(n);
            if (ScoreFile.Write(parse.GetValue(output)!, d, data, test, parse.GetValue(sigma)) is double cos)
                Console.WriteLine($"mean cosine to the exact score: {cos:F4}");
            Console.WriteLine($"wrote {test.Count} scores to {parse.GetValue(output)}");
            return 0;
        });
        return cmd;
    }

    /// <summary>The options every alignment command shares: noise level, LPIPS network, gradient mode.</summary>
    static (Option<double?> Sigma, NamedOption<LpipsNet> LpipsNet, NamedOption<GradientMode> Mode) AlignmentOptions() =>
    (
        new Option<double?>("--sigma")
        {
            Description = "Noise level in [0,1]-pixel units (default per dataset: cifar10 0.25, imagenet64 0.6 as the"
                + " paper; else 0.5)",
        },
        NamedOption.Optional<LpipsNet>("--lpips-net", "LPIPS network",
            "the weights' network; alex when its weights are in the data root"),
        NamedOption.Create("--mode", "Gradient of (a class is paired with the score conditioned on it when the"
            + " denoiser is conditional)", new PagLab.Experiments.MeasureSettings().Mode)
    );

    static Command Alignment()
    {
        var model = new Option<string>("--model") { Description = "Model folder", Required = true };
        var denoiser = new Option<string?>("--denoiser") { Description =
            "Denoiser folder (on subspace-gaussians, 'exact' uses the closed-form score)" };
        var dataset = new Option<string>("--dataset") { Description = "Dataset name", Required = true };
        var (sigma, lpipsNet, mode) = AlignmentOptions();
        var count = new Option<int>("--count") { Description = "Number of test images",
            DefaultValueFactory = _ => new PagLab.Experiments.MeasureSettings().AlignmentCount };
        var lpipsWeights = new Option<string?>("--lpips-weights") { Description =
            "LPIPS weights (default $PAGLAB_LPIPS_WEIGHTS, else the shipped SqueezeNet weights)" };
        var output = CommonOptions.Out(description: "JSON report");
        var seed = CommonOptions.Seed(); var dataRoot = CommonOptions.DataRoot();
        var channelsLast = CommonOptions.ChannelsLast();
        var attribution = new AttributionOptions();
        var cmd = new Command("alignment",
            "Perceptual alignment of model input gradients with the score: 1 - LPIPS, SSIM, cosine")
            { model, denoiser, dataset, sigma, mode, count, lpipsWeights, lpipsNet, output, seed, dataRoot,
                channelsLast };
        attribution.AddTo(cmd);
        cmd.SetAction(parse =>
        {
            OutputPolicy.CheckFile("out", parse.GetValue(output), FileKind.Json, parse.GetValue(model),
                parse.GetValue(denoiser) is "exact" ? null : parse.GetValue(denoiser), parse.GetValue(lpipsWeights));
            using var net = SavedModel.Load(parse.GetValue(model)!, channelsLast: parse.GetValue(channelsLast));
            int n = parse.GetValue(count);
            var data = Datasets.LoadFor(parse.GetValue(dataset)!, new DataOptions(parse.GetValue(dataRoot),
                parse.GetValue(seed), TestSize: n), net.Spec.Shape, "the model");
            using var d = ResolveDenoiser(parse.GetValue(denoiser), data);
            using var lpips = OptionalLpips(parse.GetValue(lpipsWeights), parse.GetValue(dataRoot),
                parse.GetValue(lpipsNet));
            var report = AlignmentMeasurement.Measure(net, d, data,
                parse.GetValue(sigma) ?? Datasets.AlignmentSigma(data.Name), mode.ValueIn(parse), n, lpips,
                attribution: attribution.In(parse));
            AlignmentMeasurement.Write(parse.GetValue(output)!, report);
            var m = report.MeanGradientVsScore;
            string oneMinusLpips = m.OneMinusLpips is double l ? l.ToString("F4") : "n/a";
            Console.WriteLine($"{report.Attribution} vs score ({report.Count} images, "
                + $"mode {Vocabulary.Name(report.Mode)}, "
                + $"{report.ScoreConditioning} score, "
                + $"sigma {report.Sigma}): 1-LPIPS {oneMinusLpips}, SSIM {m.Ssim:F4}, cosine {m.Cosine:F4}");
            if (report.MeanScoreCosineToExact is double sc) Console.WriteLine($"score vs exact score: cosine {sc:F4}");
            if (report.MeanGradientVsBayesGradient is { } bayes)
                Console.WriteLine("log-probability gradient vs Bayes-optimal log p(y|x) gradient: "
                    + $"cosine {bayes.Cosine:F4}, SSIM {bayes.Ssim:F4}");
            Console.WriteLine(report.Why);
            Console.WriteLine($"wrote {parse.GetValue(output)}");
            return 0;
        });
        return cmd;
    }

    static IDenoiser ResolveDenoiser(string? option, IDataset data)
    {
        if (option == "exact")
            return data is SubspaceGaussians sg
                ? new ExactDenoiser(sg) : throw new PagLabException("--denoiser exact is only available on "
                + Datasets.Name(DatasetName.SubspaceGaussians));
        if (string.IsNullOrEmpty(option)) throw new PagLabException("--denoiser is required (a denoiser folder, or "
            + "'exact' on subspace-gaussians)");
        var (d, shape) = TorchScriptDenoiser.LoadFolder(option);
        if (data.Shape != shape)
        {
            d.Dispose();
            throw new PagLabException($"the denoiser expects {shape} images, {data.Name} has {data.Shape}");
        }
        return d;
    }

    static Command GradientsFigure()
    {
        var models = new Option<string>("--models") { Description = "Comma-separated model folders", Required = true };
        var denoiser = new Option<string?>("--denoiser") { Description =
            "Denoiser folder (or 'exact' on subspace-gaussians)" };
        var dataset = new Option<string>("--dataset") { Description = "Dataset name", Required = true };
        var (sigma, lpipsNet, mode) = AlignmentOptions();
        var count = new Option<int>("--count") { Description = "Rows (images)", DefaultValueFactory = _ => 6 };
        var lpipsWeights = new Option<string?>("--lpips-weights") { Description =
            "LPIPS weights (default $PAGLAB_LPIPS_WEIGHTS, else the shipped SqueezeNet weights)" };
        var output = CommonOptions.Out(description: "PNG file");
        var seed = CommonOptions.Seed(); var dataRoot = CommonOptions.DataRoot();
        var channelsLast = CommonOptions.ChannelsLast("the models");
        var attribution = new AttributionOptions();
        var cmd = new Command("gradients",
            "Figure 6: image, score, and each model's input gradient with its LPIPS to the score")
            { models, denoiser, dataset, sigma, mode, count, lpipsWeights, lpipsNet, output, seed, dataRoot,
                channelsLast };
        attribution.AddTo(cmd);
        cmd.SetAction(parse =>
        {
            var folders = parse.GetValue(models)!.Split(',',
                StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            OutputPolicy.CheckFile("out", parse.GetValue(output), FileKind.Png, [.. folders,
                parse.GetValue(denoiser) is "exact" ? null : parse.GetValue(denoiser), parse.GetValue(lpipsWeights)]);
            int n = parse.GetValue(count);
            Require.InRange(n, 1, 64, "--count");
            var data = Datasets.Load(parse.GetValue(dataset)!, new DataOptions(parse.GetValue(dataRoot),
                parse.GetValue(seed), TestSize: n));
            var list = folders.Zip(SavedModel.Names(folders)).Select(m => (m.Second,
                (nn.Module<Tensor, Tensor>)SavedModel.Load(m.First, channelsLast: parse.GetValue(channelsLast))))
                .ToList();
            try
            {
                Require.That(list.Count > 0, "--models names no model");
                using var d = ResolveDenoiser(parse.GetValue(denoiser), data);
                using var lpips = OptionalLpips(parse.GetValue(lpipsWeights), parse.GetValue(dataRoot),
                    parse.GetValue(lpipsNet));
                AlignmentMeasurement.Figure(parse.GetValue(output)!, list, d, data,
                    parse.GetValue(sigma) ?? Datasets.AlignmentSigma(data.Name), mode.ValueIn(parse), n, lpips,
                    attribution.In(parse));
            }
            finally { foreach (var (_, m) in list) m.Dispose(); }
            Console.WriteLine($"wrote {parse.GetValue(output)}");
            return 0;
        });
        return cmd;
    }
}
