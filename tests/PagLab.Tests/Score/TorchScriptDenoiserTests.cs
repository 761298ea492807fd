using PagLab.Common;
using PagLab.Models;
using PagLab.Score;
using PagLab.Tests.Cli;
using static TorchSharp.torch;
using static PagLab.Tests.Models.TorchScriptFixtures;

namespace PagLab.Tests.Score;

/// <summary>Traced denoisers in the three forms give the score PyTorch computed
/// (make_torchscript_fixtures.py).</summary>
[Trait("Category", "Numeric")]
public class TorchScriptDenoiserTests
{
    static TorchScriptDenoiserSpec Spec(string form) => new()
    {
        Form = form, Channels = 1, Height = 28, Width = 28, Classes = 10, PixelRange = new[] { -1f, 1f },
            SigmaScale = 2, Dataset = "shapes",
    };

    [Theory]
    [InlineData("denoiser_edm.pt", "edm", "score_")]
    [InlineData("denoiser_eps.pt", "eps", "score_")]
    [InlineData("denoiser_x0.pt", "x0", "score_uncond_")]
    public void Score_OfATracedDenoiser_EqualsPyTorchs(string file, string form, string key)
    {
        var reference = Reference("denoiser_reference.pt");
        using var denoiser = TorchScriptDenoiser.Load(File(file), Spec(form));
        Assert.Equal(key == "score_", denoiser.Conditional);
        foreach (double sigma in new[] { 0.25, 0.5 })
        {
            using var score = ScoreFunction.Compute(denoiser, reference["x"], sigma,
                denoiser.Conditional ? reference["labels"] : null);
            var expected = reference[key + sigma.ToString(System.Globalization.CultureInfo.InvariantCulture)];
            TestContext.Current.TestOutputHelper?.WriteLine($"{form} sigma {sigma}: max |PagLab - PyTorch| score = "
                + $"{MaxAbsDifference(score, expected):G3} (max |score| {expected.abs().max().item<float>():G3})");
            Float32Tolerance.AssertClose(score, expected, Float32Tolerance.Network, $"{form} score at sigma {sigma}");
        }
    }

    [Fact]
    public void Load_ADenoiserReturningAnotherShape_SaysSoInOneLine()
    {
        var e = Assert.Throws<DataFormatException>(() => TorchScriptDenoiser.Load(File("denoiser_bad_shape.pt"),
            Spec("x0")));
        Assert.Contains("must return its input's shape (2, 1, 28, 28), this one returns (2, 28, 28)", e.Message);
    }

    [Fact]
    public void Load_AClassifierOrAStateDict_AsADenoiser_SaysWhatItIs()
    {
        var e = Assert.Throws<DataFormatException>(() => TorchScriptDenoiser.Load(File("classifier.pt"), Spec("x0")));
        Assert.Contains("forward takes 1 inputs", e.Message);
        var s = Assert.Throws<PagLabException>(() => TorchScriptDenoiser.Load(File("classifier_reference.pt"),
            Spec("x0")));
        Assert.Contains("is a PyTorch state dict", s.Message);
    }

    [Fact]
    public void Cli_ImportedDenoiserAndClassifier_MeasureAlignment_Score_AndFigureGradients()
    {
        string dir = TestPaths.TempDir(), model = Path.Combine(dir, "m"), denoiser = Path.Combine(dir, "d");
        var r = CliProcess.Run("denoiser", "import", File("denoiser_edm.pt"), "--form", "edm", "--dataset", "shapes",
            "--pixel-range", "-1,1", "--out", denoiser);
        Succeeds(r);
        Assert.Contains("network sigma = 2 x sigma", r.Stdout);
        ImportClassifier(model);
        r = CliProcess.Run("measure", "alignment", "--model", model, "--denoiser", denoiser, "--dataset", "shapes",
            "--count", "8", "--sigma", "0.25",
            "--out", Path.Combine(dir, "alignment.json"));
        Succeeds(r);
        Assert.Contains("gradient vs score (8 images", r.Stdout);
        r = CliProcess.Run("score", "--denoiser", denoiser, "--dataset", "shapes", "--count", "4", "--out",
            Path.Combine(dir, "scores.safetensors"));
        Succeeds(r);
        Succeeds(CliProcess.Run("figure", "gradients", "--models", model, "--denoiser", denoiser, "--dataset", "shapes",
            "--count", "2",
            "--out", Path.Combine(dir, "gradients.png")));
        Assert.True(System.IO.File.Exists(Path.Combine(dir, "gradients.png")));

        r = CliProcess.Run("denoiser", "import", File("denoiser_bad_shape.pt"), "--form", "x0", "--dataset", "shapes",
            "--pixel-range", "-1,1", "--out", Path.Combine(dir, "bad"));
        Assert.Equal(2, r.ExitCode);
        Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.False(Directory.Exists(Path.Combine(dir, "bad")));
    }
}
