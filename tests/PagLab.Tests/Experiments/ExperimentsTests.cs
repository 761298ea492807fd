using System.Diagnostics;
using PagLab.Common;
using PagLab.Experiments;
using PagLab.IO;
using PagLab.Reporting;
using PagLab.Tests.Cli;

namespace PagLab.Tests.Experiments;

public class SigmaGridTests
{
    [Fact]
    public void Parse_ExpandsLogspaceAndLinspace_InOrder()
    {
        var v = SigmaGrid.Parse("0,logspace(-2,1,4),linspace(0.5,1,3)");
        Assert.Equal(new[] { 0, 0.01, 0.1, 1, 10, 0.5, 0.75, 1 }, v.Select(x => Math.Round(x, 10)).ToArray());
    }

    [Theory]
    [InlineData("logspace(1,2)")]
    [InlineData("1,,x")]
    [InlineData("powspace(1,2,3)")]
    [InlineData("-1")]
    [InlineData("logspace(1,2,3")]
    public void Parse_RejectsNonsense_WithOneLine(string text)
    {
        var e = Assert.Throws<PagLabException>(() => SigmaGrid.Parse(text));
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void SpecGrid_IsParsedWhenRead_AndWrittenBackAsItsText()
    {
        var settings = System.Text.Json.JsonSerializer.Deserialize<MeasureSettings>(
            "{\"distractorSigmas\": \"0,linspace(0.5,1,3)\"}", JsonFiles.Options)!;
        Assert.Equal(new[] { 0, 0.5, 0.75, 1 }, settings.DistractorSigmas.Values);
        var written = System.Text.Json.Nodes.JsonNode.Parse(
            System.Text.Json.JsonSerializer.Serialize(settings, JsonFiles.Options))!;
        Assert.Equal("0,linspace(0.5,1,3)", written["distractorSigmas"]!.GetValue<string>());
        Assert.Equal(new MeasureSettings().DistractorSigmas, new SigmaGrid("0,logspace(-2,0.5,10)"));   // by text
    }
}

public class JobLockTests
{
    [Fact]
    public void Lock_IsExclusiveWhileItsOwnerLives_AndTakenOverWhenTheOwnerIsDead()
    {
        string path = Path.Combine(TestPaths.TempDir("lock"), "job.lock");
        using (var first = JobLock.TryAcquire(path))
        {
            Assert.NotNull(first);
            // A live owner (this process, as another would see it): a second claim by a live pid fails.
            var me = JobLock.Me();
            Assert.True(JobLock.IsAlive(me));
        }
        Assert.False(File.Exists(path));

        // A lock left by a process that has exited is stale and is taken over.
        using var dead = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!;
        dead.WaitForExit();
        var ghost = JobLock.Me() with { Pid = dead.Id };
        File.WriteAllText(path, System.Text.Json.JsonSerializer.Serialize(ghost, JsonFiles.Options));
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(-5));
        Assert.False(JobLock.IsAlive(ghost));
        using var taken = JobLock.TryAcquire(path);
        Assert.NotNull(taken);
        Assert.Equal(Environment.ProcessId, JobLock.ReadOwner(path)!.Pid);
    }

    [Fact]
    public void Lock_HeldByAnotherLiveProcess_IsRefused()
    {
        string path = Path.Combine(TestPaths.TempDir("lock"), "job.lock");
        using var sleeper = Process.Start(new ProcessStartInfo("sleep", "30") { UseShellExecute = false })!;
        try
        {
            var other = JobLock.Me() with { Pid = sleeper.Id, StartTicks = StartTicksOf(sleeper.Id) };
            File.WriteAllText(path, System.Text.Json.JsonSerializer.Serialize(other, JsonFiles.Options));
            Assert.Null(JobLock.TryAcquire(path));
        }
        finally { sleeper.Kill(); }
    }

    static long StartTicksOf(int pid)
    {
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        return long.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[19]);
    }
}

public class SweepTests
{
    [Fact]
    public async Task TwoProcessesOnOneFolder_RunEveryJobExactlyOnce()
    {
        var spec = TinySweep.Spec(strengths: 2);
        string specPath = TinySweep.Write(spec), dir = TestPaths.TempDir("sweep");
        var a = Process.Start(CliProcess.StartInfo("sweep", "run", specPath, "--out", dir, "--threads", "1"))!;
        var b = Process.Start(CliProcess.StartInfo("sweep", "run", specPath, "--out", dir, "--threads", "1"))!;
        var token = TestContext.Current.CancellationToken;
        var outA = a.StandardOutput.ReadToEndAsync(token); var outB = b.StandardOutput.ReadToEndAsync(token);
        Assert.True(a.WaitForExit(TimeSpan.FromMinutes(4)) && b.WaitForExit(TimeSpan.FromMinutes(4)));
        Assert.Equal(0, a.ExitCode); Assert.Equal(0, b.ExitCode);
        var jobs = spec.Jobs();
        Assert.All(jobs, j => Assert.True(File.Exists(new SweepFolder(dir).Job(j).Result)));
        // Each job trained exactly once: one "job ...: completed" line over both processes.
        var lines = (await outA + await outB).Split('\n').Where(l => l.StartsWith("job ",
            StringComparison.Ordinal) && l.Contains(": completed")).ToList();
        Assert.Equal(jobs.Count, lines.Count);
        Assert.Equal(jobs.Count, lines.Distinct().Count());
    }

