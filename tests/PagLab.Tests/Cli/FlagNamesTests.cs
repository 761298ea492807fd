using System.CommandLine;
using PagLab.Cli;
using PagLab.IO.Torch;
using PagLab.Metrics;
using PagLab.Training;
using static PagLab.Tests.Models.TorchScriptFixtures;

namespace PagLab.Tests.Cli;

/// <summary>
/// Library messages name properties (as a spec spells them); the CLI shows the flag the user typed.
/// </summary>
public class FlagNamesTests
{
    static readonly Command Train = new("train")
    {
        new Option<double>("--lr"), new Option<bool>("--resume"), new Option<string>("--out"),
        new Option<double>("--pixel-range"), new Option<string>("--weights"), new Option<int>("--n0"),
    };

    [Theory]
    [InlineData("learningRate must be in (0, 1e12], got -1", "--lr must be in (0, 1e12], got -1")]
    [InlineData("pixelRange: expected LO,HI with LO < HI, got '1'",
        "--pixel-range: expected LO,HI with LO < HI, got '1'")]
    [InlineData("run already exists; pass `resume` to continue it or choose another `out`",
                "run already exists; pass --resume to continue it or choose another --out")]
    [InlineData("n0 and `n` must be >= 1", "--n0 and `n` must be >= 1")]
    [InlineData("no LPIPS weights: pass `lpipsWeights`, or `dataRoot`",
        "no LPIPS weights: pass --weights, or `dataRoot`")]
    [InlineData("momentum must be in [0, 1]", "momentum must be in [0, 1]")]
    [InlineData("Images must be float32", "Images must be float32")]
    public void PropertiesOfTheCommand_AreShownAsItsFlags(string message, string shown) =>
        Assert.Equal(shown, OptionNames.AsFlags(message, Train));

    [Fact]
    public void ExistingRunFolder_OnTheCommandLine_SaysPassResume()
    {
        string dir = TestPaths.TempDir("run");
        Trainer.Run(new TrainConfig { Dataset = "shapes", TrainSize = 200, TestSize = 50 }, dir);
        var r = CliProcess.Run("train", "--dataset", "shapes", "--train-size", "200", "--test-size", "50", "--out",
            dir);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("pass --resume to continue it or choose another --out", r.Stderr);
    }

    /// <summary>The denoiser's checks live in DenoiserConfig (a sweep's shared.denoiser gets them too).</summary>
    [Theory]
    [InlineData("--width", "8", "--width must be in 16..8192, got 8")]
    [InlineData("--ema-decay", "2", "--ema-decay must be in [0, 1], got 2")]
    [InlineData("--channels", "12", "--channels must be a multiple of 8 in 8..512, got 12")]
    public void BadDenoiserOption_OnTheCommandLine_NamesItsFlag(string flag, string value, string expected)
    {
        var r = CliProcess.Run("denoiser", "train", "--dataset", "shapes", flag, value, "--out",
            Path.Combine(TestPaths.TempDir(), "d"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(expected, r.Stderr);
    }

    [Fact]
    public void TracedClassifierOfAnotherShape_OnTheCommandLine_NamesTheDatasetFlag()
    {
        var r = CliProcess.Run("model", "import", File("classifier.pt"), "--dataset", "cifar10", "--normalize",
                               "0.1307,0.3081", "--out", Path.Combine(TestPaths.TempDir(), "m"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("(expected from --dataset cifar10)", r.Stderr);
    }

    [Fact]
    public void LpipsBackboneWithoutLin_OnTheCommandLine_SaysPassWeightsLin()
    {
        string dir = TestPaths.TempDir();
        using var reference = new Lpips(LpipsNet.Squeeze);
        var features = reference.state_dict().Where(kv => kv.Key.StartsWith("net.", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key[4..], kv => kv.Value);
        string backbone = Path.Combine(dir, "squeezenet1_1.pth");
        TorchFile.WriteStateDict(backbone, features);
        var r = CliProcess.Run("lpips", "a.png", "b.png", "--weights", backbone);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("(pass the LPIPS lin weights as --weights-lin)", r.Stderr);
    }
}
