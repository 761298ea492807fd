using System.Text.Json.Nodes;
using PagLab.Models;
using PagLab.Tests.Cli;
using PagLab.Training;

namespace PagLab.Tests.Attributions;

public class AttributionCliTests
{
    static string TrainedModel(string dir, string name, string objective = "standard", double strength = 0)
    {
        string path = Path.Combine(dir, name);
        Trainer.Run(new TrainConfig { Dataset = "subspace-gaussians", Arch = PagLab.Models.Architecture.Mlp, TrainSize = 300, TestSize = 20,
            Epochs = 1, Objective = new PagLab.Objectives.ObjectiveConfig
            {
                Kind = PagLab.Common.Vocabulary.Parse<PagLab.Objectives.ObjectiveKind>(objective, "objective"),
                Lambda = strength,
            } }, path);
        return path;
    }

    [Fact]
    public void MeasureAlignment_WithIntegratedGradients_SaysWhatItComparedAndWritesIt()
    {
        string dir = TestPaths.TempDir("attr");
        string model = TrainedModel(dir, "m");
        string json = Path.Combine(dir, "a.json");
        var r = CliProcess.Run("measure", "alignment", "--model", model, "--denoiser", "exact", "--dataset",
            "subspace-gaussians", "--count", "8", "--attribution", "integrated-gradients", "--steps", "8",
            "--out", json);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("integrated-gradients (m 8, baseline 0) vs score (8 images", r.Stdout);
        Assert.Equal("integrated-gradients (m 8, baseline 0)", JsonNode.Parse(File.ReadAllText(json))!["attribution"]!
            .GetValue<string>());
    }

    [Fact]
    public void MeasureAlignment_WithAMisspelledAttribution_GivesAOneLineErrorWithTheNames()
    {
        var r = CliProcess.Run("measure", "alignment", "--model", "m", "--denoiser", "exact", "--dataset",
            "subspace-gaussians", "--attribution", "smoothgard", "--out", Path.Combine(TestPaths.TempDir(), "a.json"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--attribution must be one of gradient, smoothgrad, integrated-gradients, got 'smoothgard' "
            + "(did you mean smoothgrad?)", r.Stderr);
    }

    [Fact]
    public void FigureColumns_AreNamedByTheModel_NotByItsFolder()
    {
        string dir = TestPaths.TempDir("names");
        string standard = TrainedModel(Path.Combine(dir, "a"), "train");
        string gnorm = TrainedModel(Path.Combine(dir, "b"), "train", "gnorm", 0.5);
        string again = TrainedModel(Path.Combine(dir, "c"), "train", "gnorm", 0.5);
        var names = SavedModel.Names(new[] { standard, gnorm, again });
        Assert.Equal("standard", names[0]);
        Assert.Equal($"gnorm 0.5 ({gnorm})", names[1]);                  // the same name twice: told apart by path
        Assert.Equal($"gnorm 0.5 ({again})", names[2]);
        Assert.Equal(new[] { "m" }, SavedModel.Names(new[] { Path.Combine(dir, "m") }));   // no model.json: folder
    }
}
