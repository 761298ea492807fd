using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Security.Cryptography;
using PagLab.Common;

namespace PagLab.Data;

/// <summary>One official file: where it lives, its published SHA-256 and its size in bytes (which bounds the
/// download). Sha256 is the whole hex digest, or, where the publisher gives no more, its published prefix of at least
/// 8 hex digits (torchvision's file names).</summary>
public sealed record RemoteFile(string Name, string Url, string Sha256, long Size)
{
    /// <summary>Whether a file's SHA-256 hex digest is the published one (or starts with the published
    /// prefix).</summary>
    public bool Matches(string digest) => Sha256.Length >= 8 && (Sha256.Length == 64 ? digest == Sha256
        : digest.StartsWith(Sha256, StringComparison.Ordinal));

    /// <summary>The most bytes accepted: the size plus 10% and 1 MB of slack, so a server that streams forever stops
    /// here.</summary>
    public long MaxBytes => Size + Size / 10 + (1 << 20);
}

/// <summary>The official download locations of the file-backed datasets (their registry entries' files).</summary>
public static class DatasetSources
{
    public static IReadOnlyDictionary<string, IReadOnlyList<RemoteFile>> Files =>
        Datasets.Table.Where(e => e.Files.Count > 0).ToDictionary(e => e.Name, e => e.Files);

    /// <summary>The files of a dataset, with the URL directory replaced by urlBase when given (mirrors,
    /// tests).</summary>
    public static IReadOnlyList<RemoteFile> For(string dataset, string? urlBase)
    {
        var entry = Datasets.Entry(dataset);
        if (entry.ManualDownload is { } manual)
            throw new PagLabException($"{dataset} cannot be fetched automatically: {manual}");
        if (entry.Files.Count == 0)
            throw new PagLabException($"'{dataset}' needs no download (it is generated or built from another dataset)");
        if (string.IsNullOrEmpty(urlBase)) return entry.Files;
        string b = urlBase.EndsWith('/') ? urlBase : urlBase + "/";
        return entry.Files.Select(f => f with { Url = b + f.Name }).ToArray();
    }
}

/// <summary>
/// HTTP downloads that never leave a half file under the final name: data goes to
/// &lt;name&gt;.partial (resumed with a Range request when present), is checked against its SHA-256,
/// then renamed into place.
/// </summary>
public static class Downloader
{
    /// <summary>How long a transfer may go without a byte before it is abandoned (resumable).</summary>
    public static readonly TimeSpan DefaultStallTimeout = TimeSpan.FromSeconds(60);

