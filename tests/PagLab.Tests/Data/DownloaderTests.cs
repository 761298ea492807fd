using System.Net;
using System.Security.Cryptography;
using PagLab.Common;
using PagLab.Data;
using PagLab.Tests.Cli;

namespace PagLab.Tests.Data;

/// <summary>A tiny HTTP server on 127.0.0.1 serving one payload, with switchable faults and Range support.</summary>
sealed class LocalFileServer : IDisposable
{
    readonly HttpListener listener = new();
    public byte[] Payload { get; set; } = Array.Empty<byte>();
    /// <summary>Payloads by URL path (without the leading '/'); other paths get <see cref="Payload"/>.</summary>
    public Dictionary<string, byte[]> Files { get; } = new();
    public int? FailWith { get; set; }            // answer this status code
    public int? CutAfter { get; set; }            // promise the whole payload, send this many bytes, then abort
    public string? RedirectTo { get; set; }       // answer 302 with this Location
    public bool Stall { get; set; }               // send the headers, then nothing
    public bool Endless { get; set; }             // stream the payload again and again, no length
    public List<string?> RangesSeen { get; } = new();
    public string BaseUrl { get; }

    public LocalFileServer()
    {
        var random = new Random();
        for (int attempt = 0; ; attempt++)
        {
            int port = random.Next(20000, 60000);
            BaseUrl = $"http://127.0.0.1:{port}/";
            listener.Prefixes.Clear();
            listener.Prefixes.Add(BaseUrl);
            try { listener.Start(); break; }
            catch (HttpListenerException) when (attempt < 20) { listener.Close(); listener = new HttpListener(); }
        }
        _ = Task.Run(Serve);
    }

    async Task Serve()
    {
        while (listener.IsListening)
        {
            HttpListenerContext context;
            try { context = await listener.GetContextAsync(); } catch (Exception) { return; }
            var response = context.Response;
            string? range = context.Request.Headers["Range"];
            lock (RangesSeen) RangesSeen.Add(range);
            try
            {
                if (FailWith is int status) { response.StatusCode = status; response.Close(); continue; }
                if (RedirectTo is string location) { response.StatusCode = 302; response.RedirectLocation =
                    location; response.Close(); continue; }
                if (Stall || Endless)
                {
                    response.SendChunked = true;
                    await response.OutputStream.WriteAsync(Payload.AsMemory(0, 10));
                    await response.OutputStream.FlushAsync();
                    while (Endless && listener.IsListening) await response.OutputStream.WriteAsync(Payload);
                    if (Stall) await Task.Delay(TimeSpan.FromSeconds(30));
                    response.Abort();
                    continue;
                }
                var payload = Files.GetValueOrDefault(context.Request.Url!.AbsolutePath.TrimStart('/'), Payload);
                long start = 0;
                if (range is not null && range.StartsWith("bytes=", StringComparison.Ordinal))
                {
                    start = long.Parse(range[6..].TrimEnd('-').Split('-')[0]);
                    response.StatusCode = 206;
                    response.AddHeader("Content-Range", $"bytes {start}-{payload.Length - 1}/{payload.Length}");
                }
                var body = payload.AsSpan((int)start).ToArray();
                response.ContentLength64 = body.Length;
                if (CutAfter is int cut && cut < body.Length)
                {
                    await response.OutputStream.WriteAsync(body.AsMemory(0, cut));
                    await response.OutputStream.FlushAsync();
                    response.Abort();
                    continue;
                }
                await response.OutputStream.WriteAsync(body);
                response.Close();
            }
            catch (Exception) { try { response.Abort(); } catch (Exception) { } }
        }
    }

    public void Dispose() { listener.Stop(); listener.Close(); }
}

public class DownloaderTests
{
    static byte[] Payload(int n) { var b = new byte[n]; new Random(3).NextBytes(b); return b; }
    static string Hash(byte[] b) => Convert.ToHexStringLower(SHA256.HashData(b));

