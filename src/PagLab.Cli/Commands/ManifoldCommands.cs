using System.CommandLine;
using System.Globalization;
using PagLab.Common;
using PagLab.Data;
using PagLab.Experiments;
using PagLab.IO;
using PagLab.Manifold;
using PagLab.Models;
using PagLab.Training;

namespace PagLab.Cli.Commands;

/// <summary>autoencoder train; tangents (+ check, show); measure manifold | theorem1.</summary>
public sealed class ManifoldCommands : ICommandGroup
{
    public void Register(RootCommand root)
    {
        CommandTree.Group(root, "autoencoder",
            "Autoencoders that estimate the data manifold").Subcommands.Add(AutoencoderTrain());
        var tangents = Tangents();
        tangents.Subcommands.Add(Check());
        tangents.Subcommands.Add(Show());
        root.Subcommands.Add(tangents);
        var measure = CommandTree.Group(root, "measure", "Measurements on trained models");
        measure.Subcommands.Add(MeasureManifold());
        measure.Subcommands.Add(MeasureTheorem1());
        measure.Subcommands.Add(TangentScanCommand.Create());
    }


    static Option<string> Dataset() => new("--dataset") { Description = "Dataset name (see 'paglab data list')",
        Required = true };

    static Command AutoencoderTrain()
    {
        var dataset = Dataset();
        var latent = new Option<int?>("--latent") { Description =
            "Latent dimension k (default 16 for 28-pixel data, 128 from 32 pixels)" };
        var defaults = new AutoencoderSettings();   // the record's defaults, as in a sweep's shared.autoencoder
        var kind = NamedOption.Create("--kind", "Autoencoder", defaults.Kind);
        var epochs = new Option<int>("--epochs") { Description = "Epochs", DefaultValueFactory = _ => defaults.Epochs };
        var batchSize = new Option<int>("--batch-size")
            { Description = "Batch size", DefaultValueFactory = _ => defaults.BatchSize };
        var lr = new Option<double>("--lr")
            { Description = "Adam learning rate", DefaultValueFactory = _ => defaults.LearningRate };
        var kl = new Option<double>("--kl-weight") { Description = "vae: weight of the KL term",
            DefaultValueFactory = _ => defaults.KlWeight };
        var channels = new Option<int>("--channels") { Description = "Channels after the first convolution",
            DefaultValueFactory = _ => defaults.BaseChannels };
        var run = new RunOptions();
        var output = CommonOptions.Out(description: "Run folder (receives autoencoder.safetensors + autoencoder.json)");
        var cmd = new Command("train",
            "Train a convolutional autoencoder (Adam; reconstruction error per epoch in metrics.jsonl)")
            { dataset, latent, kind, epochs, batchSize, lr, kl, channels, output };
        run.AddTo(cmd);
        cmd.SetAction(parse =>
        {
            run.CheckOutputs(parse, output);
            var config = new AutoencoderConfig
            {
                Dataset = parse.GetValue(dataset)!, Latent = parse.GetValue(latent), Kind = kind.ValueIn(parse),
                Epochs = parse.GetValue(epochs), BatchSize = parse.GetValue(batchSize),
                    LearningRate = parse.GetValue(lr),
                KlWeight = parse.GetValue(kl), BaseChannels = parse.GetValue(channels),
                TrainSize = parse.GetValue(run.TrainSize), TestSize = parse.GetValue(run.TestSize),
                Seed = parse.GetValue(run.Seed), DataRoot = parse.GetValue(run.DataRoot),
                CheckpointEveryBatches = parse.GetValue(run.CheckpointEvery), Threads = parse.GetValue(run.Threads),
            };
            using var model = AutoencoderTrainer.Run(config, parse.GetValue(output)!, new ConsoleProgress(),
                                                     parse.GetValue(run.Resume), parse.GetValue(run.Tensorboard));
            Console.WriteLine($"saved autoencoder (k = {model.Spec.Latent}, {Vocabulary.Name(model.Spec.Kind)}) to "
                + $"{parse.GetValue(output)}");
            return 0;
        });
        return cmd;
    }

