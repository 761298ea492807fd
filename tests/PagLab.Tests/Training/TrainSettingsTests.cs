using System.Text.Json;
using System.Text.Json.Nodes;
using PagLab.Attacks;
using PagLab.Common;
using PagLab.Experiments;
using PagLab.IO;
using PagLab.Training;

namespace PagLab.Tests.Training;

/// <summary>
/// A sweep's `train` section is the TrainConfig template: whatever the CLI sets, a spec sets, with the
/// same defaults.
/// </summary>
public class TrainSettingsTests
{
    static SweepSpec Load(string yaml)
    {
        string path = Path.Combine(TestPaths.TempDir("spec"), "spec.yaml");
        const string grid = "datasets: [shapes]\nobjectives: [{name: standard}, {name: pgd, strengths: [0.5]}]\n";
        File.WriteAllText(path, grid + yaml);
        return SweepSpec.Load(path);
    }

    [Fact]
    public void SpecTrainSection_SetsScheduleWeightDecayAndSgd_LikeTheCli()
    {
        var spec = Load("train: {optimizer: sgd, momentum: 0.8, weightDecay: 5.0e-4, schedule: cosine, epochs: 4, " +
                        "learningRate: 0.1, threads: 1}\n");
        var job = spec.Jobs()[0];
        var config = new TrainConfig(spec.Train)
        {
            Dataset = job.Dataset, Seed = job.Seed, Objective = job.Config,
        };
        Assert.Equal((OptimizerKind.Sgd, 0.8, 5e-4, Schedule.Cosine, 4, 1),
                     (config.Optimizer, config.Momentum, config.WeightDecay, config.Schedule, config.Epochs,
                      config.Threads));
        Assert.Equal(0.1 * 0.5 * (1 + Math.Cos(Math.PI * 2 / 4)), config.LearningRateAt(2), 12);
    }

    [Fact]
    public void SpecDefaults_AreTheCliDefaults()
    {
        var spec = Load("");
        // as JSON, so that arrays compare by value
        Assert.Equal(JsonSerializer.Serialize(new TrainSettings()), JsonSerializer.Serialize(spec.Train));
        var pgd = spec.Jobs().Single(j => j.Objective.Kind == PagLab.Objectives.ObjectiveKind.Pgd);
        Assert.Equal(new PgdConfig().Steps, pgd.Config.Pgd.Steps);
        Assert.Equal(10, new PgdConfig().Steps);   // paglab train --steps defaults to 10
    }

    [Theory]
    [InlineData("train: {learningRate: -1}\n", "train.learningRate must be in (0, 1e12], got -1")]
    [InlineData("train: {schedule: weekly}\n", "train.schedule must be one of none, multistep, cosine, got 'weekly'")]
    [InlineData("train: {batchSize: 0}\n", "train.batchSize must be in 1..65536, got 0")]
    public void BadTrainValue_IsRefusedNamingTheSpecKey(string yaml, string expected)
    {
        var e = Assert.ThrowsAny<PagLabException>(() => Load(yaml));
        Assert.Contains(expected, e.Message);
        Assert.Contains("spec.yaml", e.Message);
    }

    [Fact]
    public void SweepFolderFromBeforeTheTemplate_IsStillTheSameSweep_AndAnotherSpecIsRefused()
    {
        var spec = Load("train: {epochs: 1}\n");
        string dir = TestPaths.TempDir("sweep");
        // spec.json as written before: the old train keys only, no local-PCA sizes
        var json = JsonNode.Parse(JsonSerializer.Serialize(spec, JsonFiles.Options))!.AsObject();
        string[] added =
        {
            "widthMultiplier", "momentum", "weightDecay", "schedule", "milestones", "gamma", "device",
            "checkpointEveryBatches", "checkpointEverySeconds",
        };
        foreach (var key in added)
            Assert.True(json["train"]!.AsObject().Remove(key), key);
        json["shared"]!.AsObject().Remove("localPcaNeighbours");
        json["shared"]!.AsObject().Remove("localPcaDimension");
        File.WriteAllText(Path.Combine(dir, SweepFolder.SpecFile), json.ToJsonString());

        new SweepFolder(dir).Prepare(spec);
        var other = spec with { Train = spec.Train with { Epochs = 2 } };
        var e = Assert.Throws<PagLabException>(() => new SweepFolder(dir).Prepare(other));
        Assert.Contains("holds a different sweep", e.Message);
    }
}
