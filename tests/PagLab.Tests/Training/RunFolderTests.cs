using System.Text.Json.Nodes;
using PagLab.Common;
using PagLab.Data;
using PagLab.Objectives;
using PagLab.Tests.Cli;
using PagLab.Training;
using static TorchSharp.torch;

namespace PagLab.Tests.Training;

/// <summary>A run's identity on resume, checkpoint positions, the loss bound, empty data, older run folders.</summary>
public class RunFolderTests
{
    static TrainConfig Tiny => new() { Dataset = "shapes", TrainSize = 200, TestSize = 50, BatchSize = 50, Seed = 2 };

    /// <summary>A finished tiny run made to look killed after its last checkpoint.</summary>
    static string Interrupted()
    {
        string dir = TestPaths.TempDir("run");
        Assert.Equal(RunStatus.Completed, Trainer.Run(Tiny, dir).Status);
        RunFiles.WriteInfo(dir, RunFiles.ReadInfo(dir)! with { Status = RunStatus.Running });
        File.Delete(Path.Combine(dir, "model.safetensors"));
        return dir;
    }

    [Fact]
    public void Resume_WithOtherOptions_IsRefusedInOneLineNamingTheKeys_ButCadenceAndDataRootMayChange()
    {
        string dir = TestPaths.TempDir("run");
        Trainer.Run(Tiny, dir);
        var other = Tiny with
            { BatchSize = 64, Objective = new ObjectiveConfig { Kind = ObjectiveKind.Gnorm, Lambda = 0.01 } };
        var e = Assert.Throws<PagLabException>(() => Trainer.Run(other, dir, resume: true));
        Assert.Contains("batchSize 50 -> 64", e.Message);
        Assert.Contains("objective.name standard -> gnorm", e.Message);
        Assert.Contains("objective.lambda 0 -> 0.01", e.Message);
        Assert.DoesNotContain("\n", e.Message);

        var same = Tiny with
        {
            CheckpointEveryBatches = 7, CheckpointEverySeconds = 5, DataRoot = TestPaths.TempDir("elsewhere"),
        };
        Assert.Equal("already completed", Trainer.Run(same, dir, resume: true).Message);
    }

    [Theory]
    [InlineData("""{ "epoch": 0, "batch": -7 }""")]
    [InlineData("""{ "epoch": 0, "batch": 100000 }""")]
    [InlineData("""{ "epoch": 50, "batch": 0 }""")]
    [InlineData("""{ "epoch": 1, "batch": 2 }""")]
    public void EditedCheckpointPosition_OutsideTheRunsShape_IsRefusedNamingTheFile(string position)
    {
        string dir = Interrupted();
        File.WriteAllText(Path.Combine(dir, "checkpoint", "position.json"), position);
        var e = Assert.Throws<DataFormatException>(() => Trainer.Run(Tiny, dir, resume: true));
        Assert.Contains(Path.Combine("checkpoint", "position.json"), e.Message);
        Assert.Contains("batches 0..4", e.Message);
    }

    [Fact]
    public void LossAboveTheBound_EndsTheRunAsDiverged()
    {
        string dir = TestPaths.TempDir("run");
        var config = Tiny with { Objective = new ObjectiveConfig { Kind = ObjectiveKind.Gnorm, Lambda = 1e11 } };
        var result = Trainer.Run(config, dir);
        Assert.Equal(RunStatus.Diverged, result.Status);
        Assert.Contains($"above the bound {TrainingLoop.LossBound:G}", result.Message);
        Assert.Equal(RunStatus.Diverged, RunFiles.ReadInfo(dir)!.Status);
        Assert.False(File.Exists(Path.Combine(dir, "model.safetensors")));
    }

