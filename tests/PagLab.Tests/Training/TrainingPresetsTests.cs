using System.Text.Json;
using System.Text.Json.Nodes;
using PagLab.Models;
using PagLab.Attacks;
using PagLab.Common;
using PagLab.Experiments;
using PagLab.IO;
using PagLab.Objectives;
using PagLab.Tests.Cli;
using PagLab.Training;

namespace PagLab.Tests.Training;

/// <summary>
/// `preset: authors` reproduces the authors' settings (tml-tuebingen/pags run_experiments.py and the files it runs);
/// one case per row of the table in docs/training.md.
/// </summary>
public class TrainingPresetsTests
{
    static TrainConfig Preset(string dataset, string objective = "standard") =>
        TrainingPresets.Apply(new TrainConfig
        {
            Dataset = dataset, Preset = TrainingPresets.Authors,
            Objective = new ObjectiveConfig { Kind = Vocabulary.Parse<ObjectiveKind>(objective, "name") },
        }, _ => false);

    static string Value(TrainConfig config, string key)
    {
        JsonNode? node = JsonSerializer.SerializeToNode(config, JsonFiles.Options);
        foreach (var part in key.Split('.')) node = node?[part];
        return node?.ToJsonString() ?? "null";
    }

    [Theory]
    [InlineData("cifar10", "arch", "\"resnet18\"")]                 // run_experiments.py: model-arch resnet18
    [InlineData("cifar10", "epochs", "200")]                        // run_experiments.py: num-epochs 200
    [InlineData("cifar10", "batchSize", "128")]                     // train_models.py: --batch-size default
    [InlineData("cifar10", "optimizer", "\"sgd\"")]                 // train_models.py: --optimizer default
    [InlineData("cifar10", "learningRate", "0.025")]                // run_experiments.py: lr 0.025
    [InlineData("cifar10", "momentum", "0.9")]                      // train_models.py: --momentum default
    [InlineData("cifar10", "weightDecay", "0.0005")]                // train_models.py: --weight-decay default
    [InlineData("cifar10", "schedule", "\"multistep\"")]            // train_models.py: MultiStepLR
    [InlineData("cifar10", "milestones", "[0.75,0.875]")]           // train_models.py: milestone_fracs
    [InlineData("cifar10", "gamma", "0.1")]                         // train_models.py: gamma 0.1
    [InlineData("cifar10", "augment", "\"crop-flip\"")]             // utils/datasets.py: RandomCrop + flip
    [InlineData("cifar10", "augmentPadding", "4")]                  // utils/datasets.py: padding=4
    [InlineData("cifar10", "objective.lambdaConvention", "\"authors\"")] // regularized_loss.py: 1e5 * ||grad||^2 / B
    [InlineData("imagenet64", "epochs", "90")]                      // train_robust_imagenet.py: range(90)
    [InlineData("imagenet64", "batchSize", "4096")]                 // train_robust_imagenet.py: batch_size=4096
    [InlineData("imagenet64", "learningRate", "0.1")]               // train_robust_imagenet.py: lr=1e-1
    [InlineData("imagenet64", "weightDecay", "0.0001")]             // train_robust_imagenet.py: weight_decay=1e-4
    [InlineData("imagenet64", "milestones", "[30,60]")]             // train_robust_imagenet.py: StepLR(30, 0.1)
    [InlineData("imagenet64", "augmentPadding", "8")]               // train_robust_imagenet.py: padding=8
    [InlineData("mnist-distractor", "epochs", "9")]                 // MNISTDistractorPGDTraining.ipynb: range(9)
    [InlineData("mnist-distractor", "learningRate", "0.1")]         // ipynb: optim.SGD(lr=1e-1)
    [InlineData("mnist-distractor", "momentum", "0")]               // ipynb: plain SGD
    [InlineData("mnist-distractor", "weightDecay", "0")]            // ipynb: plain SGD
    [InlineData("mnist-distractor", "milestones", "[3]")]           // ipynb: MultiStepLR(milestones=[3])
    [InlineData("mnist-distractor", "augment", "\"none\"")]         // ipynb: a tensor dataset, no transform
    public void AuthorsPreset_SetsTheAuthorsValue(string dataset, string key, string expected) =>
        Assert.Equal(expected, Value(Preset(dataset), key));

    [Fact]
    public void AuthorsPreset_Cifar10_ScalesTheLearningRateDown_AboveGnorm001AndSmooth10()
    {
        // run_experiments.py: lr = 0.025 / (reg_constant / 0.01) above 0.01 (gnorm), / (c / 10) above 10 (smooth)
        var gnorm = Preset("cifar10", "gnorm") with
            { Objective = new ObjectiveConfig { Kind = ObjectiveKind.Gnorm, Lambda = 1 } };
        var smooth = Preset("cifar10", "smooth") with
            { Objective = new ObjectiveConfig { Kind = ObjectiveKind.Smooth, Lambda = 100 } };
        Assert.Equal(0.025 / (1 / 0.01), gnorm.LearningRateAt(0), 12);
        Assert.Equal(0.025 / (100 / 10.0), smooth.LearningRateAt(0), 12);
        Assert.Null(Preset("cifar10", "randsmooth").LrScaleReference);
    }

