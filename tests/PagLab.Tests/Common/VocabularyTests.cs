using System.Text.Json;
using PagLab.Attacks;
using PagLab.Common;
using PagLab.Data;
using PagLab.Experiments;
using PagLab.IO;
using PagLab.Manifold;
using PagLab.Models;
using PagLab.Objectives;
using PagLab.Training;

namespace PagLab.Tests.Common;

/// <summary>Every vocabulary parses its names once at the edge and keeps the spelling files had as strings.</summary>
public class VocabularyTests
{
    // The names as files, specs and flags spelled them before they were enums.
    public static TheoryData<Type, string[]> Tables => new()
    {
        { typeof(ObjectiveKind), ["standard", "gnorm", "smooth", "randsmooth", "pgd"] },
        { typeof(LambdaConvention), ["paglab", "authors"] },
        { typeof(GradientMode), ["sum", "predicted", "label"] },
        { typeof(TangentEstimator), ["autoencoder", "local-pca", "true"] },
        { typeof(Split), ["train", "test"] },
        { typeof(OptimizerKind), ["adam", "sgd"] },
        { typeof(Schedule), ["none", "multistep", "cosine"] },
        { typeof(AttackNorm), ["l2", "linf"] },
        { typeof(PgdVariant), ["paglab", "authors"] },
        { typeof(RunStatus), ["running", "completed", "diverged", "failed"] },
    };

    [Theory]
    [MemberData(nameof(Tables))]
    public void EveryName_ParsesToItsValue_AndBack_WithADescription(Type vocabulary, string[] names)
    {
        var check = typeof(VocabularyTests).GetMethod(nameof(RoundTrip), System.Reflection.BindingFlags.NonPublic
                                                                            | System.Reflection.BindingFlags.Static)!;
        check.MakeGenericMethod(vocabulary).Invoke(null, [names]);
    }

    static void RoundTrip<T>(string[] names) where T : struct, Enum
    {
        Assert.Equal(names, Vocabulary.Names<T>());
        Assert.Equal(Enum.GetValues<T>(), Vocabulary.All<T>());
        foreach (var value in Vocabulary.All<T>())
        {
            string name = Vocabulary.Name(value);
            Assert.Equal(value, Vocabulary.Parse<T>(name, "x"));
            Assert.False(string.IsNullOrWhiteSpace(Vocabulary.Description(value)));
            string json = JsonSerializer.Serialize(value, JsonFiles.Options);
            Assert.Equal($"\"{name}\"", json);
            Assert.Equal(value, JsonSerializer.Deserialize<T>(json, JsonFiles.Options));
        }
    }

    [Fact]
    public void UnknownName_IsOneLine_ListingTheNames_AndTheNearest()
    {
        var e = Assert.Throws<PagLabException>(() => Vocabulary.Parse<ObjectiveKind>("gnrom", "objective"));
        Assert.Equal("objective must be one of standard, gnorm, smooth, randsmooth, pgd, got 'gnrom' (did you mean "
            + "gnorm?)",
                     e.Message);
        var far = Assert.Throws<PagLabException>(() => Vocabulary.Parse<TangentEstimator>("umap", "tangentEstimator"));
        Assert.Equal("tangentEstimator must be one of autoencoder, local-pca, true, got 'umap'", far.Message);
        Assert.False(Vocabulary.TryParse("Gnorm ", out ObjectiveKind _));
    }

    [Fact]
    public void UnknownName_InAFile_IsRefusedNamingItsKey()
    {
        string path = Path.Combine(TestPaths.TempDir("vocabulary"), "config.json");
        File.WriteAllText(path, """{"dataset": "shapes", "objective": {"name": "gnrom"}, "schedule": "cosine"}""");
        var e = Assert.Throws<DataFormatException>(() => JsonFiles.Read<TrainConfig>(path));
        Assert.Equal($"{path}: objective.name must be one of standard, gnorm, smooth, randsmooth, pgd, got 'gnrom'"
                     + " (did you mean gnorm?)", e.Message);
    }

    // TrainConfig as JsonFiles wrote it when these were strings (format of run.json's "config").
    const string OldConfig = """
        {
          "dataset": "shapes",
          "objective": {
            "name": "pgd",
            "lambda": 0,
            "lambdaConvention": "authors",
            "sigma": 0,
            "draws": 1,
            "onProbabilities": false,
            "epsilons": [
              0.5,
              1
            ],
            "pgd": {
              "norm": "linf",
              "steps": 3,
              "alphaFactor": 2.5,
              "randomStart": false,
              "normalisation": "perExample"
            },
            "strength": 1
          },
          "seed": 0,
          "arch": "smallcnn",
          "activation": "relu",
          "widthMultiplier": 1,
          "optimizer": "sgd",
          "learningRate": 0.003,
          "momentum": 0.9,
          "weightDecay": 0,
          "schedule": "cosine",
          "milestones": [
            0.75,
            0.875
          ],
          "gamma": 0.1,
          "batchSize": 128,
          "epochs": 1,
          "device": "cpu",
          "checkpointEveryBatches": 100,
          "checkpointEverySeconds": 60
        }
        """;

    [Fact]
    public void ConfigWrittenBeforeTheEnums_Loads_AndIsWrittenWithTheSameKeysAndValues()
    {
        var config = JsonSerializer.Deserialize<TrainConfig>(OldConfig, JsonFiles.Options)!;
        Assert.Equal((ObjectiveKind.Pgd, LambdaConvention.Authors, AttackNorm.Linf, OptimizerKind.Sgd, Schedule.Cosine),
                     (config.Objective.Kind, config.Objective.LambdaConvention, config.Objective.Pgd.Norm,
                      config.Optimizer, config.Schedule));
        // Settings added since (augmentation, preset) are written at their defaults; the rest has the same keys and
        // values (the order of keys moved when the loop settings became one base record; resume compares by key).
        var written = JsonSerializer.SerializeToNode(config, JsonFiles.Options)!.AsObject();
        Assert.Equal(("none", 4), (written["augment"]!.GetValue<string>(), written["augmentPadding"]!.GetValue<int>()));
        foreach (var added in new[] { "augment", "augmentPadding", "preset" }) written.Remove(added);
        Assert.True(System.Text.Json.Nodes.JsonNode.DeepEquals(System.Text.Json.Nodes.JsonNode.Parse(OldConfig), written),
            written.ToJsonString(JsonFiles.Options));
        Assert.Equal("{\"status\":\"diverged\"}",
                     JsonSerializer.Serialize(new { Status = RunStatus.Diverged }, JsonFiles.Lines));
    }

    [Fact]
    public void SpecObjectiveNames_AreReadAsKinds_AndAnUnknownOneIsRefusedAtItsKey()
    {
        string dir = TestPaths.TempDir("vocab"), path = Path.Combine(dir, "spec.yaml");
        File.WriteAllText(path, "name: s\ndatasets: [subspace-gaussians]\nobjectives: [{name: randsmooth}]\n");
        Assert.Equal(ObjectiveKind.RandSmooth, SweepSpec.Load(path).Objectives[0].Kind);
        File.WriteAllText(path, "name: s\ndatasets: [subspace-gaussians]\nobjectives: [{name: ridge}]\n");
        var e = Assert.ThrowsAny<PagLabException>(() => SweepSpec.Load(path));
        Assert.Contains("ridge", e.Message);
    }
}