    [Fact]
    public void SweepKilledMidway_RestartsWithoutRerunningCompletedJobs()
    {
        var spec = TinySweep.Spec(strengths: 2);
        string specPath = TinySweep.Write(spec), dir = TestPaths.TempDir("sweep");
        var jobs = spec.Jobs();
        string first = new SweepFolder(dir).Job(jobs[0]).Result;
        using (var p = Process.Start(CliProcess.StartInfo("sweep", "run", specPath, "--out", dir, "--threads", "1"))!)
        {
            var clock = Stopwatch.StartNew();
            while (!File.Exists(first) && clock.Elapsed < TimeSpan.FromMinutes(3)) Thread.Sleep(50);
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
        }
        Assert.True(File.Exists(first));
        var stamp = File.GetLastWriteTimeUtc(first);
        var r = CliProcess.Run("sweep", "run", specPath, "--out", dir, "--threads", "1");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.DoesNotContain($"job {jobs[0].Id}:", r.Stdout);
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(first));
        Assert.All(jobs, j => Assert.Equal(JobState.Completed, SweepRunner.State(new SweepFolder(dir), j)));

        var status = CliProcess.Run("sweep", "status", dir);
        Assert.Contains($"{jobs.Count} completed", status.Stdout);
        string csv = Path.Combine(dir, "results.csv");
        Assert.Equal(0, CliProcess.Run("results", dir, "--out", csv).ExitCode);
        Assert.Equal(jobs.Count + 1, File.ReadAllLines(csv).Length);
    }

    [Fact]
    public void SweepRun_EndingWithAJobNotDone_ExitsNonZeroAndNamesIt()
    {
        var spec = TinySweep.Spec() with { Measure = TinySweep.Spec().Measure with { Manifold = false,
            Alignment = false } };
        string specPath = TinySweep.Write(spec), dir = TestPaths.TempDir("sweep");
        var bad = spec.Jobs()[1];
        // a sweep folder (its spec, as a run that was stopped leaves it) whose second job's run folder is blocked
        File.Copy(specPath, new SweepFolder(dir).Spec);
        Directory.CreateDirectory(new SweepFolder(dir).Job(bad).Root);
        File.WriteAllText(new SweepFolder(dir).Job(bad).Train, "a file where the run folder goes");
        var r = CliProcess.Run("sweep", "run", specPath, "--out", dir, "--threads", "1");
        Assert.Equal(4, r.ExitCode);
        Assert.Contains($"error: 1 job(s) not done: {bad.Id} (failed)", r.Stderr);
        Assert.Equal(JobState.Completed, SweepRunner.State(new SweepFolder(dir), spec.Jobs()[0]));
    }

    [Fact]
    public void SweepJob_FreesEveryTensorItMade_BeforeTheNextJob()
    {
        // Tensors a job drops must be freed on this thread when the job ends: left to the GC finalizer
        // thread, they are freed while the next job runs libtorch, which can corrupt the native heap.
        using var outer = TorchSharp.torch.NewDisposeScope();
        var spec = TinySweep.Spec(strengths: 1);
        string dir = TestPaths.TempDir("sweep");
        Assert.Equal(JobState.Completed, SweepRunner.RunOne(spec, new SweepFolder(dir), 0, NullProgress.Instance));
        Assert.Equal(0, outer.DisposablesCount);
        Assert.Equal(JobState.Completed, SweepRunner.RunOne(spec, new SweepFolder(dir), 1, NullProgress.Instance));
        Assert.Equal(0, outer.DisposablesCount);
    }

    [Fact]
    public void FolderOfAnotherSweep_IsRefused()
    {
        string dir = TestPaths.TempDir("sweep");
        new SweepFolder(dir).Prepare(TinySweep.Spec());
        var e = Assert.Throws<PagLabException>(
            () => new SweepFolder(dir).Prepare(TinySweep.Spec() with { Name = "other" }));
        Assert.Contains("different sweep", e.Message);
    }

    [Fact]
    public void SlurmScript_RunsOneJobPerArrayTask_WithRequeue()
    {
        var spec = TinySweep.Spec(strengths: 2);
        string text = SlurmScript.Build(spec, "/x/spec.json", new SweepFolder("/x/out"), "paglab");
        Assert.Contains($"#SBATCH --array=0-{spec.Jobs().Count - 1}", text);
        Assert.Contains("#SBATCH --requeue", text);
        Assert.Contains("sweep run-one '/x/spec.json' --out '/x/out' --index \"$SLURM_ARRAY_TASK_ID\"", text);
    }
}