    [Theory]
    [InlineData("cifar10", 10, 2.0)]            // regularized_loss.py pgd_l2_: step 2 eps / num_iter, num_iter 10
    [InlineData("imagenet64", 3, 2.0)]          // train_robust_imagenet.py pgd_l2: num_iter 3
    [InlineData("mnist-distractor", 10, 2.5)]   // MNISTDistractorPGDTraining.ipynb pgd_l2: 2.5 eps / num_iter
    public void AuthorsPreset_TrainsWithTheAuthorsPgdVariant(string dataset, int steps, double alphaFactor)
    {
        var pgd = Preset(dataset, "pgd").Objective.Pgd;
        Assert.Equal(PgdConfig.Authors with { Steps = steps, AlphaFactor = alphaFactor }, pgd);
        Assert.Equal(PgdNorm.WholeBatch, pgd.Normalisation);
    }

    [Fact]
    public void AuthorsPreset_KeepsWhatTheCallerSet_AndRefusesADatasetWithoutRecipe()
    {
        var config = TrainingPresets.Apply(new TrainConfig
        {
            Dataset = "cifar10", Preset = TrainingPresets.Authors, Epochs = 3, Arch = Architecture.SmallCnn,
        }, key => key is "epochs" or "arch");
        Assert.Equal((3, Architecture.SmallCnn, 0.025), (config.Epochs, config.Arch, config.LearningRate));
        var e = Assert.Throws<PagLab.Common.PagLabException>(() =>
            TrainingPresets.Apply(new TrainConfig { Dataset = "shapes", Preset = TrainingPresets.Authors },
                                  _ => false));
        Assert.Contains("no recipe for dataset 'shapes'", e.Message);
    }

    [Fact]
    public void SweepTrainPreset_AppliesPerDataset_AndKeysSetInTheSpecWin()
    {
        string path = Path.Combine(TestPaths.TempDir("spec"), "spec.yaml");
        File.WriteAllText(path, "datasets: [cifar10, mnist-distractor]\nobjectives: [{name: pgd, strengths: [1]}]\n"
                                + "train: {preset: authors, epochs: 2, trainSize: 64}\n");
        var spec = SweepSpec.Load(path);
        var cifar = SweepRunner.JobConfig(spec, spec.Jobs()[0]);
        var mnist = SweepRunner.JobConfig(spec, spec.Jobs()[1]);
        Assert.Equal(("cifar10", 2, 64, 0.025, PagLab.Data.AugmentationKind.CropFlip),
                     (cifar.Dataset, cifar.Epochs, cifar.TrainSize, cifar.LearningRate, cifar.Augment));
        Assert.Equal(("mnist-distractor", 2, 0.1, PagLab.Data.AugmentationKind.None, 2.5),
                     (mnist.Dataset, mnist.Epochs, mnist.LearningRate, mnist.Augment, mnist.Objective.Pgd.AlphaFactor));

        File.WriteAllText(path, "datasets: [shapes]\nobjectives: [{name: standard}]\ntrain: {preset: authors}\n");
        var e = Assert.Throws<PagLab.Common.PagLabException>(() => SweepSpec.Load(path));
        Assert.Contains("train.preset authors has no recipe for dataset 'shapes'", e.Message);
    }

    [Fact]
    public void ExampleAuthorsSweep_TrainsEachDatasetWithItsRecipe()
    {
        var spec = SweepSpec.Load(Path.Combine(TestPaths.RepoRoot, "examples", "authors-preset-sweep.yaml"));
        var configs = spec.Jobs().Select(job => SweepRunner.JobConfig(spec, job)).ToList();
        Assert.All(configs.Where(c => c.Dataset == "cifar10"),
                   c => Assert.Equal((200, PagLab.Data.AugmentationKind.CropFlip, PagLab.Models.Architecture.ResNet18),
                       (c.Epochs, c.Augment, c.Arch)));
        Assert.All(configs.Where(c => c.Dataset == "mnist-distractor"),
                   c => Assert.Equal((9, PagLab.Data.AugmentationKind.None, 0.1),
                       (c.Epochs, c.Augment, c.LearningRate)));
        var gnorm = configs.First(c =>
            c is { Dataset: "cifar10", Objective: { Kind: ObjectiveKind.Gnorm, Lambda: 1 } });
        Assert.Equal((PagLab.Objectives.LambdaConvention.Authors, 0.025 * 0.01), (gnorm.Objective.LambdaConvention,
            gnorm.LearningRateAt(0)));
    }

    [Fact]
    public void TrainCli_PresetFillsWhatTheFlagsLeaveOut()
    {
        string root = TestPaths.RequireDataRoot();
        string dir = Path.Combine(TestPaths.TempDir("run"), "r");
        var r = CliProcess.Run("train", "--dataset", "mnist-distractor", "--preset", "authors", "--arch", "smallcnn",
            "--epochs", "1", "--train-size", "64", "--test-size", "32", "--data-root", root, "--out", dir);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var config = RunFiles.ReadInfo(dir)!.Config;
        Assert.Equal(("smallcnn", 1, 0.1, 0.0, "authors"),
                     (config.GetProperty("arch").GetString(), config.GetProperty("epochs").GetInt32(),
                      config.GetProperty("learningRate").GetDouble(), config.GetProperty("momentum").GetDouble(),
                      config.GetProperty("preset").GetString()));
    }
}
