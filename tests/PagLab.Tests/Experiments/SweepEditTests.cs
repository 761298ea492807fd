using PagLab.Common;
using PagLab.Experiments;
using PagLab.IO;
using PagLab.Tests.Cli;
using PagLab.Training;

namespace PagLab.Tests.Experiments;

/// <summary>
/// Issue 21.4: a sweep folder's jobs never change. Jobs are numbered by their place in the spec, so a seed added to
/// (or removed from) spec.json renumbered every later job, kept the old folders and made `results` write duplicates;
/// now an edited spec.json is refused, in both directions, by run, status and results alike.
/// </summary>
public class SweepEditTests
{
    static SweepSpec WithSeeds(params long[] seeds) => TinySweep.Spec() with { Seeds = seeds };

    /// <summary>A prepared sweep folder whose spec.json is then rewritten with <paramref name="edited"/>.</summary>
    static SweepFolder EditedSweep(SweepSpec began, SweepSpec edited)
    {
        var sweep = new SweepFolder(Path.Combine(TestPaths.TempDir("sweep"), "s"));
        sweep.Prepare(began);
        JsonFiles.Write(sweep.Spec, edited);
        return sweep;
    }

    [Theory]
    [InlineData(new long[] { 0 }, new long[] { 0, 1 }, "it makes 6 jobs, the sweep began with 3")]
    [InlineData(new long[] { 0, 1 }, new long[] { 1 }, "it makes 3 jobs, the sweep began with 6")]
    public void SeedAddedOrRemovedInSpecJson_IsRefused_NothingIsRenumbered(long[] began, long[] edited,
        string expected)
    {
        var spec = WithSeeds(began) with { Objectives = TinySweep.Spec(strengths: 2).Objectives };
        var now = spec with { Seeds = edited };
        var sweep = EditedSweep(spec, now);
        var run = Assert.Throws<PagLabException>(() => sweep.Prepare(SweepSpec.Load(sweep.Spec)));
        Assert.Contains($"{sweep.Spec} was edited after the sweep began ({expected})", run.Message);
        Assert.Contains("restore it from spec-at-start.json", run.Message);
        Assert.False(Directory.Exists(sweep.JobsRoot));
        Assert.Throws<PagLabException>(() => SweepFolder.Open(sweep.Root).ReadSpec());   // status, results, report
        // the spec as it began still runs there
        File.Copy(sweep.StartedSpec, sweep.Spec, overwrite: true);
        sweep.Prepare(SweepSpec.Load(sweep.Spec));
    }

    [Fact]
    public void EditedSpecJson_IsRefusedByTheCli_InOneLine()
    {
        var sweep = EditedSweep(WithSeeds(0), WithSeeds(0, 1));
        var r = CliProcess.Run("sweep", "run", sweep.Spec, "--out", sweep.Root);
        Assert.Equal(2, r.ExitCode);
        Assert.Single(r.Stderr.TrimEnd('\n').Split('\n'));
        Assert.Contains("was edited after the sweep began (it makes 4 jobs, the sweep began with 2)", r.Stderr);
        var results = CliProcess.Run("results", sweep.Root, "--out", Path.Combine(TestPaths.TempDir("r"), "r.csv"));
        Assert.Equal(2, results.ExitCode);
        Assert.Contains("was edited after the sweep began", results.Stderr);
    }

    [Fact]
    public void FolderFromBeforeTheCopy_IsJudgedByItsJobFolders_ThenGetsTheCopy()
    {
        var spec = WithSeeds(0);
        var sweep = new SweepFolder(Path.Combine(TestPaths.TempDir("sweep"), "s"));
        sweep.Prepare(spec);
        File.Delete(sweep.StartedSpec);                               // as an older PagLab left it
        foreach (var job in spec.Jobs()) Directory.CreateDirectory(sweep.Job(job).Root);
        JsonFiles.Write(sweep.Spec, WithSeeds(0, 1));                 // renumbers jobs 001 and 002
        var e = Assert.Throws<PagLabException>(() => sweep.Prepare(SweepSpec.Load(sweep.Spec)));
        Assert.Contains("1 job folder(s) are not jobs of it (e.g. jobs/001-subspace-gaussians-gnorm-0.1-s0)",
            e.Message);
        Assert.False(File.Exists(sweep.StartedSpec));

        JsonFiles.Write(sweep.Spec, spec);
        sweep.Prepare(SweepSpec.Load(sweep.Spec));
        Assert.Equal(File.ReadAllText(sweep.Spec), File.ReadAllText(sweep.StartedSpec));
    }

    [Fact]
    public void Status_ListsAnImportedModelsJob_AsImported()
    {
        string specPath = TinySweep.Write(TinySweep.Spec() with
        {
            Models = [new ImportedModel { Name = "lin", Path = "lin-model", Dataset = "subspace-gaussians" }],
        });
        Trainer.Run(new TrainConfig
        {
            Dataset = "subspace-gaussians", Arch = PagLab.Models.Architecture.Linear, Epochs = 1, TrainSize = 200, TestSize = 64, Seed = 7,
        }, Path.Combine(Path.GetDirectoryName(specPath)!, "lin-model"), NullProgress.Instance);
        var sweep = new SweepFolder(Path.Combine(TestPaths.TempDir("sweep"), "s"));
        sweep.Prepare(SweepSpec.Load(specPath));
        var r = CliProcess.Run("sweep", "status", sweep.Root);
        Assert.True(r.ExitCode == 0, r.Stderr);
        // the table wraps long cells onto a second line: each job's first line starts with its index
        string Row(int index) => r.Stdout.Split('\n').Single(l => l.StartsWith($"│ {index} │"));
        Assert.Contains("│ imported (lin) │", Row(2));
        Assert.DoesNotContain("standard", Row(2));
        Assert.Contains("│ standard ", Row(0));
    }

    [Theory]
    [InlineData("{\"datasets\": [\"subspace-gaussians\"], \"objectives\": [{\"name\": \"gnorm\", "
        + "\"strengths\": [1e400]}]}", "spec.json")]
    [InlineData("datasets: [subspace-gaussians]\nobjectives: [{name: gnorm, strengths: [1e400]}]\n", "spec.yaml")]
    public void Strength1e400_IsNotAFiniteNumber_NotNegative(string text, string name)
    {
        string path = Path.Combine(TestPaths.TempDir("spec"), name);
        File.WriteAllText(path, text);
        var e = Assert.ThrowsAny<PagLabException>(() => SweepSpec.Load(path));
        Assert.Equal($"{path}: objective 'gnorm': strength Infinity is not a finite number", e.Message);
        File.WriteAllText(path, text.Replace("1e400", "-1"));
        var negative = Assert.ThrowsAny<PagLabException>(() => SweepSpec.Load(path));
        Assert.Contains("strength -1 is negative", negative.Message);
    }

    [Fact]
    public void Cli_Lambda1e400_IsNotAFiniteNumber()
    {
        var r = CliProcess.Run("train", "--dataset", "subspace-gaussians", "--objective", "gnorm", "--lambda", "1e400",
            "--out", Path.Combine(TestPaths.TempDir("run"), "r"));
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("error: --lambda must be in [0, 1000000000000], got Infinity, which is not a finite number",
            r.Stderr.Trim());
    }
}