    static Command Tangents()
    {
        var autoencoder = new Option<string?>("--autoencoder") { Description =
            "Autoencoder folder (estimator autoencoder)" };
        var estimator = NamedOption.Create("--estimator", "Tangent estimator; --decoder implies a traced one",
            TangentEstimator.Autoencoder);
        var decoder = new Option<string?>("--decoder") { Description =
            "TorchScript decoder (B, k) -> images (runs code: trusted files only); needs --encoder" };
        var encoder = new Option<string?>("--encoder") { Description =
            "TorchScript encoder images -> (B, k) codes, for --decoder" };
        var dataset = Dataset();
        var shared = new SharedSettings();   // the defaults of a sweep's shared section
        var count = new Option<int>("--count") { Description = "Number of images (the first N of the split)",
            DefaultValueFactory = _ => shared.TangentCount };
        var split = NamedOption.Create("--split", "Split", Split.Test);
        var batchSize = new Option<int>("--batch-size") { Description = "Images per batched Jacobian",
            DefaultValueFactory = _ => shared.TangentBatchSize };
        var neighbours = new Option<int>("--neighbours") { Description = "local-pca: neighbourhood size",
            DefaultValueFactory = _ => shared.LocalPcaNeighbours };
        var dimension = new Option<int>("--dimension") { Description = "local-pca: tangent dimension kept",
            DefaultValueFactory = _ => shared.LocalPcaDimension };
        var output = CommonOptions.Out(description: "Tangent-space file (.safetensors)");
        var seed = CommonOptions.Seed(); var dataRoot = CommonOptions.DataRoot();
        var cmd = new Command("tangents",
            "Estimate tangent spaces (exact batched decoder Jacobians, or local PCA) and save their bases")
            { autoencoder, estimator, decoder, encoder, dataset, count, split, batchSize, neighbours, dimension, output,
                seed, dataRoot };
        cmd.SetAction(parse =>
        {
            OutputPolicy.CheckFile("out", parse.GetValue(output), FileKind.SafeTensors, parse.GetValue(autoencoder),
                parse.GetValue(decoder), parse.GetValue(encoder));
            var data = ManifoldExperiments.LoadDataset(parse.GetValue(dataset)!, parse.GetValue(dataRoot),
                parse.GetValue(seed));
            Require.Positive(parse.GetValue(count), "--count");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            bool traced = parse.GetValue(decoder) is not null || parse.GetValue(encoder) is not null;
            using var spaces = traced
                ? ManifoldExperiments.EstimateWithTorchScript(
                    parse.GetValue(encoder)
                        ?? throw new PagLabException("--decoder needs --encoder (the codes z = E(x) at which D's "
                        + "Jacobian is taken)"),
                    parse.GetValue(decoder) ?? throw new PagLabException("--encoder needs --decoder"),
                    data, split.ValueIn(parse), parse.GetValue(count), parse.GetValue(batchSize), new ConsoleProgress())
                : ManifoldExperiments.Estimate(new TangentRequest(estimator.ValueIn(parse), split.ValueIn(parse),
                    parse.GetValue(count), parse.GetValue(batchSize), parse.GetValue(neighbours),
                    parse.GetValue(dimension)), data, () => parse.GetValue(autoencoder) is { } folder
                    ? (SavedAutoencoder.Load(folder), folder)
                    : throw new PagLabException("--autoencoder is required with --estimator autoencoder"),
                    new ConsoleProgress());
            spaces.Save(parse.GetValue(output)!);
            Console.WriteLine($"{spaces.Count} tangent spaces of dimension {spaces.Rank} in R^{spaces.AmbientDim} "
                + $"({spaces.Info.GetValueOrDefault("rankDeficient", "0")} rank-deficient) in "
                + $"{clock.Elapsed.TotalSeconds:F2}s -> {parse.GetValue(output)}");
            return 0;
        });
        return cmd;
    }

    static Command Check()
    {
        var dataset = new Option<string>("--dataset") { Description = "A dataset with a known tangent space",
            DefaultValueFactory = _ => Datasets.Name(DatasetName.SubspaceGaussians) };
        var autoencoder = new Option<string?>("--autoencoder") { Description =
            "Autoencoder folder (also check the autoencoder estimator)" };
        var count = new Option<int>("--count") { Description = "Test images", DefaultValueFactory = _ => 64 };
        var neighbours = new Option<int>("--neighbours") { Description = "local-pca neighbourhood size",
            DefaultValueFactory = _ => new SharedSettings().LocalPcaNeighbours };
        var dimension = new Option<int?>("--dimension") { Description = "local-pca dimension (default: the true one)" };
        var output = CommonOptions.Out(required: false, description: "JSON report");
        var seed = CommonOptions.Seed(); var dataRoot = CommonOptions.DataRoot();
        var cmd = new Command("check",
            "Principal angles (mean, max) between estimated and true tangent spaces, for both estimators")
            { dataset, autoencoder, count, neighbours, dimension, output, seed, dataRoot };
        cmd.SetAction(parse =>
        {
            if (parse.GetResult(output) is not null)
                OutputPolicy.CheckFile("out", parse.GetValue(output), FileKind.Json, parse.GetValue(autoencoder));
            var data = ManifoldExperiments.LoadDataset(parse.GetValue(dataset)!, parse.GetValue(dataRoot),
                parse.GetValue(seed));
            var report = TangentCheck.Run(data, parse.GetValue(autoencoder), parse.GetValue(count),
                parse.GetValue(neighbours), parse.GetValue(dimension), new ConsoleProgress());
            foreach (var (name, a) in report.Estimators)
                Console.WriteLine($"{name}: mean principal angle {a.MeanDegrees:F3} deg, max {a.MaxDegrees:F3} deg, "
                    + $"mean largest {a.MeanLargestDegrees:F3} deg over {a.Count} images");
            if (parse.GetValue(output) is string path) JsonFiles.Write(path, report);
            return 0;
        });
        return cmd;
    }