    [Fact]
    public void EmptyTrainingSet_FailsInOneLine_AndLeavesNoCompletedRun()
    {
        string dir = TestPaths.TempDir("den");
        Directory.Delete(dir);
        using var empty = new InMemoryDataset("empty", new ImageShape(1, 28, 28), new[] { "a", "b" },
            new DataSplit(zeros(0, 1, 28, 28), zeros(0, dtype: ScalarType.Int64)),
            new DataSplit(zeros(2, 1, 28, 28), zeros(2, dtype: ScalarType.Int64)));
        var config = new DenoiserConfig { Dataset = "empty", Epochs = 1 };
        var e = Assert.Throws<PagLabException>(() => DenoiserTrainer.Run(config, dir, dataset: empty));
        Assert.Contains("training set is empty", e.Message);
        Assert.Null(RunFiles.ReadInfo(dir));

        var noImages = Tiny with { TrainSize = 0 };
        var size = Assert.Throws<PagLabException>(() => Trainer.Run(noImages, TestPaths.TempDir("run")));
        Assert.Equal("trainSize must be >= 1, got 0", size.Message);
    }

    [Fact]
    public void RunFolderOfFormat1_Resumes_UsingItsNamedSums_AndANewerFormatIsRefused()
    {
        string dir = Interrupted();
        string info = Path.Combine(dir, RunFiles.Info);
        var json = JsonNode.Parse(File.ReadAllText(info))!.AsObject();
        json.Remove("formatVersion");
        json.Remove("threads");
        File.WriteAllText(info, json.ToJsonString());
        // Format 1 wrote the running sums as fields; a cross-entropy sum of 1000 per image is unmistakable.
        File.WriteAllText(Path.Combine(dir, "checkpoint", "position.json"),
            """
            { "epoch": 0, "batch": 2, "lossSum": 100000, "crossEntropySum": 100000, "penaltySum": 0,
              "correct": 100, "seen": 100, "seconds": 1 }
            """);
        Assert.Equal(1, RunFiles.ReadInfo(dir)!.FormatVersion);

        var result = Trainer.Run(Tiny, dir, resume: true);
        Assert.Equal(RunStatus.Completed, result.Status);
        Assert.True(result.Metrics.Single().CrossEntropy >= 100000.0 / 200, $"{result.Metrics.Single().CrossEntropy}");
        Assert.Equal(RunFolder.CurrentFormat, RunFiles.ReadInfo(dir)!.FormatVersion);

        var newer = JsonNode.Parse(File.ReadAllText(info))!.AsObject();
        newer["formatVersion"] = 99;
        File.WriteAllText(info, newer.ToJsonString());
        var e = Assert.Throws<DataFormatException>(() => Trainer.Run(Tiny, dir, resume: true));
        Assert.Contains("run format 99 is newer", e.Message);
    }

    [Theory]
    [InlineData("train", "--lr", "0", "--lr must be in (0, 1e12], got 0")]
    [InlineData("autoencoder train", "--batch-size", "0", "--batch-size must be in 1..65536, got 0")]
    [InlineData("denoiser train", "--checkpoint-every", "0", "--checkpoint-every must be >= 1, got 0")]
    public void Cli_ShowsTheFlag_WhereTheLibraryNamesTheProperty(string command, string option, string value,
                                                                  string expected)
    {
        string dir = Path.Combine(TestPaths.TempDir("run"), "out");
        var args = command.Split(' ').Concat(new[] { "--dataset", "shapes", option, value, "--out", dir }).ToArray();
        var r = CliProcess.Run(args);
        Assert.Equal(2, r.ExitCode);
        Assert.Equal($"error: {expected}", r.Stderr.Trim());
    }
}

/// <summary>Tests that set torch's process-wide thread count run one at a time.</summary>
[CollectionDefinition(nameof(TorchThreadCount))]
public class TorchThreadCount;

[Collection(nameof(TorchThreadCount))]
public class RunThreadsTests
{
    [Fact]
    public void ARunsThreadCount_AppliesWhileItTrains_AndIsRecorded_ButDoesNotOutliveIt()
    {
        int before = get_num_threads();
        int threads = before == 1 ? 2 : 1;
        string dir = TestPaths.TempDir("threads");
        var config = new TrainConfig
            { Dataset = "shapes", TrainSize = 100, TestSize = 20, BatchSize = 50, Seed = 2, Threads = threads };
        Assert.Equal(RunStatus.Completed, Trainer.Run(config, dir).Status);
        Assert.Equal(threads, RunFiles.ReadInfo(dir)!.Threads);
        Assert.Equal(before, get_num_threads());
    }
}
