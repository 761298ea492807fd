using PagLab.Common;
using PagLab.Models;
using PagLab.Tests.Metrics;

namespace PagLab.Tests.Models;

/// <summary>The library entry point of `paglab model import`: the kind of file decides which options apply, and a
/// refused import writes nothing.</summary>
public class ModelImportTests
{
    static string StateDict => Path.Combine(LpipsFixtures.Folder, "resnet18_w2_dataparallel.pth");

    public static TheoryData<string> ContractOptions => new() { "normalize", "pixel-range", "output-index", "resize",
        "grey-to-rgb" };

    [Theory]
    [MemberData(nameof(ContractOptions))]
    public void StateDict_WithAnyTorchScriptContractOption_IsRefused_AndNothingIsWritten(string option)
    {
        string output = Path.Combine(TestPaths.TempDir("import"), "m");
        var request = new ModelImport.Request(StateDict, output, "cifar10");
        request = option switch
        {
            "normalize" => request with { Normalize = new[] { "0.5,0.25" } },
            "pixel-range" => request with { PixelRange = "0,1" },   // given, even as the default, is refused
            "output-index" => request with { OutputIndex = 0 },
            "resize" => request with { Resize = "32x32" },
            _ => request with { GreyToRgb = true },
        };
        var e = Assert.ThrowsAny<PagLabException>(() => ModelImport.Run(request));
        Assert.Contains("is a state dict (weights only)", e.Message);
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void TorchScriptArchive_WithArch_IsRefused_NamingTheArchAsGiven()
    {
        string output = Path.Combine(TestPaths.TempDir("import"), "m");
        var request = new ModelImport.Request(TorchScriptFixtures.File("classifier.pt"), output, "shapes")
            { Arch = "resnet18" };
        var e = Assert.ThrowsAny<PagLabException>(() => ModelImport.Run(request));
        Assert.Contains("drop --arch resnet18", e.Message);
        Assert.False(Directory.Exists(output));
    }
}
