using System.Security.Cryptography;
using PagLab.Common;
using PagLab.Data;
using PagLab.IO;
using PagLab.IO.Torch;
using PagLab.Metrics;
using PagLab.Models;
using PagLab.Tests.Cli;
using PagLab.Tests.Data;
using static TorchSharp.torch;

namespace PagLab.Tests.Metrics;

/// <summary>
/// `weights fetch lpips-alex` against a local server on 127.0.0.1 serving small fake files in the official layouts
/// (torchvision's AlexNet state dict with its classifier, the LPIPS project's lin file), with hashes the test injects.
/// </summary>
public class LpipsWeightsDownloadTests
{
    static string Hash(byte[] b) => Convert.ToHexStringLower(SHA256.HashData(b));

    /// <summary>Random tensors with the names and shapes of LPIPS-AlexNet's state dict ("net." dropped).</summary>
    static Dictionary<string, Tensor> FakeAlex(int seed)
    {
        using var shapes = new Lpips(LpipsNet.Alex);
        var g = new Generator((ulong)seed);
        return SavedModel.StateDict(shapes).ToDictionary(
            kv => kv.Key.StartsWith("net.", StringComparison.Ordinal) ? kv.Key[4..] : kv.Key,
            kv => randn(kv.Value.shape, generator: g));
    }

    static byte[] TorchBytes(IReadOnlyDictionary<string, Tensor> tensors)
    {
        string path = Path.Combine(TestPaths.TempDir("pth"), "f.pth");
        TorchFile.WriteStateDict(path, tensors);
        return File.ReadAllBytes(path);
    }

    /// <summary>The server and a source pointing at it: the backbone checked by an 8-digit prefix, as the official
    /// torchvision file, the lin file by its whole digest.</summary>
    static (LocalFileServer Server, LpipsWeightSource Source, Dictionary<string, Tensor> Weights) Serve()
    {
        var weights = FakeAlex(5);
        var backbone = weights.Where(kv => kv.Key.StartsWith("features.", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key, kv => kv.Value);
        backbone["classifier.1.weight"] = ones(10, 4);                 // torchvision's head: ignored
        var lin = weights.Where(kv => kv.Key.StartsWith("lin", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key, kv => kv.Value);
        var server = new LocalFileServer();
        var official = LpipsWeightsDownload.For("lpips-alex", server.BaseUrl);
        server.Files[official.Backbone.Name] = TorchBytes(backbone);
        server.Files[official.Lin.Name] = TorchBytes(lin);
        var source = official with
        {
            Backbone = official.Backbone with { Sha256 = Hash(server.Files[official.Backbone.Name])[..8],
                Size = server.Files[official.Backbone.Name].Length },
            Lin = official.Lin with { Sha256 = Hash(server.Files[official.Lin.Name]),
                Size = server.Files[official.Lin.Name].Length },
        };
        return (server, source, weights);
    }

    [Fact]
    public async Task FetchAlex_WritesOneSafetensorsFile_ThatTheDefaultsFind_WithTheServedValues()
    {
        var (server, source, weights) = Serve();
        using var _ = server;
        string root = TestPaths.TempDir("root");
        string written = await LpipsWeightsDownload.FetchAsync(source, root, NullProgress.Instance);

        Assert.Equal(Lpips.DataRootWeights(LpipsNet.Alex, root), written);
        Assert.Equal(LpipsNet.Alex, Lpips.NetOfWeights(written));
        Assert.Equal(LpipsNet.Alex, Lpips.DefaultNet(null, root));
        Assert.False(Directory.Exists(Path.Combine(root, "weights", "downloads")));
        var stored = SafeTensors.Read(written);
        Assert.Equal(weights.Keys.Order(), stored.Keys.Order());          // no classifier.*
        foreach (var (name, t) in weights) Assert.True(t.equal(stored[name]).all().item<bool>(), name);
        using var lpips = Lpips.Load(LpipsNet.Alex, written);
        using var x = rand(2, 3, 32, 32) * 2 - 1;
        using var d = lpips.call(x, x.flip(0));
        Assert.True(d.isfinite().all().item<bool>());

        int requests = server.RangesSeen.Count;
        Assert.Equal(written, await LpipsWeightsDownload.FetchAsync(source, root, NullProgress.Instance));
        Assert.Equal(requests, server.RangesSeen.Count);                  // converted once: nothing downloaded again
    }

    [Fact]
    public async Task FetchAlex_WithAFileOfAnotherHash_WritesNothing()
    {
        var (server, source, _) = Serve();
        using var _ = server;
        string root = TestPaths.TempDir("root");
        source = source with { Lin = source.Lin with { Sha256 = new string('0', 64) } };
        var e = await Assert.ThrowsAsync<PagLabException>(() =>
            LpipsWeightsDownload.FetchAsync(source, root, NullProgress.Instance));
        Assert.Contains("alex.pth: SHA-256 mismatch", e.Message);
        Assert.False(File.Exists(Lpips.DataRootWeights(LpipsNet.Alex, root)));
        Assert.Equal(LpipsNet.Squeeze, Lpips.DefaultNet(null, root));
    }

    [Fact]
    public void OfficialSources_ArePinned_AndAPrefixOfUnderEightDigitsMatchesNothing()
    {
        var alex = LpipsWeightsDownload.For("lpips-alex", null);
        Assert.StartsWith("https://download.pytorch.org/models/alexnet-owt-7be5be79", alex.Backbone.Url);
        Assert.StartsWith("https://raw.githubusercontent.com/richzhang/PerceptualSimilarity/", alex.Lin.Url);
        Assert.Equal(64, alex.Lin.Sha256.Length);
        Assert.True(alex.Backbone.Matches("7be5be79" + new string('a', 56)));
        Assert.False(alex.Backbone.Matches("7be5be7a" + new string('a', 56)));
        Assert.False((alex.Backbone with { Sha256 = "7be5" }).Matches("7be5be79" + new string('a', 56)));
    }

    [Fact]
    public void WeightsFetch_OfAnUnknownName_GivesAOneLineError()
    {
        var run = CliProcess.Run("weights", "fetch", "lpips-nope", "--data-root", TestPaths.TempDir());
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("unknown weights 'lpips-nope' (known: lpips-alex", run.Stderr);
        Assert.Single(run.Stderr.Trim().Split('\n'));
    }
}
