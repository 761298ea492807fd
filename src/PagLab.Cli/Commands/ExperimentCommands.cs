using System.CommandLine;
using System.Diagnostics;
using PagLab.Common;
using PagLab.Metrics;
using PagLab.Data;
using PagLab.Experiments;
using PagLab.IO;
using PagLab.Models;
using PagLab.Reporting;
using Spectre.Console;

namespace PagLab.Cli.Commands;

/// <summary>paglab measure distractor | sweep run/run-one/status/slurm | results | report | demo</summary>
public sealed class ExperimentCommands : ICommandGroup
{
    public void Register(RootCommand root)
    {
        CommandTree.Group(root, "measure", "Measurements on trained models").Subcommands.Add(Distractor());
        var sweep = new Command("sweep",
            "Resumable sweeps over datasets x objectives x strengths x seeds, on one machine or a Slurm cluster");
        sweep.Subcommands.Add(Run());
        sweep.Subcommands.Add(RunOne());
        sweep.Subcommands.Add(Status());
        sweep.Subcommands.Add(Slurm());
        sweep.Subcommands.Add(TryLock());
        root.Subcommands.Add(sweep);
        root.Subcommands.Add(Results());
        root.Subcommands.Add(Report());
        root.Subcommands.Add(Demo());
    }


    static Command Distractor()
    {
        var model = new Option<string>("--model") { Description = "Model folder(s), comma-separated", Required = true };
        var dataset = new Option<string>("--dataset") { Description = "A *-distractor dataset",
            DefaultValueFactory = _ => Datasets.Name(DatasetName.MnistDistractor) };
        var defaults = new MeasureSettings();   // the defaults of a sweep's measure section
        var sigmas = new Option<string>("--sigmas") { Description = "Noise levels, e.g. 0,logspace(-2,1,30)",
            DefaultValueFactory = _ => defaults.DistractorSigmas.Text };
        var count = new Option<int>("--count")
            { Description = "Test images", DefaultValueFactory = _ => defaults.DistractorCount };
        var outputs = new Option<string>("--outputs")
            { Description = "softmax (the paper's f, default) | logits", DefaultValueFactory = _ => "softmax" };
        var norm = new Option<string>("--norm") { Description = "l1 (the authors' plots, default) | l2",
            DefaultValueFactory = _ => "l1" };
        var output = CommonOptions.Out(description: "JSON report (CSV and PNG beside it)");
        var seed = CommonOptions.Seed(); var dataRoot = CommonOptions.DataRoot();
        var channelsLast = CommonOptions.ChannelsLast("the models");
        var cmd = new Command("distractor",
            "Relative noise robustness: signal-noise over distractor-noise output change (PAGs Figure 5)")
            { model, dataset, sigmas, count, outputs, norm, output, seed, dataRoot, channelsLast };
        cmd.SetAction(parse =>
        {
            var models = parse.GetValue(model)!.Split(',',
                StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            OutputPolicy.CheckFiles("out", DistractorStudy.Files(parse.GetValue(output)!), models);
            var grid = SigmaGrid.Parse(parse.GetValue(sigmas)!);
            var measure = PagLab.Manifold.OutputMeasure.FromOptions(parse.GetValue(outputs)!, parse.GetValue(norm)!);
            int n = parse.GetValue(count);
            Require.That(n >= 1, "--count must be >= 1");
            var data = Datasets.Load(parse.GetValue(dataset)!,
                new DataOptions(parse.GetValue(dataRoot), parse.GetValue(seed), TestSize: n));
            string path = parse.GetValue(output)!;
            string figure = DistractorStudy.Run(models, data, n, grid, parse.GetValue(seed), measure, path, report =>
                Console.WriteLine($"{report.Model}: clean accuracy {report.CleanAccuracy.Text("F4")}, relative noise "
                    + $"robustness over sigma ({measure.Name}, signal / distractor change; > 1 = more robust on the "
                    + $"distractor) {report.OverSigmas.Text("G4")}"), parse.GetValue(channelsLast));
            Console.WriteLine($"wrote {path} and {figure}");
            return 0;
        });
        return cmd;
    }

    static Option<bool> AllowLarge() => new("--allow-large") { Description =
        $"Accept a sweep of more than {SweepSpec.MaxJobs} jobs" };

    static Argument<string> SpecArgument() => new("spec") { Description =
        "Sweep spec (JSON; see docs/experiments.md)" };

    static Option<int> Workers(string description, int byDefault = 1)
    {
        var option = new Option<int>("--workers") { Description = description, DefaultValueFactory = _ => byDefault };
        option.Validators.Add(result =>
        {
            // the token, not the value, which throws when it does not parse (the parser reports that itself)
            if (result.Tokens.Count == 1 && int.TryParse(result.Tokens[0].Value, out int n) && n is < 1 or > 64)
                result.AddError($"--workers must be in [1, 64], got {n}");
        });
        return option;
    }

    static Command Run()
    {
        var spec = SpecArgument();
        var output = CommonOptions.Out(description: "Sweep folder");
        var workers = Workers("Worker processes on this machine");
        var threads = CommonOptions.Threads("Torch threads per worker (default: cores / workers)");
        var allowLarge = AllowLarge();
        var tensorboard = CommonOptions.Tensorboard("each job's training (one sub-folder per job id)");
        var cmd = new Command("run", "Run every job not yet done (completed jobs are never rerun; partial ones resume)")
            { spec, output, workers, threads, allowLarge, tensorboard };
        cmd.SetAction(parse =>
        {
            CheckSweepOutputs(parse, output, tensorboard);
            var s = SweepSpec.Load(parse.GetValue(spec)!, parse.GetValue(allowLarge));
            var sweep = new SweepFolder(parse.GetValue(output)!);
            int n = parse.GetValue(workers);
            var progress = new ConsoleProgress(n == 1 ? null : TimeSpan.FromSeconds(15));
            int threadCount = parse.GetValue(threads) ?? LocalWorkers.DefaultThreads(n);
            LocalWorkers.Run(s, parse.GetValue(spec)!, sweep, n, threadCount, progress, parse.GetValue(tensorboard));
            return Finish(s, sweep);
        });
        return cmd;
    }

    /// <summary>The sweep folder and the TensorBoard folder, checked by the output policy before any work.</summary>
    static void CheckSweepOutputs(ParseResult parse, Option<string> output, Option<string?>? tensorboard)
    {
        OutputPolicy.CheckFolder("out", parse.GetValue(output), FolderKind.Sweep);
        if (tensorboard is not null && parse.GetResult(tensorboard) is not null)
            OutputPolicy.CheckFolder("tensorboard", parse.GetValue(tensorboard), FolderKind.TensorboardLog);
    }

    /// <summary>The summary line; exit 0 only when every job is done, else 4 and one line naming those that are
    /// not.</summary>
    static int Finish(SweepSpec spec, SweepFolder sweep)
    {
        Console.WriteLine(LocalWorkers.Summary(spec, sweep));
        var unfinished = SweepRunner.Unfinished(spec, sweep);
        if (unfinished.Count == 0) return 0;
        Console.Error.WriteLine($"error: {SweepRunner.DescribeUnfinished(unfinished)}");
        return 4;
    }

    static Command RunOne()
    {
        var spec = SpecArgument();
        var output = CommonOptions.Out(description: "Sweep folder");
        var index = new Option<int>("--index") { Description = "Job index (the Slurm array task id)", Required = true };
        var threads = CommonOptions.Threads("Torch threads");
        var tensorboard = CommonOptions.Tensorboard("the job's training (in a sub-folder named by its id)");
        var cmd = new Command("run-one", "Run job --index of a sweep (what each Slurm array task does)")
            { spec, output, index, threads, tensorboard };
        cmd.SetAction(parse =>
        {
            CheckSweepOutputs(parse, output, tensorboard);
            var s = SweepSpec.Load(parse.GetValue(spec)!, allowLarge: true); // `sweep slurm` checked the size
            if (parse.GetValue(threads) is int t) TorchSharp.torch.set_num_threads(t);
            var state = SweepRunner.RunOne(s, new SweepFolder(parse.GetValue(output)!), parse.GetValue(index),
                new ConsoleProgress(), parse.GetValue(tensorboard));
            Console.WriteLine($"job {parse.GetValue(index)}: {Vocabulary.Name(state)}");
            return state == JobState.Failed ? 4 : 0;
        });
        return cmd;
    }

    static Command Status()
    {
        var dir = new Argument<string>("dir") { Description = "Sweep folder" };
        var cmd = new Command("status", "A table of the sweep's jobs and their states") { dir };
        cmd.SetAction(parse =>
        {
            var sweep = SweepFolder.Open(parse.GetValue(dir)!);
            var spec = sweep.ReadSpec();
            var table = new Table().AddColumns("#", "dataset", "objective", "strength", "seed", "state", "test acc.");
            foreach (var (job, state) in SweepRunner.Status(spec, sweep))
            {
                string result = sweep.Job(job).Result;
                string acc = File.Exists(result) ? Markup.Escape(JobResult.Read(result).TestAccuracy.Text("F4")) : "";
                // an imported model has no objective, strength or seed of the sweep's
                bool trained = job.Imported is null;
                string objective = job.Imported is { } m ? $"{job.ObjectiveName} ({m.Name})" : job.ObjectiveName;
                table.AddRow(job.Index.ToString(), job.Dataset, Markup.Escape(objective),
                    trained ? job.Strength.ToString("G4") : "", trained ? job.Seed.ToString() : "",
                    Vocabulary.Name(state), acc);
            }
            AnsiConsole.Write(table);
            Console.WriteLine(LocalWorkers.Summary(spec, sweep));
            foreach (var line in LocalWorkers.Stages(spec, sweep)) Console.WriteLine(line);
            return 0;
        });
        return cmd;
    }

    static Command Slurm()
    {
        var spec = SpecArgument();
        var output = CommonOptions.Out(description: "Sweep folder");
        var script = new Option<string?>("--script") { Description =
            "Where to write the sbatch script (default DIR/sweep.sbatch)" };
        var cpus = new Option<int>("--cpus-per-task") { Description = "CPUs per array task",
            DefaultValueFactory = _ => 2 };
        var partition = new Option<string?>("--partition") { Description = "Slurm partition" };
        var time = new Option<string?>("--time") { Description = "Slurm time limit per task, e.g. 04:00:00" };
        var allowLarge = AllowLarge();
        var cmd = new Command("slurm", "Write a Slurm job-array script (one task per job, --requeue)") { spec, output,
            script, cpus, partition, time, allowLarge };
        cmd.SetAction(parse =>
        {
            CheckSweepOutputs(parse, output, null);
            if (parse.GetResult(script) is not null)
                OutputPolicy.CheckFile("script", parse.GetValue(script), FileKind.Script, parse.GetValue(spec));
            var s = SweepSpec.Load(parse.GetValue(spec)!, parse.GetValue(allowLarge));
            var sweep = new SweepFolder(parse.GetValue(output)!);
            string path = SlurmScript.Write(s, parse.GetValue(spec)!, sweep, parse.GetValue(script),
                parse.GetValue(cpus), parse.GetValue(partition), parse.GetValue(time));
            Console.WriteLine($"wrote {path} ({s.Jobs().Count} array tasks); submit with: sbatch {path}");
            return 0;
        });
        return cmd;
    }

    /// <summary>Hidden: one racer of the lock tests (<see cref="LockRace"/>).</summary>
    static Command TryLock()
    {
        var locks = new Argument<string[]>("locks") { Description = "Lock files, one per round" };
        var go = new Option<string>("--go") { Description =
            "File that will hold the Unix time in ms of the first round", Required = true };
        var interval = new Option<int>("--interval") { Description = "ms between rounds",
            DefaultValueFactory = _ => 100 };
        var done = new Option<string?>("--done") { Description =
            "Hold the locks won until this file exists (at most 60 s), so no racer, however late, finds them dead" };
        var cmd = new Command("try-lock", "Race for job locks (a test aid)") { locks, go, interval, done };
        cmd.Hidden = true;
        cmd.SetAction(parse =>
        {
            LockRace.Run(parse.GetValue(locks)!, parse.GetValue(go)!, parse.GetValue(interval), parse.GetValue(done),
                line => { Console.WriteLine(line); Console.Out.Flush(); });
            return 0;
        });
        return cmd;
    }

    static Command Results()
    {
        var dir = new Argument<string>("dir") { Description = "Sweep folder" };
        var output = CommonOptions.Out(description: "CSV file");
        var (tolerance, factor) = RegimeOptions();
        var cmd = new Command("results", "One CSV row per finished job, with its regime")
            { dir, output, tolerance, factor };
        cmd.SetAction(parse =>
        {
            OutputPolicy.CheckFile("out", parse.GetValue(output), FileKind.Csv, parse.GetValue(dir));
            var sweep = SweepFolder.Open(parse.GetValue(dir)!);
            int rows = SweepResults.WriteCsv(sweep, sweep.ReadSpec(), parse.GetValue(output)!,
                new RegimeSettings(parse.GetValue(tolerance), parse.GetValue(factor)));
            Console.WriteLine($"wrote {rows} rows to {parse.GetValue(output)}");
            return 0;
        });
        return cmd;
    }

    /// <summary>The regime rule's delta and kappa (unset: the spec's `regimes` section, docs/experiments.md).</summary>
    static (Option<double?> Tolerance, Option<double?> Factor) RegimeOptions() =>
        (new Option<double?>("--accuracy-tolerance")
            { Description = "delta: the largest accuracy drop against the standard model still accurate (0.02)" },
         new Option<double?>("--on-manifold-factor")
            { Description = "kappa: on-manifold sensitivity below kappa x the standard's is excessive (0.5)" });

    static Command Report()
    {
        var dir = new Argument<string>("dir") { Description = "Sweep folder" };
        var output = CommonOptions.Out(description: "HTML file");
        var (tolerance, factor) = RegimeOptions();
        var cmd = new Command("report",
            "One self-contained HTML report with the paper's figures, the results table and findings")
            { dir, output, tolerance, factor };
        cmd.SetAction(parse =>
        {
            string report = parse.GetValue(output)!;
            OutputPolicy.CheckFiles("out", ReportBuilder.Files(report), parse.GetValue(dir));
            OutputPolicy.CheckFolder("out", ReportBuilder.FiguresFolder(report), FolderKind.Figures);
            var (path, model) = ReportBuilder.Write(SweepFolder.Open(parse.GetValue(dir)!), parse.GetValue(output)!,
                new RegimeSettings(parse.GetValue(tolerance), parse.GetValue(factor)));
            foreach (var line in ReportSummary.ConsoleLines(model)) Console.WriteLine(line);
            Console.WriteLine($"report: {Path.GetFullPath(path)}");
            return 0;
        });
        return cmd;
    }

    static Command Demo()
    {
        var output = new Option<string>("--out") { Description = "Demo folder",
            DefaultValueFactory = _ => "paglab-demo" };
        var full = new Option<bool>("--full") { Description =
            "The paper-scale sweep on the datasets present (hours on a CPU)" };
        // Two single-threaded workers beat one two-threaded process on the demo's small batches (docs/experiments.md).
        var workers = Workers("Worker processes (default 2 on a machine with at least 2 cores)",
            Math.Min(2, Environment.ProcessorCount));
        var dataRoot = CommonOptions.DataRoot();
        var lpipsNet = NamedOption.Optional<LpipsNet>("--lpips-net", "LPIPS network",
            "alex if its weights are found, else squeeze");
        var cmd = new Command("demo",
            "The whole study, small: train, measure, report (embedded shapes-distractor data, no download)")
            { output, full, workers, dataRoot, lpipsNet };
        cmd.SetAction(parse =>
        {
            OutputPolicy.CheckFolder("out", parse.GetValue(output), FolderKind.Sweep);
            int n = parse.GetValue(workers);
            var outcome = PagLab.Experiments.Demo.Run(new SweepFolder(parse.GetValue(output)!), parse.GetValue(full), n,
                parse.GetValue(dataRoot), new ConsoleProgress(TimeSpan.FromSeconds(n == 1 ? 20 : 15)),
                parse.GetValue(lpipsNet));
            string notDone = outcome.Unfinished != 0 ? $" with {outcome.Unfinished} job(s) not done" : "";
            foreach (var line in outcome.Summary) Console.WriteLine(line);
            Console.WriteLine($"demo finished in {outcome.Elapsed:mm\\:ss}{notDone}");
            Console.WriteLine($"report: {Path.GetFullPath(outcome.Report)}");
            return outcome.Unfinished == 0 ? 0 : 4;
        });
        return cmd;
    }
}
