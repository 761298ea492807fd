using System.Diagnostics;
using PagLab.Common;
using PagLab.Experiments;
using PagLab.IO;
using PagLab.Tests.Cli;

namespace PagLab.Tests.Experiments;

/// <summary>No path, name or option ever reaches a shell as code: workers start from argument lists, sbatch lines are
/// checked and quoted.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class InjectionTests
{
    const string HostileFile = "x'$(touch INJECTED)'.json";

    static string Shell(string script, string cwd, params (string Name, string Value)[] env)
    {
        var info = new ProcessStartInfo("bash") { UseShellExecute = false, RedirectStandardOutput = true,
            RedirectStandardError = true, WorkingDirectory = cwd };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(script);
        foreach (var (name, value) in env) info.Environment[name] = value;
        using var p = Process.Start(info)!;
        string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        return output;
    }

    [Theory]
    [InlineData("plain")]
    [InlineData("Bob's sweeps")]
    [InlineData(HostileFile)]
    [InlineData("a\nb; rm -rf x `id` $HOME \\ \"q\" '' ")]
    public void Quote_GivesTheShellBackExactlyTheValue(string value)
    {
        string dir = TestPaths.TempDir("quote");
        string echoed = Shell($"printf '%s' {SlurmScript.Quote(value)}", dir);
        Assert.Equal(value, echoed);
        Assert.False(File.Exists(Path.Combine(dir, "INJECTED")));
    }

    [Fact]
    public void SbatchScript_PassesAHostileSpecPathAsOneArgument_AndRunsNothingElse()
    {
        string dir = TestPaths.TempDir("sbatch");
        string specPath = Path.Combine(dir, HostileFile), outDir = Path.Combine(dir, "out");
        // A stand-in for paglab that records its arguments one per line.
        string fake = Path.Combine(dir, "fake-paglab");
        File.WriteAllText(fake, "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$ARGS_FILE\"\n");
        File.SetUnixFileMode(fake, (UnixFileMode)0b111_101_101);
        string script = Path.Combine(dir, "sweep.sbatch");
        File.WriteAllText(script,
            SlurmScript.Build(TinySweep.Spec(), specPath, new SweepFolder(outDir), SlurmScript.Quote(fake)));
        Shell($"bash {SlurmScript.Quote(script)}", dir, ("SLURM_ARRAY_TASK_ID", "1"), ("ARGS_FILE", Path.Combine(dir,
            "args.txt")));
        Assert.False(File.Exists(Path.Combine(dir, "INJECTED")));
        Assert.Equal(new[] { "sweep", "run-one", specPath, "--out", outDir, "--index", "1", "--threads", "2" },
            File.ReadAllLines(Path.Combine(dir, "args.txt")));
    }

    [Theory]
    [InlineData("tiny\n#SBATCH --wrap=id")]
    [InlineData("a b")]
    [InlineData("$(id)")]
    [InlineData("")]
    public void SpecNameOutsideTheSafeSet_IsRefused_BeforeAnythingIsWritten(string name)
    {
        string dir = TestPaths.TempDir("slurm");
        string specPath = Path.Combine(dir, "spec.json"), outDir = Path.Combine(dir, "out");
        JsonFiles.Write(specPath, TinySweep.Spec() with { Name = name });
        var e = Assert.Throws<PagLabException>(() => SweepSpec.Load(specPath));
        Assert.Contains("'name'", e.Message);
        Assert.DoesNotContain("\n", e.Message);
        var r = CliProcess.Run("sweep", "slurm", specPath, "--out", outDir);
        Assert.Equal(2, r.ExitCode);
        Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.False(Directory.Exists(outDir));
    }

    [Theory]
    [InlineData("--partition", "debug\n#SBATCH --wrap=id")]
    [InlineData("--time", "1:00; id")]
    public void HostileSlurmOptions_AreRefused_BeforeAnythingIsWritten(string option, string value)
    {
        string dir = TestPaths.TempDir("slurm");
        string specPath = TinySweep.Write(TinySweep.Spec()), outDir = Path.Combine(dir, "out");
        var r = CliProcess.Run("sweep", "slurm", specPath, "--out", outDir, option, value);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(option, r.Stderr);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void SlurmOutputFolderWithAnApostrophe_IsRefusedWithOneLine()
    {
        string outDir = Path.Combine(TestPaths.TempDir("slurm"), "Bob's sweeps");
        var e = Assert.Throws<PagLabException>(
            () => SlurmScript.Build(TinySweep.Spec(), "/x/spec.json", new SweepFolder(outDir), "paglab"));
        Assert.Contains("#SBATCH", e.Message);
    }

    [Fact]
    public async Task Workers_InAFolderWithAnApostrophe_WithAHostileSpecFileName_FinishEveryJobAndRunNothingElse()
    {
        string root = TestPaths.TempDir("workers");
        string folder = Directory.CreateDirectory(Path.Combine(root, "Bob's sweeps")).FullName;
        string specPath = Path.Combine(folder, HostileFile);
        var spec = TinySweep.Spec() with { Measure = TinySweep.Spec().Measure with { Manifold = false,
            Alignment = false } };
        JsonFiles.Write(specPath, spec);
        var info = CliProcess.StartInfo("sweep", "run", specPath, "--out", Path.Combine(folder, "out"), "--workers",
            "2", "--threads", "1");
        info.WorkingDirectory = folder;
        using var p = Process.Start(info)!;
        var stderr = p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(3)));
        Assert.True(p.ExitCode == 0, await stderr);
        Assert.Empty(Directory.GetFiles(root, "INJECTED", SearchOption.AllDirectories));
        var sweep = new SweepFolder(Path.Combine(folder, "out"));
        Assert.All(spec.Jobs(), j => Assert.Equal(JobState.Completed, SweepRunner.State(sweep, j)));
        Assert.Contains("jobs done", File.ReadAllText(Path.Combine(folder, "out", "logs", "worker0.log")));
    }
}