    [Fact]
    public async Task GoodFile_IsDownloadedVerifiedAndRenamed()
    {
        using var server = new LocalFileServer { Payload = Payload(300_000) };
        string folder = TestPaths.TempDir("dl");
        var file = new RemoteFile("a.bin", server.BaseUrl + "a.bin", Hash(server.Payload), server.Payload.Length);
        await Downloader.FetchAsync(file, folder, NullProgress.Instance, cancel: TestContext.Current.CancellationToken);
        Assert.Equal(server.Payload, File.ReadAllBytes(Path.Combine(folder, "a.bin")));
        Assert.False(File.Exists(Path.Combine(folder, "a.bin.partial")));
    }

    [Fact]
    public async Task WrongHash_LeavesNoFileAndSaysSo()
    {
        using var server = new LocalFileServer { Payload = Payload(5000) };
        string folder = TestPaths.TempDir("dl");
        var file = new RemoteFile("a.bin", server.BaseUrl + "a.bin", new string('0', 64), server.Payload.Length);
        var e = await Assert.ThrowsAsync<PagLabException>(() => Downloader.FetchAsync(file, folder,
            NullProgress.Instance, cancel: TestContext.Current.CancellationToken));
        Assert.Contains("SHA-256 mismatch", e.Message);
        Assert.Empty(Directory.GetFiles(folder));
    }

    [Fact]
    public async Task TruncatedTransfer_KeepsOnlyThePartial_AndTheNextRunResumesWithARange()
    {
        using var server = new LocalFileServer { Payload = Payload(400_000), CutAfter = 150_000 };
        string folder = TestPaths.TempDir("dl");
        var file = new RemoteFile("a.bin", server.BaseUrl + "a.bin", Hash(server.Payload), server.Payload.Length);
        var e = await Assert.ThrowsAsync<PagLabException>(() => Downloader.FetchAsync(file, folder,
            NullProgress.Instance, cancel: TestContext.Current.CancellationToken));
        Assert.Contains("resume", e.Message);
        Assert.False(File.Exists(Path.Combine(folder, "a.bin")));
        long partial = new FileInfo(Path.Combine(folder, "a.bin.partial")).Length;
        Assert.InRange(partial, 1, 399_999);

        server.CutAfter = null;
        await Downloader.FetchAsync(file, folder, NullProgress.Instance, cancel: TestContext.Current.CancellationToken);
        Assert.Equal(server.Payload, File.ReadAllBytes(Path.Combine(folder, "a.bin")));
        Assert.Equal($"bytes={partial}-", server.RangesSeen[^1]);
    }

    [Fact]
    public async Task ServerError_GivesOneLineErrorWithTheStatus()
    {
        using var server = new LocalFileServer { FailWith = 500 };
        string folder = TestPaths.TempDir("dl");
        var file = new RemoteFile("a.bin", server.BaseUrl + "a.bin", new string('0', 64), server.Payload.Length);
        var e = await Assert.ThrowsAsync<PagLabException>(() => Downloader.FetchAsync(file, folder,
            NullProgress.Instance, cancel: TestContext.Current.CancellationToken));
        Assert.Contains("500", e.Message);
        Assert.DoesNotContain("\n", e.Message);
        Assert.Empty(Directory.GetFiles(folder));
    }

    [Fact]
    public async Task StalledServer_IsAbandonedAfterTheStallTimeout_KeepingThePartial()
    {
        using var server = new LocalFileServer { Payload = Payload(5000), Stall = true };
        string folder = TestPaths.TempDir("dl");
        var file = new RemoteFile("a.bin", server.BaseUrl + "a.bin", Hash(server.Payload), server.Payload.Length);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<PagLabException>(() => Downloader.FetchAsync(file, folder,
            NullProgress.Instance,
            cancel: TestContext.Current.CancellationToken, stallTimeout: TimeSpan.FromSeconds(1)));
        Assert.InRange(clock.Elapsed.TotalSeconds, 0.9, 15);
        Assert.Contains("no data for 1 s after 10 bytes", e.Message);
        Assert.Equal(10, new FileInfo(Path.Combine(folder, "a.bin.partial")).Length);
    }

