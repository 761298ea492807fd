using PagLab.Common;
using PagLab.Experiments;
using PagLab.IO;
using PagLab.Tests.Experiments;

namespace PagLab.Tests.IO;

/// <summary>The output policy's rules one by one (issue 21.1); the CLI cases are in OutputPolicyCliTests.</summary>
public class OutputPolicyTests
{
    [Fact]
    public void Folder_NewEmptyOrOfTheSameKind_IsAccepted()
    {
        string root = TestPaths.TempDir("policy");
        OutputPolicy.CheckFolder("out", Path.Combine(root, "new"), FolderKind.Run);
        OutputPolicy.CheckFolder("out", root, FolderKind.Run);
        File.WriteAllText(Path.Combine(root, "run.json"), "{}");
        OutputPolicy.CheckFolder("out", root, FolderKind.Run);
        // a training run holds model.json: `model import --overwrite` may replace it, as its help says
        OutputPolicy.CheckFolder("out", root, FolderKind.Model);
        var e = Assert.Throws<PagLabException>(() => OutputPolicy.CheckFolder("out", root, FolderKind.Denoiser));
        Assert.Contains("holds a run folder (run.json), not a denoiser folder", e.Message);
    }

    [Fact]
    public void Folder_ThatCannotBeMade_IsRefused_AndTheProbeLeavesNothingBehind()
    {
        // /proc holds no folders a process can make: refused now, naming the folder, not after the work
        var e = Assert.Throws<PagLabException>(() => OutputPolicy.CheckFolder("out", "/proc/nope/run", FolderKind.Run));
        Assert.Equal("out '/proc/nope/run' cannot be created: '/proc' cannot hold folders", e.Message);
        // where a folder is made later (a run, a sweep), the same words
        e = Assert.Throws<PagLabException>(() => OutputFolder.Create("/proc/nope/run"));
        Assert.Equal("cannot create output folder '/proc/nope/run': '/proc' cannot hold folders", e.Message);
        // a new nested folder is accepted, and the folders the probe made are gone again
        string root = TestPaths.TempDir("policy");
        OutputPolicy.CheckFolder("out", Path.Combine(root, "a", "b"), FolderKind.Run);
        Assert.Empty(Directory.EnumerateFileSystemEntries(root));
    }

    [Fact]
    public void TensorboardFolder_OfEventFiles_OrOfJobFoldersOfThem_IsAccepted()
    {
        string logs = TestPaths.TempDir("tb");
        Directory.CreateDirectory(Path.Combine(logs, "000-job"));
        File.WriteAllText(Path.Combine(logs, "000-job", "events.out.tfevents.1.host"), "");
        File.WriteAllText(Path.Combine(logs, "events.out.tfevents.2.host"), "");
        OutputPolicy.CheckFolder("tensorboard", logs, FolderKind.TensorboardLog);
        File.WriteAllText(Path.Combine(logs, "000-job", "notes.txt"), "");
        var e = Assert.Throws<PagLabException>(() =>
            OutputPolicy.CheckFolder("tensorboard", logs, FolderKind.TensorboardLog));
        Assert.StartsWith("tensorboard '", e.Message);
    }

    [Fact]
    public void File_OfTheSameKind_IsReplaced_OtherKindsAreNot()
    {
        string dir = TestPaths.TempDir("kinds");
        (string Name, byte[] Bytes, FileKind Kind)[] files =
        [
            ("a.json", "  {\"x\": 1}"u8.ToArray(), FileKind.Json),
            ("a.csv", "dataset,objective\nx,y\n"u8.ToArray(), FileKind.Csv),
            ("a.yaml", "datasets: [mnist]\n"u8.ToArray(), FileKind.Text),
            ("a.html", "<!DOCTYPE html><html>"u8.ToArray(), FileKind.Html),
            ("a.png", [0x89, .. "PNG\r\n"u8, 0x1a, 0], FileKind.Png),
            ("a.safetensors", [2, 0, 0, 0, 0, 0, 0, 0, .. "{}"u8], FileKind.SafeTensors),
            ("a.pt", [.. "PK\x03\x04"u8, 0, 0], FileKind.Zip),
            ("a.sbatch", "#!/bin/bash\n"u8.ToArray(), FileKind.Script),
        ];
        foreach (var (name, bytes, kind) in files)
        {
            string path = Path.Combine(dir, name);
            File.WriteAllBytes(path, bytes);
            OutputPolicy.CheckFile("out", path, kind);
            var other = kind == FileKind.Json ? FileKind.Csv : FileKind.Json;
            var e = Assert.Throws<PagLabException>(() => OutputPolicy.CheckFile("out", path, other));
            Assert.Contains($"holds {Vocabulary.Description(kind)}", e.Message);
        }
        string empty = Path.Combine(dir, "empty.json");
        File.WriteAllBytes(empty, []);
        OutputPolicy.CheckFile("out", empty, FileKind.Png);
    }

    [Fact]
    public void File_ThatIsAnInput_OrInsideAFolderPagLabOwns_IsRefused_ButASweepsOwnResultsAreNot()
    {
        var sweep = new SweepFolder(Path.Combine(TestPaths.TempDir("sweep"), "s"));
        sweep.Prepare(TinySweep.Spec());
        string input = Path.Combine(TestPaths.TempDir("in"), "t.safetensors");
        File.WriteAllBytes(input, [2, 0, 0, 0, 0, 0, 0, 0, .. "{}"u8]);
        var same = Assert.Throws<PagLabException>(() => OutputPolicy.CheckFile("out", input, FileKind.Png, input));
        Assert.Contains("which this command reads", same.Message);
        var deep = Assert.Throws<PagLabException>(() => OutputPolicy.CheckFile("out",
            Path.Combine(sweep.Root, "shared", "x", "fig.png"), FileKind.Png));
        Assert.Contains("a sweep folder (spec.json) that PagLab owns", deep.Message);
        // the demo writes results.csv and report.html there: `results` and `report` may write them again
        OutputPolicy.CheckFile("out", sweep.ResultsCsv, FileKind.Csv, sweep.Root);
        OutputPolicy.CheckFiles("out", PagLab.Reporting.ReportBuilder.Files(sweep.Report), sweep.Root);
        Assert.Throws<PagLabException>(() => OutputPolicy.CheckFile("out", sweep.Spec, FileKind.Csv, sweep.Root));
    }

    [Fact]
    public void Output_BelowAFile_IsRefusedNamingTheFile()
    {
        string file = Path.Combine(TestPaths.TempDir("above"), "notes.txt");
        File.WriteAllText(file, "mine");
        var asFile = Assert.Throws<PagLabException>(() =>
            OutputPolicy.CheckFile("out", Path.Combine(file, "sub", "r.json"), FileKind.Json));
        Assert.EndsWith($"'{file}' is a file, not a folder", asFile.Message);
        var asFolder = Assert.Throws<PagLabException>(() =>
            OutputPolicy.CheckFolder("out", Path.Combine(file, "run"), FolderKind.Run));
        Assert.EndsWith($"'{file}' is a file, not a folder", asFolder.Message);
    }

    [Fact]
    public void Show_QuotesAPath_WithControlCharactersEscaped()
    {
        Assert.Equal("'a\\nb\\tc\\x1b'", OutputPolicy.Show("a\nb\tc\u001b"));
    }
}
