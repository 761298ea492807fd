using PagLab.Models;
using PagLab.Objectives;
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
    public void EachObjective_TrainsSmallCnnOnShapes_AboveAStatedAccuracy(string objective, double lambda,
        double strength, double minAccuracy)
    {
        var config = new TrainConfig
        {
            Dataset = "shapes", Arch = Architecture.SmallCnn, Epochs = 3, TrainSize = 3000, TestSize = 500, Seed = 1,
                LearningRate = 3e-3,
            Objective = new ObjectiveConfig
            {
                Kind = PagLab.Common.Vocabulary.Parse<ObjectiveKind>(objective, "name"), Lambda = lambda,
                Sigma = objective == "pgd" ? 0 : strength,
                Epsilons = new[] { strength > 0 ? strength : 1.0 }, Pgd = new() { Steps = 3 },
            },
        };
        var result = Trainer.Run(config, TestPaths.TempDir("run"));
        Assert.Equal(RunStatus.Completed, result.Status);
        Assert.True(result.Metrics[^1].TestAccuracy >= minAccuracy,
            $"{objective}: test accuracy {result.Metrics[^1].TestAccuracy}");
    }

    [Fact]
    public void AbsurdLearningRate_StopsTheRunAsDiverged_AndKeepsTheCheckpoint()
    {
        string dir = TestPaths.TempDir("run");
        var config = new TrainConfig
        {
            Dataset = "shapes", Epochs = 3, TrainSize = 1000, TestSize = 100, Optimizer = OptimizerKind.Sgd,
            LearningRate = 1e10, Momentum = 0.9,
            CheckpointEveryBatches = 1,
        };
        var result = Trainer.Run(config, dir);
        Assert.Equal(RunStatus.Diverged, result.Status);
        Assert.Equal(RunStatus.Diverged, RunFiles.ReadInfo(dir)!.Status);
        Assert.Contains("diverged", result.Message);
        Assert.NotNull(Checkpoint.Find(dir));
    }

    [Fact]
    public void ExistingRunFolder_IsNeverOverwrittenWithoutResume()
    {
        string dir = TestPaths.TempDir("run");
        var config = new TrainConfig { Dataset = "shapes", TrainSize = 200, TestSize = 50 };
        Trainer.Run(config, dir);
        var e = Assert.Throws<PagLab.Common.PagLabException>(() => Trainer.Run(config, dir));
        Assert.Contains("pass `resume` to continue it", e.Message);
    }
}
