using PagLab.Data;
using PagLab.IO;
using PagLab.Metrics;
using PagLab.Models;
using PagLab.Score;

namespace PagLab.Tests.Metrics;

/// <summary>Which LPIPS network alignment uses when none is named, and the paper's per-dataset noise levels.</summary>
public class LpipsDefaultNetTests
{
    internal static string WriteWeights(string net, string dir)
    {
        using var lpips = new Lpips(PagLab.Common.Vocabulary.Parse<LpipsNet>(net, "net"));
        string path = Path.Combine(dir, $"lpips-{net}-v0.1.safetensors");
        SafeTensors.Write(path,
            SavedModel.StateDict(lpips).ToDictionary(kv => kv.Key.StartsWith("net.") ? kv.Key[4..] : kv.Key,
            kv => kv.Value));
        return path;
    }

    [Fact]
    public void DefaultNet_IsAlex_WhenItsWeightsAreInTheDataRoot_ElseSqueeze()
    {
        string root = TestPaths.TempDir();
        Assert.Equal(LpipsNet.Squeeze, Lpips.DefaultNet(null, root));
        string alex = WriteWeights("alex", Directory.CreateDirectory(Path.Combine(root, "weights")).FullName);
        Assert.Equal(Lpips.DataRootWeights(LpipsNet.Alex, root), alex);
        Assert.Equal(LpipsNet.Alex, Lpips.DefaultNet(null, root));
    }

    [Fact]
    public void DefaultNet_FollowsTheWeightsGiven_OverTheDataRoot()
    {
        string root = TestPaths.TempDir();
        WriteWeights("alex", Directory.CreateDirectory(Path.Combine(root, "weights")).FullName);
        string squeeze = WriteWeights("squeeze", TestPaths.TempDir());
        Assert.Equal(LpipsNet.Squeeze, Lpips.NetOfWeights(squeeze));
        Assert.Equal(LpipsNet.Alex, Lpips.NetOfWeights(Lpips.DataRootWeights(LpipsNet.Alex, root)));
        Assert.Equal(LpipsNet.Squeeze, Lpips.DefaultNet(squeeze, root));
    }

    [Theory]
    [InlineData("cifar10", 0.25)]     // the paper's 0.5 on [-1,1] pixels (Section 5, Suppl. B.3)
    [InlineData("imagenet64", 0.6)]   // the paper's 1.2 on [-1,1] pixels
    [InlineData("mnist", Datasets.OtherAlignmentSigma)]
    public void AlignmentSigma_DefaultsToThePapersPerDataset(string dataset, double sigma) =>
        Assert.Equal(sigma, Datasets.AlignmentSigma(dataset));
}
