using PagLab.IO.Torch;
using PagLab.Tests.Cli;
using static TorchSharp.torch;

namespace PagLab.Tests.Models;

/// <summary>The TorchScript fixtures of make_torchscript_fixtures.py and the values PyTorch computed for
/// them.</summary>
public static class TorchScriptFixtures
{
    public static string Folder => Path.Combine(AppContext.BaseDirectory, "Models", "Fixtures");

    public static string File(string name) => Path.Combine(Folder, name);

    /// <summary>A reference file (torch.save of named tensors), read through PagLab's restricted unpickler.</summary>
    public static Dictionary<string, Tensor> Reference(string name) => TorchFile.ReadStateDict(File(name));

    /// <summary>The CLI result, after asserting that the command succeeded.</summary>
    public static CliProcess.Result Succeeds(CliProcess.Result r)
    {
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        return r;
    }

    /// <summary>`paglab model import` of the traced classifier (MNIST normalisation) on the embedded shapes
    /// data.</summary>
    public static CliProcess.Result ImportClassifier(string folder) =>
        Succeeds(CliProcess.Run("model", "import", File("classifier.pt"), "--dataset", "shapes", "--normalize",
            "0.1307,0.3081", "--out", folder));

    /// <summary>Largest |a - b| over all elements.</summary>
    public static double MaxAbsDifference(Tensor a, Tensor b)
    {
        Assert.Equal(b.shape, a.shape);
        using var d = (a.to_type(ScalarType.Float64) - b.to_type(ScalarType.Float64)).abs().max();
        return d.item<double>();
    }
}
