using PagLab.Common;
using PagLab.Experiments;
using PagLab.Tests.Experiments;
using PagLab.Training;

namespace PagLab.Tests.Cli;

/// <summary>
/// Issue 21.1, each case through the real CLI: an output never lands among files it does not own, never replaces an
/// input or a file of another kind, and a bad --out / --tensorboard is one line naming the option, before any work.
/// </summary>
public class OutputPolicyCliTests
{
    /// <summary>A run folder (run.json, model.json, ...): a linear classifier trained 1 epoch on 200 images.</summary>
    static string MakeRun()
    {
        string dir = Path.Combine(TestPaths.TempDir("run"), "run");
        Trainer.Run(new TrainConfig
        {
            Dataset = "subspace-gaussians", Arch = PagLab.Models.Architecture.Linear, Epochs = 1, TrainSize = 200, TestSize = 64, Seed = 7,
        }, dir, NullProgress.Instance);
        return dir;
    }

    /// <summary>A sweep folder as `sweep run` leaves it before training: spec.json, one job's result.json.</summary>
    static (SweepFolder Sweep, string Result) MakeSweep()
    {
        var spec = TinySweep.Spec();
        var sweep = new SweepFolder(Path.Combine(TestPaths.TempDir("sweep"), "sweep"));
        sweep.Prepare(spec);
        string result = sweep.Job(spec.Jobs()[0]).Result;
        Directory.CreateDirectory(Path.GetDirectoryName(result)!);
        File.WriteAllText(result, "{\"format\": 3}\n");
        return (sweep, result);
    }

