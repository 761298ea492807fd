using PagLab.IO.Torch;
using static TorchSharp.torch;

namespace PagLab.Tests.Models;

/// <summary>The TorchScript fixtures of make_torchscript_fixtures.py and the values PyTorch computed for them.</summary>
public static class TorchScriptFixtures
{
    public static string Folder => Path.Combine(AppContext.BaseDirectory, "Models", "Fixtures");

    public static string File(string name) => Path.Combine(Folder, name);

    /// <summary>A reference file (torch.save of named tensors), read through PagLab's restricted unpickler.</summary>
    public static Dictionary<string, Tensor> Reference(string name) => TorchFile.ReadStateDict(File(name));

    /// <summary>Largest |a - b| over all elements.</summary>
    public static double MaxAbsDifference(Tensor a, Tensor b)
    {
        Assert.Equal(b.shape, a.shape);
        using var d = (a.to_type(ScalarType.Float64) - b.to_type(ScalarType.Float64)).abs().max();
        return d.item<double>();
    }
}
