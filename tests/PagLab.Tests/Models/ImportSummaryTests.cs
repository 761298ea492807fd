using PagLab.Models;
using static PagLab.Tests.Models.TorchScriptFixtures;

namespace PagLab.Tests.Models;

/// <summary>The import summary repeats the input contract it stored in model.json.</summary>
public class ImportSummaryTests
{
    [Fact]
    public void TorchScriptImport_SaysTheStoredRangeAndNormalisation()
    {
        string folder = Path.Combine(TestPaths.TempDir(), "m");
        var r = ImportClassifier(folder);                                     // --normalize 0.1307,0.3081
        Assert.Contains("(1x28x28 pixels in [0,1], normalised (x - mean) / std with mean 0.1307, std 0.3081, ",
            r.Stdout);
    }

    [Fact]
    public void ContractText_SaysNotNormalised_AndTheRangeOfTheNetwork()
    {
        var spec = new ModelSpec { Arch = PagLab.Models.Architecture.SmallCnn, Channels = 3, Height = 32, Width = 32, Classes = 10,
            PixelRange = new[] { -1f, 1f } };
        Assert.Equal("3x32x32 pixels in [-1,1], not normalised", spec.ContractText());
        Assert.Equal("3x32x32 pixels in [0,1], normalised (x - mean) / std with mean 0.5,0.4,0.3, std 0.2,0.2,0.2",
            (spec with { PixelRange = new[] { 0f, 1f }, Mean = new[] { 0.5f, 0.4f, 0.3f },
                Std = new[] { 0.2f, 0.2f, 0.2f } }).ContractText());
    }
}