    /// <summary>Exit 2 and one line on stderr that names <paramref name="option"/> and holds each of
    /// <paramref name="parts"/>; nothing measured or trained.</summary>
    static string Refused(CliProcess.Result r, string option, params string[] parts)
    {
        Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}: {r.Stdout}{r.Stderr}");
        var lines = r.Stderr.TrimEnd('\n').Split('\n');
        Assert.True(lines.Length == 1, r.Stderr);
        Assert.StartsWith($"error: {option} ", lines[0]);
        foreach (var part in parts) Assert.Contains(part, lines[0]);
        Assert.Equal("", r.Stdout);                   // no work started: no progress, no result line
        return lines[0];
    }

    static string[] Entries(string dir) => Directory.EnumerateFileSystemEntries(dir, "*",
        SearchOption.AllDirectories).Select(e => Path.GetRelativePath(dir, e)).Order().ToArray();

    [Fact]
    public void Train_IntoANonEmptyFolderThatIsNoRun_IsRefused_AndNothingIsWrittenThere()
    {
        string dir = TestPaths.TempDir("mine");
        File.WriteAllText(Path.Combine(dir, "notes.txt"), "mine");
        Refused(CliProcess.Run("train", "--dataset", "subspace-gaussians", "--arch", "linear", "--out", dir),
            "--out", "holds 1 entry, not a run folder (run.json)");
        Assert.Equal(["notes.txt"], Entries(dir));
    }

    [Fact]
    public void Train_IntoALinkToAForeignFolder_OrIntoTheRoot_IsRefused()
    {
        string foreign = TestPaths.TempDir("foreign");
        File.WriteAllText(Path.Combine(foreign, "passwd"), "root:x:0:0");
        string link = Path.Combine(TestPaths.TempDir("link"), "run");
        File.CreateSymbolicLink(link, foreign);
        Refused(CliProcess.Run("train", "--dataset", "subspace-gaussians", "--out", link), "--out",
            $"(a link to '{foreign}') holds 1 entry, not a run folder");
        Assert.Equal(["passwd"], Entries(foreign));
        Refused(CliProcess.Run("train", "--dataset", "subspace-gaussians", "--out", "/"), "--out",
            "'/' is the root folder");
    }

    [Fact]
    public void Demo_IntoAFolderThatCannotBeMade_IsRefusedBeforeAnyWork()
    {
        Refused(CliProcess.Run("demo", "--out", "/proc/nope"), "--out",
            "'/proc/nope' cannot be created: '/proc' cannot hold folders");
    }

    [Fact]
    public void Train_IntoAModelFolder_IsRefusedNamingWhatItHolds()
    {
        string model = TestPaths.TempDir("model");
        File.WriteAllText(Path.Combine(model, "model.json"), "{}");
        Refused(CliProcess.Run("train", "--dataset", "subspace-gaussians", "--out", model), "--out",
            "holds a model folder (model.json), not a run folder (run.json)");
    }

    [Fact]
    public void Eval_OutIntoTheRunItReads_IsRefusedBeforeMeasuring_AndTheModelStillLoads()
    {
        string run = MakeRun(), modelJson = Path.Combine(run, "model.json");
        byte[] before = File.ReadAllBytes(modelJson);
        Refused(CliProcess.Run("eval", "--model", run, "--dataset", "subspace-gaussians", "--out", modelJson),
            "--out", "is inside", "the folder this command reads");
        Assert.Equal(before, File.ReadAllBytes(modelJson));
        // a run folder is PagLab's even when the command reads another one
        string other = MakeRun();
        Refused(CliProcess.Run("eval", "--model", other, "--dataset", "subspace-gaussians", "--out",
            Path.Combine(run, "eval.json")), "--out", "a run folder (run.json) that PagLab owns");
        Assert.False(File.Exists(Path.Combine(run, "eval.json")));
    }

    [Fact]
    public void Report_OverTheSweepSpec_AndResults_OverAJobResult_AreRefused()
    {
        var (sweep, result) = MakeSweep();
        byte[] spec = File.ReadAllBytes(sweep.Spec), job = File.ReadAllBytes(result);
        Refused(CliProcess.Run("report", sweep.Root, "--out", sweep.Spec), "--out", "the folder this command reads");
        Refused(CliProcess.Run("results", sweep.Root, "--out", result), "--out", "the folder this command reads");
        Assert.Equal(spec, File.ReadAllBytes(sweep.Spec));
        Assert.Equal(job, File.ReadAllBytes(result));
        // read elsewhere, a sweep folder is still PagLab's
        var (other, _) = MakeSweep();
        Refused(CliProcess.Run("results", other.Root, "--out", Path.Combine(sweep.JobsRoot, "r.csv")), "--out",
            "a sweep folder (spec.json) that PagLab owns");
    }

    [Fact]
    public void EmptyOut_FolderAsAFile_AndFileAsTensorboard_AreOneLineErrorsBeforeAnyWork()
    {
        string run = MakeRun(), folder = TestPaths.TempDir("folder"), file = Path.Combine(folder, "f.txt");
        File.WriteAllText(file, "x");
        Refused(CliProcess.Run("eval", "--model", run, "--dataset", "subspace-gaussians", "--out", ""), "--out",
            "is empty");
        Refused(CliProcess.Run("train", "--dataset", "subspace-gaussians", "--out", ""), "--out", "is empty");
        Refused(CliProcess.Run("eval", "--model", run, "--dataset", "subspace-gaussians", "--out", folder),
            "--out", "is a folder: name a file");
        Refused(CliProcess.Run("train", "--dataset", "subspace-gaussians", "--out",
            Path.Combine(folder, "run"), "--tensorboard", file), "--tensorboard", "is a file, not a folder");
        Assert.False(Directory.Exists(Path.Combine(folder, "run")));
        Refused(CliProcess.Run("train", "--dataset", "subspace-gaussians", "--out",
            Path.Combine(folder, "run"), "--tensorboard", folder), "--tensorboard",
            "not a TensorBoard log folder");
    }

    [Fact]
    public void NewlineInOut_IsShownEscaped_OnOneWholeLine()
    {
        string dir = Path.Combine(TestPaths.TempDir("nl"), "a\nb");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "notes.txt"), "mine");
        string line = Refused(CliProcess.Run("train", "--dataset", "subspace-gaussians", "--out", dir), "--out",
            "a\\nb' holds 1 entry, not a run folder");
        Assert.EndsWith("name a new or empty folder", line);
        // a value the parser refuses is shown escaped too
        var parse = CliProcess.Run("train", "--dataset", "subspace-gaussians", "--threads", "1\n2", "--out", dir);
        Assert.Equal(2, parse.ExitCode);
        Assert.Single(parse.Stderr.TrimEnd('\n').Split('\n'));
        Assert.Contains("'1\\n2'", parse.Stderr);
        foreach (var (flag, command) in new[] { ("--threads", "train --dataset x"), ("--workers", "sweep run x.json") })
        {
            var words = command.Split(' ').Concat(["--out", dir, flag, "abc"]).ToArray();
            var bad = CliProcess.Run(words);          // threw inside the option's validator: an abort
            Assert.Equal(2, bad.ExitCode);
            Assert.Single(bad.Stderr.TrimEnd('\n').Split('\n'));
            Assert.Contains($"Cannot parse argument 'abc' for option '{flag}'", bad.Stderr);
        }
    }

    [Fact]
    public void FileOfAnotherKind_IsNotReplaced()
    {
        string run = MakeRun(), archive = Path.Combine(TestPaths.TempDir("pt"), "weights.pt");
        byte[] zip = [.. "PK\x03\x04"u8, 20, 0, 0, 0, 8, 0];
        File.WriteAllBytes(archive, zip);
        Refused(CliProcess.Run("eval", "--model", run, "--dataset", "subspace-gaussians", "--out", archive),
            "--out", "holds a zip archive (PyTorch or NumPy); it would be replaced by a JSON file");
        Assert.Equal(zip, File.ReadAllBytes(archive));
    }

    [Fact]
    public void ModelImport_Overwrite_ReplacesOnlyAModelFolder()
    {
        string foreign = TestPaths.TempDir("foreign");
        File.WriteAllText(Path.Combine(foreign, "thesis.tex"), "mine");
        Refused(CliProcess.Run("model", "import", Models.TorchScriptFixtures.File("classifier.pt"), "--dataset",
            "mnist", "--out", foreign, "--overwrite"), "--out", "not a model folder (model.json)");
        Assert.Equal(["thesis.tex"], Entries(foreign));
    }

    [Fact]
    public void Verbose_PrintsTheErrorLineOnce_ThenOnlyTheStack()
    {
        string dir = TestPaths.TempDir("mine");
        File.WriteAllText(Path.Combine(dir, "notes.txt"), "mine");
        var r = CliProcess.Run("train", "--dataset", "subspace-gaussians", "--out", dir, "--verbose");
        Assert.Equal(2, r.ExitCode);
        var lines = r.Stderr.Split('\n');
        Assert.StartsWith("error: --out ", lines[0]);
        string message = lines[0]["error: ".Length..];
        Assert.Single(lines, l => l.Contains("not a run folder"));
        Assert.Equal(1, r.Stderr.Split(message).Length - 1);
        Assert.Equal(typeof(PagLabException).FullName, lines[1]);
        Assert.Contains(lines, l => l.TrimStart().StartsWith("at PagLab.IO.OutputPolicy.CheckFolder"));
    }
}
