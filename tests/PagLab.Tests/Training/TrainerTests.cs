using System.Diagnostics;
using PagLab.Objectives;
using PagLab.Tests.Cli;
using PagLab.Training;

namespace PagLab.Tests.Training;

public class TrainerTests
{
    [Theory]
    [InlineData("standard", 0.0, 0.0, 0.85)]
    [InlineData("gnorm", 0.01, 0.0, 0.80)]
    [InlineData("smooth", 0.1, 0.1, 0.80)]
    [InlineData("randsmooth", 0.0, 0.2, 0.80)]
    [InlineData("pgd", 0.0, 0.5, 0.60)]
    public void EachObjective_TrainsSmallCnnOnShapes_AboveAStatedAccuracy(string objective, double lambda, double strength, double minAccuracy)
    {
        var config = new TrainConfig
        {
            Dataset = "shapes", Arch = "smallcnn", Epochs = 3, TrainSize = 3000, TestSize = 500, Seed = 1, LearningRate = 3e-3,
            Objective = new ObjectiveConfig
            {
                Name = objective, Lambda = lambda, Sigma = objective == "pgd" ? 0 : strength,
                Epsilons = new[] { strength > 0 ? strength : 1.0 }, Pgd = new() { Steps = 3 },
            },
        };
        var result = Trainer.Run(config, TestPaths.TempDir("run"));
        Assert.Equal(RunStatus.Completed, result.Status);
        Assert.True(result.Metrics[^1].TestAccuracy >= minAccuracy, $"{objective}: test accuracy {result.Metrics[^1].TestAccuracy}");
    }

    [Fact]
    public void AbsurdLearningRate_StopsTheRunAsDiverged_AndKeepsTheCheckpoint()
    {
        string dir = TestPaths.TempDir("run");
        var config = new TrainConfig
        {
            Dataset = "shapes", Epochs = 3, TrainSize = 1000, TestSize = 100, Optimizer = "sgd", LearningRate = 1e10, Momentum = 0.9,
            CheckpointEveryBatches = 1,
        };
        var result = Trainer.Run(config, dir);
        Assert.Equal(RunStatus.Diverged, result.Status);
        Assert.Equal(RunStatus.Diverged, RunFiles.ReadInfo(dir)!.Status);
        Assert.Contains("diverged", result.Message);
        Assert.NotNull(Checkpoint.Find(dir));
    }

    [Fact]
    public void RunKilledMidEpoch_ResumesToBitIdenticalWeights()
    {
        string[] Args(string dir, params string[] extra) => new[]
        {
            "train", "--dataset", "shapes", "--objective", "smooth", "--lambda", "0.1", "--sigma", "0.1", "--epochs", "2",
            "--train-size", "3000", "--test-size", "200", "--batch-size", "64", "--checkpoint-every", "5", "--seed", "7", "--threads", "1", "--out", dir,
        }.Concat(extra).ToArray();

        string reference = TestPaths.TempDir("ref"), killed = TestPaths.TempDir("killed");
        Directory.Delete(reference); Directory.Delete(killed);
        var full = CliProcess.Run(Args(reference));
        Assert.True(full.ExitCode == 0, full.Stderr);

        // Start the same run, SIGKILL it once it has checkpointed mid-epoch, then resume.
        using (var process = Process.Start(CliProcess.StartInfo(Args(killed)))!)
        {
            var position = Path.Combine(killed, "checkpoint", "position.json");
            var clock = Stopwatch.StartNew();
            while (!File.Exists(position) && clock.Elapsed < TimeSpan.FromMinutes(2) && !process.HasExited) Thread.Sleep(20);
            Thread.Sleep(150);
            Assert.False(process.HasExited, "the run finished before it could be killed");
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
        Assert.False(File.Exists(Path.Combine(killed, "model.safetensors")));
        var resumed = CliProcess.Run(Args(killed, "--resume"));
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        Assert.Contains("resuming", resumed.Stdout);
        Assert.Equal(File.ReadAllBytes(Path.Combine(reference, "model.safetensors")), File.ReadAllBytes(Path.Combine(killed, "model.safetensors")));
        Assert.Equal(2, RunFiles.ReadMetrics(killed).Count);
    }

    [Fact]
    public void ExistingRunFolder_IsNeverOverwrittenWithoutResume()
    {
        string dir = TestPaths.TempDir("run");
        var config = new TrainConfig { Dataset = "shapes", TrainSize = 200, TestSize = 50 };
        Trainer.Run(config, dir);
        var e = Assert.Throws<PagLab.Common.PagLabException>(() => Trainer.Run(config, dir));
        Assert.Contains("--resume", e.Message);
    }
}
