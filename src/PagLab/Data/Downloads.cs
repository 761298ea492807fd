using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Security.Cryptography;
using PagLab.Common;

namespace PagLab.Data;

/// <summary>One official file: where it lives and its published SHA-256.</summary>
public sealed record RemoteFile(string Name, string Url, string Sha256);

/// <summary>
/// The official download locations of the file-backed datasets, with SHA-256 digests checked
/// against several independent published copies (see docs/data.md).
/// </summary>
public static class DatasetSources
{
    const string Mnist = "https://ossci-datasets.s3.amazonaws.com/mnist/";
    const string Fashion = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/";

    public static readonly IReadOnlyDictionary<string, RemoteFile[]> Files = new Dictionary<string, RemoteFile[]>
    {
        ["mnist"] = new[]
        {
            new RemoteFile("train-images-idx3-ubyte.gz", Mnist + "train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
            new RemoteFile("train-labels-idx1-ubyte.gz", Mnist + "train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
            new RemoteFile("t10k-images-idx3-ubyte.gz", Mnist + "t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
            new RemoteFile("t10k-labels-idx1-ubyte.gz", Mnist + "t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
        },
        ["fashion-mnist"] = new[]
        {
            new RemoteFile("train-images-idx3-ubyte.gz", Fashion + "train-images-idx3-ubyte.gz", "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
            new RemoteFile("train-labels-idx1-ubyte.gz", Fashion + "train-labels-idx1-ubyte.gz", "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
            new RemoteFile("t10k-images-idx3-ubyte.gz", Fashion + "t10k-images-idx3-ubyte.gz", "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
            new RemoteFile("t10k-labels-idx1-ubyte.gz", Fashion + "t10k-labels-idx1-ubyte.gz", "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
        },
        ["cifar10"] = new[]
        {
            new RemoteFile("cifar-10-binary.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz", "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"),
        },
    };

    /// <summary>The files of a dataset, with the URL directory replaced by urlBase when given (mirrors, tests).</summary>
    public static RemoteFile[] For(string dataset, string? urlBase)
    {
        if (dataset == "imagenet64")
            throw new PagLabException("imagenet64 cannot be fetched automatically: download the 64x64 npz files from image-net.org (login required) into <data-root>/imagenet64/");
        if (!Files.TryGetValue(dataset, out var files))
            throw new PagLabException(Datasets.Names.Contains(dataset)
                ? $"'{dataset}' needs no download (it is generated or built from another dataset)"
                : $"unknown dataset '{dataset}' (known: {string.Join(", ", Datasets.Names)})");
        if (string.IsNullOrEmpty(urlBase)) return files;
        string b = urlBase.EndsWith('/') ? urlBase : urlBase + "/";
        return files.Select(f => f with { Url = b + f.Name }).ToArray();
    }
}

/// <summary>
/// HTTP downloads that never leave a half file under the final name: data goes to
/// &lt;name&gt;.partial (resumed with a Range request when present), is checked against its SHA-256,
/// then renamed into place.
/// </summary>
public static class Downloader
{
    public static async Task FetchAsync(RemoteFile file, string folder, IProgressSink progress, HttpClient? client = null, CancellationToken cancel = default)
    {
        Directory.CreateDirectory(folder);
        string final = Path.Combine(folder, file.Name), partial = final + ".partial";
        if (File.Exists(final) && Sha256(final) == file.Sha256) { progress.Line($"{file.Name}: present and verified"); return; }
        client ??= SharedClient;
        long have = File.Exists(partial) ? new FileInfo(partial).Length : 0;
        using var request = new HttpRequestMessage(HttpMethod.Get, file.Url);
        if (have > 0) request.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(have, null);
        HttpResponseMessage response;
        try { response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel); }
        catch (HttpRequestException e) { throw new PagLabException($"{file.Url}: download failed ({e.Message})"); }
        using (response)
        {
            if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable) { File.Delete(partial); have = 0; }
            else if (!response.IsSuccessStatusCode)
                throw new PagLabException($"{file.Url}: server answered {(int)response.StatusCode} {response.ReasonPhrase}");
            bool resumed = have > 0 && response.StatusCode == HttpStatusCode.PartialContent;
            if (!resumed) have = 0; // the server ignored the range: start over
            long? total = response.Content.Headers.ContentLength is long n ? n + have : null;
            if (response.StatusCode != HttpStatusCode.RequestedRangeNotSatisfiable)
            {
                await using var body = await response.Content.ReadAsStreamAsync(cancel);
                await using var output = new FileStream(partial, resumed ? FileMode.Append : FileMode.Create, FileAccess.Write);
                var buffer = new byte[1 << 16];
                long done = have;
                var clock = Stopwatch.StartNew();
                try
                {
                    int read;
                    while ((read = await body.ReadAsync(buffer, cancel)) > 0)
                    {
                        await output.WriteAsync(buffer.AsMemory(0, read), cancel);
                        done += read;
                        progress.Update(file.Name, done, total ?? done, $"{done / 1e6 / Math.Max(clock.Elapsed.TotalSeconds, 1e-3):F1} MB/s");
                    }
                }
                catch (Exception e) when (e is IOException or HttpRequestException)
                {
                    throw new PagLabException($"{file.Url}: transfer interrupted after {done} bytes ({e.Message}); run the same command again to resume");
                }
                if (total is long expected && done < expected)
                    throw new PagLabException($"{file.Url}: transfer ended after {done} of {expected} bytes; run the same command again to resume");
            }
        }
        string digest = Sha256(partial);
        if (digest != file.Sha256)
        {
            File.Delete(partial);
            throw new PagLabException($"{file.Name}: SHA-256 mismatch (got {digest}, expected {file.Sha256}); the download was discarded");
        }
        File.Move(partial, final, overwrite: true);
        progress.Line($"{file.Name}: downloaded and verified");
    }

    /// <summary>Downloads every file of a dataset into &lt;root&gt;/&lt;name&gt;/ and unpacks archives.</summary>
    public static async Task FetchDatasetAsync(string dataset, string root, string? urlBase, IProgressSink progress, HttpClient? client = null)
    {
        string folder = Datasets.Folder(root, dataset);
        foreach (var file in DatasetSources.For(dataset, urlBase))
        {
            await FetchAsync(file, folder, progress, client);
            if (file.Name.EndsWith(".tar.gz", StringComparison.Ordinal)) ExtractCifar(Path.Combine(folder, file.Name), folder);
        }
    }

    /// <summary>Extracts only the expected regular .bin files of the CIFAR-10 archive (no arbitrary paths).</summary>
    static void ExtractCifar(string archive, string folder)
    {
        var wanted = Enumerable.Range(1, 5).Select(i => $"data_batch_{i}.bin").Append("test_batch.bin").ToHashSet();
        try
        {
            using var gz = new GZipStream(File.OpenRead(archive), CompressionMode.Decompress);
            using var tar = new TarReader(gz);
            while (tar.GetNextEntry() is { } entry)
            {
                string name = Path.GetFileName(entry.Name);
                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || !wanted.Contains(name) || entry.DataStream is null) continue;
                string target = Path.Combine(folder, name);
                var stream = entry.DataStream;
                IO.AtomicFile.Write(target, s => stream.CopyTo(s));
            }
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException)
        {
            throw new DataFormatException(archive, $"not a valid tar.gz archive ({e.Message.Split('\n')[0]})");
        }
    }

    public static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    static readonly HttpClient SharedClient = new() { Timeout = TimeSpan.FromMinutes(30) };
}
