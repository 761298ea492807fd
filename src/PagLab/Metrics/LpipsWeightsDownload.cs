using PagLab.Common;
using PagLab.Data;
using PagLab.IO;
using PagLab.Models;

namespace PagLab.Metrics;

/// <summary>The two official files one LPIPS network is built from: torchvision's ImageNet backbone and the LPIPS
/// project's v0.1 linear calibration.</summary>
public sealed record LpipsWeightSource(LpipsNet Net, RemoteFile Backbone, RemoteFile Lin);

/// <summary>
/// <c>paglab weights fetch lpips-alex</c>: downloads the official files (SHA-256 checked, resumable, through
/// <see cref="Downloader"/>), converts them locally to one safetensors file in the data root's weights/ folder
/// (<see cref="Lpips.DataRootWeights"/>, where every command looks) and removes the downloads.
/// </summary>
public static class LpipsWeightsDownload
{
    /// <summary>
    /// The LPIPS repository's alex.pth at the commit that last changed it (SHA-256 computed from that commit's blob,
    /// 6009 bytes), and torchvision's AlexNet (IMAGENET1K_V1). torchvision publishes only the first 8 hex digits of
    /// that file's SHA-256 (in its name) and checks no more itself; that prefix is what we pin for it.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, LpipsWeightSource> Sources =
        new Dictionary<string, LpipsWeightSource>
        {
            ["lpips-alex"] = new(LpipsNet.Alex,
                new RemoteFile("alexnet-owt-7be5be79.pth",
                    "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth", "7be5be79", 244_408_911),
                new RemoteFile("alex.pth", "https://raw.githubusercontent.com/richzhang/PerceptualSimilarity/"
                    + "c33f89e9f46522a584cf41d8880eb0afa982708b/lpips/weights/v0.1/alex.pth",
                    "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0", 6009)),
        };

    /// <summary>The source named <paramref name="name"/> (e.g. lpips-alex), with its files' URL directory replaced by
    /// urlBase when given (a mirror), or a one-line error naming the known ones.</summary>
    public static LpipsWeightSource For(string name, string? urlBase)
    {
        if (!Sources.TryGetValue(name, out var source))
            throw new PagLabException($"unknown weights '{name}' (known: {string.Join(", ", Sources.Keys)}; "
                + $"lpips-{Vocabulary.Name(Lpips.BundledNet)} ships with PagLab)");
        if (string.IsNullOrEmpty(urlBase)) return source;
        string b = urlBase.EndsWith('/') ? urlBase : urlBase + "/";
        return source with { Backbone = source.Backbone with { Url = b + source.Backbone.Name },
            Lin = source.Lin with { Url = b + source.Lin.Name } };
    }

    /// <summary>Fetches and converts <paramref name="source"/> into &lt;root&gt;/weights/; returns the file written
    /// (or found already converted).</summary>
    public static async Task<string> FetchAsync(LpipsWeightSource source, string root, IProgressSink progress,
        HttpClient? client = null)
    {
        string target = Lpips.DataRootWeights(source.Net, root);
        if (File.Exists(target) && Lpips.NetOfWeights(target) == source.Net)
        {
            progress.Line($"{Path.GetFileName(target)}: present");
            return target;
        }
        string downloads = Path.Combine(Path.GetDirectoryName(target)!, "downloads");
        await Downloader.FetchAsync(source.Backbone, downloads, progress, client);
        await Downloader.FetchAsync(source.Lin, downloads, progress, client);
        Convert(source, Path.Combine(downloads, source.Backbone.Name), Path.Combine(downloads, source.Lin.Name),
            target);
        File.Delete(Path.Combine(downloads, source.Backbone.Name));
        File.Delete(Path.Combine(downloads, source.Lin.Name));
        if (!Directory.EnumerateFileSystemEntries(downloads).Any()) Directory.Delete(downloads);
        progress.Line($"{Path.GetFileName(target)}: converted");
        return target;
    }

    /// <summary>Builds LPIPS from the two files (read without running code; every tensor's name and shape checked)
    /// and writes its weights as one safetensors file: <c>features.N.*</c> and <c>linK.model.1.weight</c>.</summary>
    public static void Convert(LpipsWeightSource source, string backbonePath, string linPath, string target)
    {
        using var lpips = Lpips.Load(source.Net, backbonePath, linPath);
        var tensors = SavedModel.StateDict(lpips).ToDictionary(
            kv => kv.Key.StartsWith("net.", StringComparison.Ordinal) ? kv.Key[4..] : kv.Key, kv => kv.Value);
        SafeTensors.Write(target, tensors, new Dictionary<string, string>
        {
            ["backbone"] = $"{source.Backbone.Name} sha256 {Downloader.Sha256(backbonePath)}",
            ["lin"] = $"{source.Lin.Name} sha256 {Downloader.Sha256(linPath)}",
        });
    }
}
