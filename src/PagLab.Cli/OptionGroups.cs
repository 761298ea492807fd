using System.CommandLine;
using PagLab.IO;

namespace PagLab.Cli;

/// <summary>
/// What every resumable trainer (`train`, `autoencoder train`, `denoiser train`) takes about its data and its run
/// folder, declared once: one instance per command (System.CommandLine options belong to one command).
/// </summary>
public sealed class RunOptions
{
    public Option<int?> TrainSize { get; } = new("--train-size") { Description = "Use the first n training images" };
    public Option<int?> TestSize { get; } = new("--test-size") { Description = "Use the first n test images" };
    public Option<int> CheckpointEvery { get; } = new("--checkpoint-every")
        { Description = "Checkpoint every N batches (and every minute)", DefaultValueFactory = _ => 100 };
    public Option<int?> Threads { get; } = CommonOptions.Threads("Torch CPU threads");
    public Option<bool> Resume { get; } = new("--resume")
        { Description = "Continue the run in --out from its last checkpoint" };
    public Option<long> Seed { get; } = CommonOptions.Seed();
    public Option<string?> DataRoot { get; } = CommonOptions.DataRoot();
    public Option<string?> Tensorboard { get; } = CommonOptions.Tensorboard();

    readonly bool withTestSize;

    /// <param name="withTestSize">False for trainers that never look at the test split.</param>
    public RunOptions(bool withTestSize = true) => this.withTestSize = withTestSize;

    /// <summary>The run folder and the TensorBoard folder, checked by the output policy before any work.</summary>
    public void CheckOutputs(ParseResult parse, Option<string> output)
    {
        OutputPolicy.CheckFolder("out", parse.GetValue(output), FolderKind.Run);
        if (parse.GetResult(Tensorboard) is not null)
            OutputPolicy.CheckFolder("tensorboard", parse.GetValue(Tensorboard), FolderKind.TensorboardLog);
    }

    public void AddTo(Command command)
    {
        var options = new Option[]
            { TrainSize, TestSize, CheckpointEvery, Threads, Resume, Seed, DataRoot, Tensorboard };
        foreach (var option in options.Where(o => withTestSize || o != TestSize)) command.Options.Add(option);
    }
}

/// <summary>The PGD attack's budget and step options (`train --objective pgd`, `eval --attack`), declared once.
/// </summary>
public sealed class PgdOptions
{
    public Option<string> Eps { get; }
    public Option<int> Steps { get; }
    public Option<double> AlphaFactor { get; } = new("--alpha-factor")
    {
        Description = "PGD step size = factor * eps / steps",
        DefaultValueFactory = _ => new Attacks.PgdConfig().AlphaFactor,
    };

    public PgdOptions(string epsDescription, int steps)
    {
        Eps = new("--eps") { Description = epsDescription, DefaultValueFactory = _ => "1" };
        Steps = new("--steps") { Description = "PGD steps", DefaultValueFactory = _ => steps };
    }

    public void AddTo(Command command)
    {
        command.Options.Add(Eps);
        command.Options.Add(Steps);
        command.Options.Add(AlphaFactor);
    }
}
