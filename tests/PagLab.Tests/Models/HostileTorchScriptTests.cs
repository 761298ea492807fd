using System.Diagnostics;
using PagLab.Common;
using PagLab.Experiments;
using PagLab.Models;
using PagLab.Tests.Cli;
using PagLab.Tests.Experiments;
using PagLab.Training;
using static PagLab.Tests.Models.TorchScriptFixtures;

namespace PagLab.Tests.Models;

/// <summary>
/// Broken TorchScript models (Fixtures/hostile, made by make_torchscript_fixtures.py) give one line and a non-zero
/// exit within seconds, never a hang, a SIGABRT or a number (issue 21.2-3).
/// </summary>
public class HostileTorchScriptTests
{
    /// <summary>The probe's time limit in these tests: the looping model must cost seconds, not a minute.</summary>
    const string ProbeSeconds = "10";

    static string Hostile(string name) => Path.Combine(Folder, "hostile", name);

    static CliProcess.Result Run(params string[] args) => CliProcess.RunWithEnvironment(
        new Dictionary<string, string?> { ["PAGLAB_PROBE_TIMEOUT"] = ProbeSeconds }, args);

    /// <summary>Asserts the one-line refusal (no C++ trace, no .NET stack) and returns its line.</summary>
    static string Refused(CliProcess.Result r, string expected)
    {
        Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}: {r.Stdout}{r.Stderr}");
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, r.Stderr);
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(expected, lines[0]);
        Assert.DoesNotContain("terminate called", r.Stderr);
        return lines[0];
    }

    [Theory]
    [InlineData("detach.pt", "input gradient: the output does not depend on the input")]
    [InlineData("onehot.pt", "input gradient: the output has no gradient path to the input")]
    [InlineData("int_logits.pt", "returns Int64 values; PagLab needs floating-point outputs")]
    [InlineData("nan_logits.pt", "forward call 1 (a batch of 2) returns NaN or infinite values")]
    [InlineData("inf_logits.pt", "forward call 1 (a batch of 2) returns NaN or infinite values")]
    [InlineData("nan_above_batch_2.pt", "forward call 2 (a batch of 8) returns NaN or infinite values")]
    [InlineData("backward_fails.pt", "libtorch crashed (SIGABRT) during input gradient (backward) on a batch of 8 "
        + "test images: one of the variables needed for gradient computation has been modified by an inplace")]
    [InlineData("dropout.pt", "two forwards of the same images differ")]
    [InlineData("train_bn.pt", "batch norm in training mode; call model.eval() before tracing")]
    [InlineData("tuple_output.pt", "returns a tuple of 2, not a tensor: pass --output-index")]
    [InlineData("unknown_op.pt", "libtorch crashed (SIGABRT) during loading: Unknown builtin op: aten::no_such_op")]
    [InlineData("missing_code.pt", "libtorch crashed (SIGABRT) during loading: Unknown type name")]
    public void ModelImport_OfABrokenModel_IsOneLine_AndWritesNothing(string fixture, string expected)
    {
        string output = Path.Combine(TestPaths.TempDir("hostile"), "m");
        var clock = Stopwatch.StartNew();
        var line = Refused(Run("model", "import", Hostile(fixture), "--dataset", "shapes", "--out", output), expected);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"{fixture}: {clock.Elapsed}");
        Assert.Contains(fixture, line);
        Assert.False(Directory.Exists(output));
        Assert.Empty(Directory.GetFileSystemEntries(Path.GetDirectoryName(output)!));
    }

    [Fact]
    public void ModelImport_OfAForwardThatNeverReturns_StopsAtTheTimeLimit()
    {
        string output = Path.Combine(TestPaths.TempDir("hostile"), "m");
        var clock = Stopwatch.StartNew();
        Refused(Run("model", "import", Hostile("loop.pt"), "--dataset", "shapes", "--out", output),
            $"loop.pt: the model's forward did not return within {ProbeSeconds} s (forward on two zero images");
        Assert.InRange(clock.Elapsed.TotalSeconds, 10, 60);
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void ModelImport_OfATupleOutput_WithOutputIndex_StoresItAndEvaluates()
    {
        string output = Path.Combine(TestPaths.TempDir("hostile"), "m");
        var r = Succeeds(Run("model", "import", Hostile("tuple_output.pt"), "--dataset", "shapes", "--output-index",
            "0", "--out", output));
        Assert.Contains("accuracy ", r.Stdout);
        Assert.Contains("(95% interval) on 256 test images; chance 0.100", r.Stdout);
        Assert.Equal(0, SavedModel.ReadSpec(output)!.OutputIndex);
        Assert.Contains("clean accuracy:", Succeeds(Run("eval", "--model", output, "--dataset", "shapes")).Stdout);
        Refused(Run("model", "import", Hostile("tuple_output.pt"), "--dataset", "shapes", "--output-index", "1",
            "--out", output + "1"), "forward returns (2, 16) for input (2, 1, 28, 28), expected (2, 10)");
    }

    [Theory]
    [InlineData("denoiser_nan.pt", "returns NaN or infinite values")]
    [InlineData("denoiser_int.pt", "returns Int64 values; PagLab needs floating-point outputs")]
    public void DenoiserImport_OfABrokenDenoiser_IsOneLine(string fixture, string expected)
    {
        string output = Path.Combine(TestPaths.TempDir("hostile"), "d");
        Refused(Run("denoiser", "import", Hostile(fixture), "--form", "x0", "--dataset", "shapes", "--pixel-range",
            "0,1", "--out", output), expected);
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void Tangents_FromADecoderWithoutGradientPath_IsOneLine()
    {
        string output = Path.Combine(TestPaths.TempDir("hostile"), "t.safetensors");
        Refused(Run("tangents", "--decoder", Hostile("decoder_detach.pt"), "--encoder", File("encoder.pt"),
            "--dataset", "shapes", "--count", "4", "--out", output),
            "decoder_detach.pt: decoder Jacobian: the output does not depend on the input");
        Assert.False(System.IO.File.Exists(output));
    }

    [Fact]
    public void Score_SigmaOutsideItsBounds_IsRefusedBeforeAnyWork()
    {
        string dir = TestPaths.TempDir("hostile"), denoiser = Path.Combine(dir, "d");
        Succeeds(Run("denoiser", "import", File("denoiser_x0.pt"), "--form", "x0", "--dataset", "shapes",
            "--pixel-range", "-1,1", "--out", denoiser));
        foreach (var sigma in new[] { "1e-30", "0", "1e4" })
            Refused(Run("score", "--denoiser", denoiser, "--dataset", "shapes", "--sigma", sigma, "--count", "4",
                "--out", Path.Combine(dir, "s.safetensors")), $"sigma must be in [0.0001, 1000], got");
        Assert.False(System.IO.File.Exists(Path.Combine(dir, "s.safetensors")));
    }

    /// <summary>A model folder written by hand around a broken archive, as if made before the probe existed (or
    /// edited): the in-process guards still give one line, never a number or an abort.</summary>
    static string FolderAround(string fixture, string dataset = "shapes")
    {
        string dir = Path.Combine(TestPaths.TempDir("hostile"), Path.GetFileNameWithoutExtension(fixture));
        var spec = new ModelSpec { Arch = ModelFactory.TorchScriptArch, Channels = 1, Height = 28, Width = 28,
            Classes = 10, Dataset = dataset };
        SavedModel.SaveTorchScript(dir, spec, Hostile(fixture), new Dictionary<string, string>());
        return dir;
    }

    [Fact]
    public void Eval_OfAnUnprobedNanModel_NamesTheFileAndTheBatch_InsteadOfAnAccuracy()
    {
        var line = Refused(Run("eval", "--model", FolderAround("nan_above_batch_2.pt"), "--dataset", "shapes"),
            "model.pt: forward call 1 (a batch of ");
        Assert.Contains("returns NaN or infinite values", line);
    }

    [Fact]
    public void PgdEval_OfAnUnprobedOneHotModel_IsOneLine_NotSigabrt()
    {
        Refused(Run("eval", "--model", FolderAround("onehot.pt"), "--dataset", "shapes", "--attack", "pgd-l2",
            "--eps", "1"), "the output has no gradient path to the input");
    }

    [Fact]
    public void Sweep_WithBrokenModelRows_FailsThoseJobs_AndFinishesTheOthers()
    {
        var spec = TinySweep.Spec() with
        {
            Models = new[] { "onehot.pt", "backward_fails.pt" }.Select(f => new ImportedModel
            {
                Name = Path.GetFileNameWithoutExtension(f).Replace('_', '-'),
                Path = FolderAround(f, "subspace-gaussians"), Dataset = "subspace-gaussians",
            }).ToArray(),
        };
        var loaded = SweepSpec.Load(TinySweep.Write(spec));
        var sweep = new SweepFolder(Path.Combine(TestPaths.TempDir("hostile"), "sweep"));
        Assert.NotEqual(0, SweepRunner.RunAll(loaded, sweep, NullProgress.Instance));
        var states = SweepRunner.Status(loaded, sweep).ToDictionary(s => s.Job.Index, s => s.State);
        Assert.Equal(JobState.Completed, states[0]);
        Assert.Equal(JobState.Completed, states[1]);
        Assert.Equal(JobState.Failed, states[2]);
        Assert.Equal(JobState.Failed, states[3]);
        var jobs = loaded.Jobs();
        Assert.Contains("the output has no gradient path to the input",
            System.IO.File.ReadAllText(sweep.Job(jobs[2]).Error));
        Assert.Contains("libtorch crashed (SIGABRT) during input gradient",
            System.IO.File.ReadAllText(sweep.Job(jobs[3]).Error));
    }
}