    static Command Show()
    {
        var file = new Argument<string>("tangents") { Description = "Tangent-space file" };
        var dataset = Dataset();
        var count = new Option<int>("--count") { Description = "Images (rows)", DefaultValueFactory = _ => 8 };
        var epsilon = new Option<double>("--eps") { Description = "L2 norm of both perturbations",
            DefaultValueFactory = _ => 3.0 };
        var scale = new Option<int>("--scale") { Description = "Pixel upscaling", DefaultValueFactory = _ => 3 };
        var output = CommonOptions.Out(description: "PNG file");
        var seed = CommonOptions.Seed(); var dataRoot = CommonOptions.DataRoot();
        var cmd = new Command("show",
            "PAGs Figure 7: images, a random on-manifold and a random off-manifold perturbation of the same L2 norm")
            { dataset, count, epsilon, scale, output, seed, dataRoot };
        cmd.Arguments.Add(file);
        cmd.SetAction(parse =>
        {
            OutputPolicy.CheckFile("out", parse.GetValue(output), FileKind.Png, parse.GetValue(file));
            var data = ManifoldExperiments.LoadDataset(parse.GetValue(dataset)!, parse.GetValue(dataRoot),
                parse.GetValue(seed));
            Require.Positive(parse.GetValue(epsilon), "--eps");
            ManifoldExperiments.ShowPerturbations(new PerturbationRequest(parse.GetValue(file)!, data,
                parse.GetValue(output)!)
            {
                Count = parse.GetValue(count), Epsilon = parse.GetValue(epsilon), Seed = parse.GetValue(seed),
                Scale = parse.GetValue(scale),
            });
            Console.WriteLine($"wrote {parse.GetValue(output)}");
            return 0;
        });
        return cmd;
    }

    static Command MeasureManifold()
    {
        var model = new Option<string>("--model") { Description = "Model folder", Required = true };
        var tangents = new Option<string>("--tangents") { Description = "Tangent-space file", Required = true };
        var dataset = Dataset();
        var defaults = new MeasureSettings();   // the defaults of a sweep's measure section
        var eps = new Option<string>("--eps") { Description = "Perturbation L2 norms",
            DefaultValueFactory = _ => string.Join(",", defaults.Epsilons.Select(e =>
                e.ToString(CultureInfo.InvariantCulture))) };
        var draws = new Option<int>("--draws")
            { Description = "Noise draws per image", DefaultValueFactory = _ => defaults.Draws };
        var outputs = new Option<string>("--outputs")
            { Description = "softmax (the paper's f, default) | logits", DefaultValueFactory = _ => "softmax" };
        var norm = new Option<string>("--norm") { Description = "l1 (the authors' plots, default) | l2",
            DefaultValueFactory = _ => "l1" };
        var batch = new Option<int>("--batch-images") { Description = "Images per batch",
            DefaultValueFactory = _ => defaults.BatchImages };
        var count = new Option<int?>("--count") { Description =
            "Use the first N images of the tangent file (default: all it holds; more is an error)" };
        var output = CommonOptions.Out(description: "JSON report (a CSV and a PNG are written beside it)");
        var seed = CommonOptions.Seed(); var dataRoot = CommonOptions.DataRoot();
        var channelsLast = CommonOptions.ChannelsLast();
        var cmd = new Command("manifold",
            "On- vs off-manifold robustness ||f(x) - f(x+u)|| (softmax L1 by default) per epsilon, with rho_1 "
            + "(Definition 1) and rho_2 (Definition 2)")
            { model, tangents, dataset, eps, draws, outputs, norm, batch, count, output, seed, dataRoot, channelsLast };
        cmd.SetAction(parse =>
        {
            var kind = OutputMeasure.FromOptions(parse.GetValue(outputs)!, parse.GetValue(norm)!);
            OutputPolicy.CheckFiles("out", ManifoldReportFiles.Of(parse.GetValue(output)!),
                parse.GetValue(model), parse.GetValue(tangents));
            var data = ManifoldExperiments.LoadDataset(parse.GetValue(dataset)!, parse.GetValue(dataRoot),
                parse.GetValue(seed));
            var request = new ManifoldRequest(parse.GetValue(model)!, parse.GetValue(tangents)!, data)
            {
                Epsilons = NumberList.Parse(parse.GetValue(eps)!, "--eps"), Draws = parse.GetValue(draws),
                Measure = kind, Seed = parse.GetValue(seed), BatchImages = parse.GetValue(batch),
                ChannelsLast = parse.GetValue(channelsLast), Count = parse.GetValue(count),
            };
            var report = ManifoldExperiments.MeasureManifold(request, new ConsoleProgress());
            ManifoldReportFiles.Write(parse.GetValue(output)!, report);
            Console.WriteLine($"{report.Results.FirstOrDefault()?.OnPerImage.Length ?? 0} images (those of "
                + $"{parse.GetValue(tangents)}), {parse.GetValue(draws)} draws each");
            foreach (var line in report.SummaryLines()) Console.WriteLine(line);
            return 0;
        });
        return cmd;
    }

