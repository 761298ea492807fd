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


    static Command Train()
    {
        var options = new TrainOptions();
        var cmd = new Command("train", "Train a classifier with a robust objective; writes a resumable run folder");
        options.AddTo(cmd);
        cmd.SetAction(parse =>
        {
            options.Run.CheckOutputs(parse, options.Output);
            var config = options.Config(parse);
            config.Objective.Create(config.BatchSize); // validate before loading data
            string outDir = parse.GetValue(options.Output)!;
            var result = Trainer.Run(config, outDir, new ConsoleProgress(), parse.GetValue(options.Run.Resume),
                                     tensorboard: parse.GetValue(options.Run.Tensorboard));
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
        var attack = NamedOption.Optional<EvalAttack>("--attack", "Attack", "no attack");
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
            // the output is checked before the model and data are loaded
            if (parse.GetResult(output) is not null)
                OutputPolicy.CheckFile("out", parse.GetValue(output), FileKind.Json, parse.GetValue(model));
            var smoothing = parse.GetValue(smoothed)
                ? new EvalReport.Smoothing(parse.GetValue(sigma), parse.GetValue(n0), parse.GetValue(n),
                    parse.GetValue(alpha))
                : null;
            var report = EvalReport.Run(new EvalReport.Request(parse.GetValue(model)!, parse.GetValue(dataset)!,
                parse.GetValue(attack), new PgdConfig { Steps = parse.GetValue(steps),
                    AlphaFactor = parse.GetValue(alphaFactor) },
                parse.GetValue(attack) is null ? Array.Empty<double>()
                    : NumberList.Parse(parse.GetValue(eps)!, "--eps"),
                smoothing, parse.GetValue(count), parse.GetValue(seed), parse.GetValue(dataRoot),
                parse.GetValue(channelsLast)), Console.WriteLine);
            if (parse.GetValue(output) is string path) { JsonFiles.Write(path,
                report); Console.WriteLine($"wrote {path}"); }
            return 0;
        });
        return cmd;
    }
}
