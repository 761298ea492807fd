using System.Diagnostics;
using PagLab.Common;
using PagLab.Experiments;
using PagLab.IO;
using PagLab.Tests.Cli;
using PagLab.Tests.Experiments;
using PagLab.Training;

namespace PagLab.Tests.IO;

/// <summary>Issue 21.4: JSON and YAML are read only from regular files, up to a size limit, and never hang.</summary>
public class UserFileTests
{
    static void MakeFifo(string path)
    {
        using var mkfifo = Process.Start("mkfifo", [path]);
        mkfifo.WaitForExit();
        Assert.Equal(0, mkfifo.ExitCode);
    }

    /// <summary>Runs <paramref name="read"/> on another thread, failing (not hanging) if it takes over 10 s.</summary>
    static T Within10Seconds<T>(Func<T> read)
    {
        var task = Task.Run(read);
        Assert.True(task.Wait(TimeSpan.FromSeconds(10)), "the read did not return within 10 s");
        return task.Result;
    }

    [Fact]
    public void Fifo_DevZero_AndAnOversizedFile_AreRefusedAtOnce()
    {
        string dir = TestPaths.TempDir("user-file");
        string fifo = Path.Combine(dir, "model.json"), zero = Path.Combine(dir, "zero.json");
        MakeFifo(fifo);
        File.CreateSymbolicLink(zero, "/dev/zero");
        string huge = Path.Combine(dir, "huge.json");
        using (var f = File.Create(huge)) f.SetLength(UserFile.MaxBytes + 1);     // sparse: no disk used
        foreach (var (path, expected) in new[]
        {
            (fifo, "not a regular file (a FIFO or a device)"), (zero, "not a regular file (a FIFO or a device)"),
            (huge, "larger than the 64 MB"),
        })
        {
            var e = Within10Seconds(() => Record.Exception(() => JsonFiles.Read<Dictionary<string, int>>(path)))!;
            Assert.IsType<DataFormatException>(e);
            Assert.Contains(expected, e.Message);
            Assert.StartsWith(path, e.Message);
        }
        foreach (var binary in new[] { fifo, zero })
        {
            var e = Within10Seconds(() => Record.Exception(() => SafeTensors.Read(binary, out _)))!;
            Assert.Contains("not a regular file", e.Message);
        }
        var yaml = Within10Seconds(() => Record.Exception(() => YamlFiles.Read<Dictionary<string, int>>(zero)))!;
        Assert.Contains("not a regular file", yaml.Message);
    }

    [Fact]
    public void RegularFile_IsReadWhole_WithItsByteOrderMark()
    {
        string path = Path.Combine(TestPaths.TempDir("user-file"), "a.json");
        File.WriteAllText(path, "{\"a\": 1}", new System.Text.UTF8Encoding(true));
        Assert.Equal(1, JsonFiles.Read<Dictionary<string, int>>(path)["a"]);
    }

    /// <summary>A sweep's `models` entry whose model.json is a FIFO or /dev/zero: `sweep run` says so in one line,
    /// in seconds (it hung, or ran out of memory).</summary>
    [Theory]
    [InlineData("fifo")]
    [InlineData("/dev/zero")]
    public void SweepModelsEntry_WithAFifoOrDevZeroModelJson_IsOneLineErrorWithinSeconds(string kind)
    {
        string specPath = TinySweep.Write(TinySweep.Spec() with
        {
            Models = [new ImportedModel { Name = "odd", Path = "odd-model", Dataset = "subspace-gaussians" }],
        });
        string model = Path.Combine(Path.GetDirectoryName(specPath)!, "odd-model");
        Directory.CreateDirectory(model);
        string info = Path.Combine(model, "model.json");
        if (kind == "fifo") MakeFifo(info); else File.CreateSymbolicLink(info, kind);
        var clock = Stopwatch.StartNew();
        var r = CliProcess.Run(TimeSpan.FromSeconds(60), "sweep", "run", specPath, "--out",
            Path.Combine(TestPaths.TempDir("sweep"), "s"));
        Assert.Equal(2, r.ExitCode);
        Assert.Single(r.Stderr.TrimEnd('\n').Split('\n'));
        Assert.Contains($"{info}: empty, or not a regular file (a FIFO or a device)", r.Stderr);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"took {clock.Elapsed}");
    }

    [Fact]
    public void EmptyMetricsFile_OfARunBeforeItsFirstEpoch_ReadsAsNoMetrics()
    {
        string dir = TestPaths.TempDir("run");
        File.WriteAllText(Path.Combine(dir, RunFiles.Metrics), "");
        Assert.Empty(RunFiles.ReadMetrics(dir));
    }
}
