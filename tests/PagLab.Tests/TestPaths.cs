namespace PagLab.Tests;

/// <summary>Where the shared test data lives (set by .ci/run), and fresh temp folders.</summary>
public static class TestPaths
{
    public static string? DataRoot => Environment.GetEnvironmentVariable("PAGLAB_DATA") is { Length: > 0 } d
        && Directory.Exists(d) ? d : null;
    /// <summary>The LPIPS-SqueezeNet weights shipped with PagLab (copied beside the test binaries by the build): the
    /// tests that use LPIPS always run.</summary>
    public static string LpipsWeights
    {
        get
        {
            Assert.True(File.Exists(PagLab.Metrics.Lpips.BundledWeights), "the build did not copy the shipped LPIPS "
                + $"weights to {PagLab.Metrics.Lpips.BundledWeights}");
            return PagLab.Metrics.Lpips.BundledWeights;
        }
    }

    /// <summary>The shared data root, or a visible skip when it is absent.</summary>
    public static string RequireDataRoot()
    {
        Assert.SkipWhen(DataRoot is null,
            "PAGLAB_DATA is not set or missing (run through .ci/run with ../shared present)");
        return DataRoot!;
    }

    /// <summary>The repository's root: the first folder above the test binaries that holds PagLab.sln.</summary>
    public static string RepoRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "PagLab.sln"))) return dir.FullName;
            throw new InvalidOperationException("PagLab.sln not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>A fresh folder under one per-run root, removed when the test process exits.</summary>
    public static string TempDir(string prefix = "t") => Directory.CreateDirectory(Path.Combine(Root.Value,
        $"{prefix}-{Guid.NewGuid():N}")).FullName;

    static readonly Lazy<string> Root = new(() =>
    {
        string root = Directory.CreateTempSubdirectory("paglab-tests-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(root,
            recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { } };
        return root;
    });
}