    static Command MeasureTheorem1()
    {
        var model = new Option<string>("--model") { Description = "Model folder", Required = true };
        var tangents = new Option<string>("--tangents") { Description = "Tangent-space file", Required = true };
        var dataset = Dataset();
        var sigmas = new Option<string>("--sigmas") { Description = "Noise levels",
            DefaultValueFactory = _ => "1,0.3,0.1,0.03,0.01,0.001,0.0001" };
        var draws = new Option<int>("--draws") { Description = "Noise draws per image",
            DefaultValueFactory = _ => 256 };
        var count = new Option<int?>("--count") { Description = "Use the first N tangent spaces (default: "
            + $"{ManifoldExperiments.Theorem1DefaultCount}, or all the file holds if fewer; more is an error)" };
        var mode = NamedOption.Create("--class", "Which logit is f", GradientMode.Predicted);
        var batch = new Option<int>("--batch-images") { Description = "Images per batch",
            DefaultValueFactory = _ => 4 };
        var output = CommonOptions.Out(description: "Output path; .json, .csv and .png are written");
        var seed = CommonOptions.Seed(); var dataRoot = CommonOptions.DataRoot();
        var cmd = new Command("theorem1",
            "Theorem 1: rho_1(sigma) (Definition 1) against rho_2 (Definition 2) as sigma falls")
            { model, tangents, dataset, sigmas, draws, count, mode, batch, output, seed, dataRoot };
        cmd.SetAction(parse =>
        {
            var classMode = mode.ValueIn(parse);
            string tangentPath = parse.GetValue(tangents)!;
            OutputPolicy.CheckFiles("out", ManifoldReportFiles.OfTheorem1(parse.GetValue(output)!),
                parse.GetValue(model), tangentPath);
            var data = ManifoldExperiments.LoadDataset(parse.GetValue(dataset)!, parse.GetValue(dataRoot),
                parse.GetValue(seed));
            var request = new Theorem1Request(parse.GetValue(model)!, tangentPath, data)
            {
                Sigmas = NumberList.Parse(parse.GetValue(sigmas)!, "--sigmas"), Draws = parse.GetValue(draws),
                Mode = classMode, Seed = parse.GetValue(seed), BatchImages = parse.GetValue(batch),
                Count = parse.GetValue(count),
            };
            var report = ManifoldExperiments.MeasureTheorem1(request, new ConsoleProgress());
            ManifoldReportFiles.Write(parse.GetValue(output)!, report);
            Console.WriteLine("sigma      rho_1(sigma)  rho_2      mean|rho1-rho2|  mean|rho1-rho1_linear|");
            foreach (var r in report.Rows) Console.WriteLine($"{r.Sigma,-10:G3} {r.Rho1Mean,-13:G5} "
                + $"{r.Rho2Mean,-10:G5} {r.MeanAbsDifference,-16:G3} {r.MeanAbsToLinear:G3}");
            Console.WriteLine($"({report.Images} images; rho_2: the fraction of ||grad f||^2 off the tangent space, "
                + "Definition 2; rho_1(sigma): its Monte-Carlo estimate from the change under noise, Definition 1)");
            return 0;
        });
        return cmd;
    }
}