public class SweepSpecFileTests
{
    static string Examples => Path.Combine(TestPaths.RepoRoot, "examples");

    [Fact]
    public void YamlSpec_ReadsAsTheSameSweepAsItsJsonTwin()
    {
        var json = SweepSpec.Load(Path.Combine(Examples, "tiny-sweep.json"));
        var yaml = SweepSpec.Load(Path.Combine(Examples, "tiny-sweep.yaml"));
        Assert.Equal(System.Text.Json.JsonSerializer.Serialize(json, JsonFiles.Options),
            System.Text.Json.JsonSerializer.Serialize(yaml, JsonFiles.Options));
        Assert.Equal(json.Jobs().Select(j => j.Id), yaml.Jobs().Select(j => j.Id));
        Assert.Equal(PagLab.Manifold.TangentEstimator.True, yaml.Shared.TangentEstimator);
    }

    [Fact]
    public void YamlScalars_FollowTheCoreSchema()
    {
        var node = YamlFiles.ToJson("a: 1\nb: -2.5e-3\nc: true\nd: ~\ne: 'true'\nf: .inf\ng: [x, 2]\n")!;
        Assert.Equal(1, node["a"]!.GetValue<long>());
        Assert.Equal(-2.5e-3, node["b"]!.GetValue<double>());
        Assert.True(node["c"]!.GetValue<bool>());
        Assert.Null(node["d"]);
        Assert.Equal("true", node["e"]!.GetValue<string>());
        Assert.Equal("Infinity", node["f"]!.GetValue<string>());
        Assert.Equal("x", node["g"]![0]!.GetValue<string>());
    }

    [Theory]
    [InlineData("name: [unclosed\n", "invalid YAML at line")]
    [InlineData("datasets: {a: 1}\n", "unexpected value")]
    [InlineData("datasets: [nosuch]\nobjectives: [{name: standard}]\nseeds: [0]\n", "unknown dataset 'nosuch'")]
    [InlineData("datasets: [shapes]\nobjectives: [{name: standard}]\nshared: {denoiserBatchSize: 0}\n",
        "shared.denoiserBatchSize must be in 1..65536, got 0")]
    public void BadYamlSpec_GivesOneLineNamingTheFile(string text, string expected)
    {
        string path = Path.Combine(TestPaths.TempDir("spec"), "spec.yaml");
        File.WriteAllText(path, text);
        var e = Assert.ThrowsAny<PagLabException>(() => SweepSpec.Load(path));
        Assert.Contains(expected, e.Message);
        Assert.Contains(path, e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }
}

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class JobLockRaceTests
{
    /// <summary>
    /// Eight paglab processes race for a stale lock (its owner dead) in each of 10 rounds, all at the same
    /// wall-clock instant: exactly one wins every round.
    /// </summary>
    [Fact]
    public async Task ManyProcesses_TakingOverADeadOwnersLockAtOnce_YieldOneWinnerPerRound()
    {
        const int racers = 8, rounds = 10;
        string dir = TestPaths.TempDir("race");
        using var dead = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!;
        dead.WaitForExit();
        string ghost = System.Text.Json.JsonSerializer.Serialize(JobLock.Me() with { Pid = dead.Id },
            JsonFiles.Options);
        var locks = Enumerable.Range(0, rounds).Select(r => Path.Combine(dir, $"round{r}", "job.lock")).ToArray();
        foreach (var l in locks)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(l)!);
            File.WriteAllText(l, ghost);
            File.SetLastWriteTimeUtc(l, DateTime.UtcNow.AddMinutes(-5));
        }
        string go = Path.Combine(dir, "go"), done = Path.Combine(dir, "done");
        var processes = Enumerable.Range(0, racers)
            .Select(_ => Process.Start(CliProcess.StartInfo(new[] { "sweep", "try-lock", "--go", go, "--interval",
                "150", "--done", done }.Concat(locks).ToArray()))!)
            .ToList();
        var token = TestContext.Current.CancellationToken;
        foreach (var p in processes) Assert.Equal("ready", await p.StandardOutput.ReadLineAsync(token));
        File.WriteAllText(go + ".tmp", (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 300).ToString());
        File.Move(go + ".tmp", go);
        // Winners hold their locks until every racer has raced every round (a late racer must find them alive).
        var lines = new List<string>();
        foreach (var p in processes)
            for (int r = 0; r < rounds; r++)
                lines.Add((await p.StandardOutput.ReadLineAsync(token))!);
        File.WriteAllText(done, "");
        foreach (var p in processes) { p.WaitForExit(); Assert.Equal(0, p.ExitCode); p.Dispose(); }
        Assert.Equal(racers * rounds, lines.Count);
        // A racer may come late to a round on a loaded machine ("late"); the round still has one winner.
        for (int r = 0; r < rounds; r++)
            Assert.Single(lines, l => l.StartsWith($"{r} acquired", StringComparison.Ordinal));
    }
}
