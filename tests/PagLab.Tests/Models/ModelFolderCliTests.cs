using System.Security.Cryptography;
using PagLab.Models;
using PagLab.Tests.Cli;
using PagLab.Tests.Metrics;
using static PagLab.Tests.Models.TorchScriptFixtures;

namespace PagLab.Tests.Models;

/// <summary>`paglab model import|export` on the command line: TorchScript imports, and no silent data loss (issue
/// 17.4).</summary>
public class ModelFolderCliTests
{
    static string ResNetFixture => Path.Combine(LpipsFixtures.Folder, "resnet18_w2_dataparallel.pth");

    static string Hash(string file) => Convert.ToHexString(SHA256.HashData(System.IO.File.ReadAllBytes(file)));

    static void FailsWithOneLine(CliProcess.Result r, string expected)
    {
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(expected, r.Stderr);
        Assert.Single(r.Stderr.Trim().Split('\n'));
    }

    [Fact]
    public void Export_IntoTheModelFolderItReads_IsRefused_AndTheModelSurvives()
    {
        string folder = Path.Combine(TestPaths.TempDir(), "run");
        Succeeds(CliProcess.Run("model", "import", ResNetFixture, "--dataset", "cifar10", "--out", folder));
        string weights = Path.Combine(folder, SavedModel.WeightsFile), before = Hash(weights);
        FailsWithOneLine(CliProcess.Run("model", "export", folder, "--out", weights), "the folder this command reads");
        FailsWithOneLine(CliProcess.Run("model", "export", folder, "--out", Path.Combine(folder, "sub", "w.pth")),
            "the folder this command reads");
        Assert.Equal(before, Hash(weights));
        using var model = SavedModel.Load(folder);
        Assert.Equal(Architecture.ResNet18, model.Spec.Arch);
    }

    [Fact]
    public void Import_IntoAnExistingRun_IsRefused_UnlessOverwrite_ThenReplacesTheWholeFolder()
    {
        string run = Path.Combine(TestPaths.TempDir(), "run");
        Directory.CreateDirectory(run);
        System.IO.File.WriteAllText(Path.Combine(run, "run.json"), "{\"config\": \"trained smallcnn\"}");
        System.IO.File.WriteAllText(Path.Combine(run, SavedModel.WeightsFile), "trained weights");
        FailsWithOneLine(CliProcess.Run("model", "import", ResNetFixture, "--dataset", "cifar10", "--out", run),
            "already exists and holds a run");
        FailsWithOneLine(CliProcess.Run("model", "import", File("classifier.pt"), "--dataset", "shapes", "--out", run),
            "--overwrite");
        Assert.Equal("trained weights", System.IO.File.ReadAllText(Path.Combine(run, SavedModel.WeightsFile)));

        Succeeds(CliProcess.Run("model", "import", ResNetFixture, "--dataset", "cifar10", "--out", run, "--overwrite"));
        Assert.False(System.IO.File.Exists(Path.Combine(run, "run.json")), "run.json would describe other weights");
        using (var model = SavedModel.Load(run)) Assert.Equal(Architecture.ResNet18, model.Spec.Arch);
        // no temporary folder left beside it
        Assert.Equal(new[] { run }, Directory.GetFileSystemEntries(Path.GetDirectoryName(run)!));
    }

    [Fact]
    public void TorchScriptClassifier_ImportedOnTheCommandLine_WorksWithEvalAndMeasureManifold()
    {
        string dir = TestPaths.TempDir(), model = Path.Combine(dir, "m"), tangents = Path.Combine(dir, "t.safetensors");
        var import = ImportClassifier(model);
        Assert.Contains("imported TorchScript archive", import.Stdout);
        Assert.True(System.IO.File.Exists(Path.Combine(model, SavedModel.ScriptFile)));

        var eval = CliProcess.Run("eval", "--model", model, "--dataset", "shapes", "--count", "32", "--attack",
            "pgd-l2", "--eps", "0.5", "--steps", "3");
        Succeeds(eval);
        Assert.Matches(@"clean accuracy: [0-9.]+ \[[0-9.]+, [0-9.]+\] \(\d+ images; 95% interval\)", eval.Stdout);
        Assert.Contains("robust accuracy", eval.Stdout);

        Succeeds(CliProcess.Run("tangents", "--estimator", "local-pca", "--dataset", "shapes", "--count", "8",
            "--neighbours", "16", "--dimension", "4", "--out", tangents));
        var manifold = CliProcess.Run("measure", "manifold", "--model", model, "--tangents", tangents, "--dataset",
            "shapes", "--eps", "1", "--draws", "2",
            "--out", Path.Combine(dir, "manifold.json"));
        Succeeds(manifold);
        Assert.Contains("off/on", manifold.Stdout);
    }

    [Fact]
    public void TorchScriptClassifier_ForTheDistractorData_WorksWithMeasureDistractor()
    {
        string dir = TestPaths.TempDir(), model = Path.Combine(dir, "m");
        Succeeds(CliProcess.Run("model", "import", File("classifier.pt"), "--dataset", "shapes-distractor",
            "--normalize", "0.1307,0.3081", "--out", model));
        Succeeds(CliProcess.Run("measure", "distractor", "--model", model, "--dataset", "shapes-distractor", "--sigmas",
            "0,0.1,1", "--count", "16",
            "--out", Path.Combine(dir, "distractor.json")));
        Assert.True(System.IO.File.Exists(Path.Combine(dir, "distractor.json")));
    }

    [Fact]
    public void Import_TheWrongKindOfFile_SaysWhichItIsAndWhatToDo()
    {
        string dir = TestPaths.TempDir();
        FailsWithOneLine(CliProcess.Run("model", "import", File("classifier.pt"), "--arch", "resnet18", "--dataset",
            "shapes", "--out", Path.Combine(dir, "a")),
            "is a TorchScript archive (code and weights), not a state dict");
        FailsWithOneLine(CliProcess.Run("model", "import", ResNetFixture, "--dataset", "cifar10", "--normalize",
            "0.5,0.25", "--out", Path.Combine(dir, "b")),
            "is a state dict (weights only)");
        FailsWithOneLine(CliProcess.Run("model", "import", File("classifier.pt"), "--dataset", "cifar10", "--out",
            Path.Combine(dir, "c")),
            "expected from --dataset cifar10");
        Assert.False(Directory.Exists(Path.Combine(dir, "c")));
        string model = Path.Combine(dir, "m");
        Succeeds(CliProcess.Run("model", "import", File("classifier.pt"), "--dataset", "shapes", "--out", model));
        FailsWithOneLine(CliProcess.Run("model", "export", model, "--out", Path.Combine(dir, "w.pth")),
            "holds an imported TorchScript model");
    }
}