    public static async Task FetchAsync(RemoteFile file, string folder, IProgressSink progress,
        HttpClient? client = null, CancellationToken cancel = default,
                                        TimeSpan? stallTimeout = null)
    {
        if (!Uri.TryCreate(file.Url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new PagLabException($"{file.Url}: only http:// and https:// URLs can be downloaded");
        Directory.CreateDirectory(folder);
        string final = Path.Combine(folder, file.Name), partial = final + ".partial";
        if (File.Exists(final)
            && file.Matches(Sha256(final))) { progress.Line($"{file.Name}: present and verified"); return; }
        client ??= SharedClient;
        var stall = stallTimeout ?? DefaultStallTimeout;
        using var watchdog = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        watchdog.CancelAfter(stall);
        long have = File.Exists(partial) ? new FileInfo(partial).Length : 0;
        using (var response = await Request(file, uri, have, client, watchdog.Token, stall, cancel))
        {
            if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && have > 0)
            {
                // The server will not resume: the partial file may already be whole; otherwise keep it and say so.
                if (file.Matches(Sha256(partial))) { Finish(file, partial, final, progress); return; }
                throw new PagLabException($"{file.Url}: the server refused to resume (416) and {partial} ({have} "
                    + $"bytes) is not the whole file; delete it and run again");
            }
            if (!response.IsSuccessStatusCode)
                throw new PagLabException($"{file.Url}: server answered {(int)response.StatusCode} "
                    + $"{response.ReasonPhrase}");
            bool resumed = have > 0 && response.StatusCode == HttpStatusCode.PartialContent;
            if (!resumed) have = 0; // the server ignored the range: start over
            long? total = response.Content.Headers.ContentLength is long n ? n + have : null;
            if (total > file.MaxBytes)
                throw new PagLabException($"{file.Url}: the server announces {total} bytes, {file.Name} has "
                    + $"{file.Size}; refused");
            await using var body = await response.Content.ReadAsStreamAsync(watchdog.Token);
            await using var output = new FileStream(partial, resumed ? FileMode.Append : FileMode.Create,
                FileAccess.Write);
            long done = await Copy(file, body, output, have, total, watchdog, stall, progress, cancel);
            if (total is long expected && done < expected)
                throw new PagLabException($"{file.Url}: transfer ended after {done} of {expected} bytes; run the "
                    + $"same command again to resume");
        }
        string digest = Sha256(partial);
        if (!file.Matches(digest))
        {
            File.Delete(partial);
            throw new PagLabException($"{file.Name}: SHA-256 mismatch (got {digest}, expected {file.Sha256}"
                + $"{(file.Sha256.Length < 64 ? "..." : "")}); the "
                + $"download was discarded");
        }
        Finish(file, partial, final, progress);
    }

    /// <summary>The answer to a GET of <paramref name="uri"/> (from byte <paramref name="have"/> on), redirects
    /// followed here, not by the handler, so each target is checked (http or https only).</summary>
    static async Task<HttpResponseMessage> Request(RemoteFile file, Uri uri, long have, HttpClient client,
        CancellationToken watchdog, TimeSpan stall, CancellationToken cancel)
    {
        try
        {
            for (int hop = 0; ; hop++)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, uri);
                if (have > 0) request.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(have, null);
                var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, watchdog);
                if ((int)response.StatusCode is < 300 or >= 400 || response.Headers.Location is null) return response;
                var next = new Uri(uri, response.Headers.Location);
                response.Dispose();
                if (next.Scheme is not ("http" or "https"))
                    throw new PagLabException($"{file.Url}: redirected to {next}, which is not an http or https URL");
                if (hop == 10) throw new PagLabException($"{file.Url}: more than 10 redirects");
                uri = next;
            }
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            throw new PagLabException($"{file.Url}: no answer within {stall.TotalSeconds:F0} s; run the same command "
                + $"again to retry");
        }
        catch (Exception e) when (e is HttpRequestException or InvalidOperationException or NotSupportedException or
            UriFormatException)
        {
            throw new PagLabException($"{file.Url}: download failed ({e.Message.Split('\n')[0]})");
        }
    }

    /// <summary>Copies the body to the partial file, at most MaxBytes in all, each read within the stall timeout;
    /// returns the bytes the partial file holds.</summary>
    static async Task<long> Copy(RemoteFile file, Stream body, Stream output, long have, long? total,
        CancellationTokenSource watchdog, TimeSpan stall, IProgressSink progress, CancellationToken cancel)
    {
        var buffer = new byte[1 << 16];
        long done = have;
        var clock = Stopwatch.StartNew();
        try
        {
            int read;
            while (true)
            {
                watchdog.CancelAfter(stall);
                if ((read = await body.ReadAsync(buffer, watchdog.Token)) <= 0) return done;
                await output.WriteAsync(buffer.AsMemory(0, read), cancel);
                done += read;
                if (done > file.MaxBytes)
                    throw new PagLabException($"{file.Url}: more than {file.MaxBytes} bytes received, "
                        + $"{file.Name} has {file.Size}; the transfer was stopped");
                progress.Update(file.Name, done, total ?? done,
                    $"{done / 1e6 / Math.Max(clock.Elapsed.TotalSeconds, 1e-3):F1} MB/s");
            }
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            throw new PagLabException($"{file.Url}: no data for {stall.TotalSeconds:F0} s after {done} bytes; "
                + $"run the same command again to resume");
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            throw new PagLabException($"{file.Url}: transfer interrupted after {done} bytes ({e.Message}); run "
                + $"the same command again to resume");
        }
    }

    static void Finish(RemoteFile file, string partial, string final, IProgressSink progress)
    {
        File.Move(partial, final, overwrite: true);
        progress.Line($"{file.Name}: downloaded and verified");
    }

    /// <summary>Downloads every file of a dataset into &lt;root&gt;/&lt;name&gt;/ and unpacks archives.</summary>
    public static async Task FetchDatasetAsync(string dataset, string root, string? urlBase, IProgressSink progress,
        HttpClient? client = null)
    {
        string folder = Datasets.Folder(root, dataset);
        foreach (var file in DatasetSources.For(dataset, urlBase))
        {
            await FetchAsync(file, folder, progress, client);
            if (file.Name.EndsWith(".tar.gz", StringComparison.Ordinal)) ExtractCifar(Path.Combine(folder, file.Name),
                folder);
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
                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile)
                    || !wanted.Contains(name) || entry.DataStream is null) continue;
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

    // No overall timeout (a large file on a slow link may take long); the stall timeout above ends a dead transfer.
    static readonly HttpClient SharedClient = new(new SocketsHttpHandler { AllowAutoRedirect = false }) { Timeout =
        Timeout.InfiniteTimeSpan };
}
