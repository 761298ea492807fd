using System.Text.Json;
using PagLab.Common;
using PagLab.IO;
using PagLab.IO.Torch;
using PagLab.Models;
using PagLab.Tests.Cli;
using PagLab.Tests.Metrics;
using static TorchSharp.torch;

namespace PagLab.Tests.Models;

public class PyTorchWeightsTests
{
    static string Fixture(string name) => Path.Combine(LpipsFixtures.Folder, name);
    static readonly PyTorchWeights.ImportOptions Cifar = new(Architecture.ResNet18, "cifar10");

    static Tensor FixtureInputs() => stack(new[]
    {
        (LpipsFixtures.Make(new("random", 11, 3), 32) + 1) / 2, (LpipsFixtures.Make(new("smooth", 12, 3), 32) + 1) / 2,
    });

    [Fact]
    public void Import_AuthorsNamesSavedByDataParallel_GivesPyTorchsLogits()
    {
        using var model = PyTorchWeights.Import(Fixture("resnet18_w2_dataparallel.pth"), Cifar);
        Assert.Equal(3, model.Spec.Channels);
        Assert.Equal(10, model.Spec.Classes);
        Assert.Equal(2.0 / 64, model.Spec.WidthMultiplier);
        using var doc = JsonDocument.Parse(File.ReadAllText(Fixture("resnet18_w2_logits.json")));
        var expected = doc.RootElement.GetProperty("logits").EnumerateArray().SelectMany(r =>
            r.EnumerateArray().Select(v => (float)v.GetDouble())).ToArray();
        using var _ = no_grad();
        using var x = FixtureInputs();
        using var logits = model.call(x);
        var ours = logits.data<float>().ToArray();
        Assert.Equal(expected.Length, ours.Length);
        for (int i = 0; i < ours.Length; i++) Assert.Equal(expected[i], ours[i], 1e-4f);
    }

    [Theory]
    [InlineData("w.pt")]
    [InlineData("w.safetensors")]
    public void ExportThenImport_RoundTrip_KeepsEveryTensor(string name)
    {
        string path = Path.Combine(TestPaths.TempDir(), name);
        using var model = PyTorchWeights.Import(Fixture("resnet18_w2_dataparallel.pth"), Cifar);
        PyTorchWeights.Export(model, path);
        using var back = PyTorchWeights.Import(path, Cifar);
        var a = SavedModel.StateDict(model);
        var b = SavedModel.StateDict(back);
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var (k, t) in a) Assert.True(t.equal(b[k]).all().item<bool>(), k);
    }

    [Fact]
    public void Export_UsesTheAuthorsNames_WithoutOurNetPrefix()
    {
        string path = Path.Combine(TestPaths.TempDir(), "w.pth");
        using var model = PyTorchWeights.Import(Fixture("resnet18_w2_dataparallel.pth"), Cifar);
        PyTorchWeights.Export(model, path);
        var sd = TorchFile.ReadStateDict(path);
        Assert.Contains("conv1.weight", sd.Keys);
        Assert.Contains("layer2.0.shortcut.0.weight", sd.Keys);
        Assert.Contains("linear.bias", sd.Keys);
        Assert.DoesNotContain(sd.Keys, k => k.StartsWith("net.") || k.StartsWith("module."));
    }

    [Fact]
    public void Import_WithoutNumBatchesTracked_LikeOlderPyTorch_Works()
    {
        string path = Path.Combine(TestPaths.TempDir(), "old.pt");
        var sd = TorchFile.ReadStateDict(Fixture("resnet18_w2_dataparallel.pth"));
        TorchFile.WriteStateDict(path, sd.Where(kv => !kv.Key.EndsWith("num_batches_tracked")).ToDictionary());
        using var model = PyTorchWeights.Import(path, Cifar);
        using var reference = PyTorchWeights.Import(Fixture("resnet18_w2_dataparallel.pth"), Cifar);
        using var x = FixtureInputs();
        using var _ = no_grad();
        Assert.True(model.call(x).equal(reference.call(x)).all().item<bool>());
    }

    [Fact]
    public void Import_ForADatasetWithOtherChannels_SaysSo()
    {
        var e = Assert.Throws<DataFormatException>(() => PyTorchWeights.Import(Fixture("resnet18_w2_dataparallel.pth"),
            new(Architecture.ResNet18, "mnist")));
        Assert.Contains("3 channels", e.Message);
    }

    [Fact]
    public void Import_AStateDictOfAnotherModel_NamesWhatIsMissing()
    {
        var e = Assert.Throws<DataFormatException>(() => PyTorchWeights.Import(Fixture("tiny_zip.pth"), Cifar));
        Assert.Contains("conv1.weight", e.Message);
    }

    [Fact]
    public void Cli_ImportThenExport_WritesAFileWithTheSameTensors()
    {
        string dir = TestPaths.TempDir(), folder = Path.Combine(dir, "m"), pt = Path.Combine(dir, "back.pt");
        var import = CliProcess.Run("model", "import", Fixture("resnet18_w2_dataparallel.pth"), "--dataset", "cifar10",
            "--out", folder);
        Assert.True(import.ExitCode == 0, import.Stderr);
        var export = CliProcess.Run("model", "export", folder, "--out", pt);
        Assert.True(export.ExitCode == 0, export.Stderr);
        var original = TorchFile.ReadStateDict(Fixture("resnet18_w2_dataparallel.pth"));
        var back = TorchFile.ReadStateDict(pt);
        foreach (var (k, t) in original) Assert.True(t.equal(back[k["module.".Length..]]).all().item<bool>(), k);
        var bad = CliProcess.Run("model", "import", Fixture("evil_os_system.pth"), "--dataset", "cifar10", "--out",
            folder);
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("refusing pickle global 'os.system'", bad.Stderr);
    }
}