    [Fact]
    public async Task EndlessServer_IsStoppedAtTheSizeCap()
    {
        using var server = new LocalFileServer { Payload = Payload(64 * 1024), Endless = true };
        string folder = TestPaths.TempDir("dl");
        var file = new RemoteFile("a.bin", server.BaseUrl + "a.bin", Hash(server.Payload), server.Payload.Length);
        var e = await Assert.ThrowsAsync<PagLabException>(() => Downloader.FetchAsync(file, folder,
            NullProgress.Instance, cancel: TestContext.Current.CancellationToken));
        Assert.Contains($"more than {file.MaxBytes} bytes", e.Message);
        Assert.InRange(new FileInfo(Path.Combine(folder, "a.bin.partial")).Length, file.MaxBytes,
            file.MaxBytes + (1 << 16));
    }

    [Fact]
    public async Task RangeNotSatisfiable_KeepsThePartialAndSaysSo()
    {
        using var server = new LocalFileServer { Payload = Payload(5000), FailWith = 416 };
        string folder = TestPaths.TempDir("dl");
        File.WriteAllBytes(Path.Combine(folder, "a.bin.partial"), new byte[100]);
        var file = new RemoteFile("a.bin", server.BaseUrl + "a.bin", Hash(server.Payload), server.Payload.Length);
        var e = await Assert.ThrowsAsync<PagLabException>(() => Downloader.FetchAsync(file, folder,
            NullProgress.Instance, cancel: TestContext.Current.CancellationToken));
        Assert.Contains("refused to resume (416)", e.Message);
        Assert.Equal(100, new FileInfo(Path.Combine(folder, "a.bin.partial")).Length);

        // A partial that is already the whole file is accepted.
        File.WriteAllBytes(Path.Combine(folder, "a.bin.partial"), server.Payload);
        await Downloader.FetchAsync(file, folder, NullProgress.Instance, cancel: TestContext.Current.CancellationToken);
        Assert.Equal(server.Payload, File.ReadAllBytes(Path.Combine(folder, "a.bin")));
    }

    [Theory]
    [InlineData("file:///etc/passwd")]
    [InlineData("ftp://127.0.0.1/a.bin")]
    public async Task RedirectOrUrlOutsideHttp_GivesOneLine(string target)
    {
        using var server = new LocalFileServer { Payload = Payload(100), RedirectTo = target };
        string folder = TestPaths.TempDir("dl");
        var token = TestContext.Current.CancellationToken;
        var redirected = new RemoteFile("a.bin", server.BaseUrl + "a.bin", Hash(server.Payload), 100);
        var e = await Assert.ThrowsAsync<PagLabException>(() => Downloader.FetchAsync(redirected, folder,
            NullProgress.Instance, cancel: token));
        Assert.Contains(target, e.Message);
        var direct = redirected with { Url = target };
        e = await Assert.ThrowsAsync<PagLabException>(() => Downloader.FetchAsync(direct, folder, NullProgress.Instance,
            cancel: token));
        Assert.Contains("only http:// and https://", e.Message);
        var r = CliProcess.Run("data", "fetch", "mnist", "--data-root", folder, "--url-base", target);
        Assert.Equal(2, r.ExitCode);
        Assert.Single(r.Stderr.Trim().Split('\n'));
    }

    [Fact]
    public void Cli_FetchFromAMirrorServingWrongBytes_FailsCleanly_AndLeavesNoDataset()
    {
        using var server = new LocalFileServer { Payload = Payload(1000) };
        string root = TestPaths.TempDir("root");
        var r = CliProcess.Run("data", "fetch", "mnist", "--data-root", root, "--url-base", server.BaseUrl);
        Assert.Equal(2, r.ExitCode);
        var line = Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.Contains("SHA-256 mismatch", line);
        Assert.False(File.Exists(Path.Combine(root, "mnist", "train-images-idx3-ubyte.gz")));
    }

    [Fact]
    public void Sources_AreOfficialHttpsOrHttpUrlsWithFullDigests()
    {
        foreach (var (name, files) in DatasetSources.Files)
            Assert.All(files, f =>
            {
                Assert.Matches("^[0-9a-f]{64}$", f.Sha256);
                Assert.EndsWith(f.Name, f.Url);
            });
        Assert.Throws<PagLabException>(() => DatasetSources.For("imagenet64", null));
    }
}
