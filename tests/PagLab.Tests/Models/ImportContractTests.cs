using PagLab.Common;
using PagLab.Models;
using PagLab.Tests.Cli;
using static PagLab.Tests.Models.TorchScriptFixtures;
using static TorchSharp.torch;

namespace PagLab.Tests.Models;

/// <summary>
/// `model import` checks the input contract on the dataset's test images (issue 23.1-2): it prints the accuracy
/// and the stored contract, names a contract that fits clearly better, and adapts a 3x32x32 RGB network to 28x28
/// grey images inside the model. The fixtures (Fixtures/contract) are small CNNs trained on MNIST.
/// </summary>
public class ImportContractTests
{
    static string Contract(string name) => Path.Combine(Folder, "contract", name);

    static CliProcess.Result Import(string fixture, string output, params string[] options)
    {
        TestPaths.RequireDataRoot();
        return CliProcess.Run(new[] { "model", "import", Contract(fixture), "--dataset", "mnist", "--out", output }
            .Concat(options).ToArray());
    }

    /// <summary>The accuracy the import printed (the mean before its interval).</summary>
    static double PrintedAccuracy(string stdout)
    {
        var line = stdout.Split('\n').Single(l => l.StartsWith("accuracy ", StringComparison.Ordinal));
        return double.Parse(line.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public void Import_WithTheRightNormalisation_PrintsAccuracyAndTheStoredContract()
    {
        var r = Succeeds(Import("mnist_normalized.pt", Path.Combine(TestPaths.TempDir("contract"), "m"),
            "--normalize", "0.1307,0.3081"));
        Assert.Contains("(1x28x28 pixels in [0,1], normalised (x - mean) / std with mean 0.1307, std 0.3081",
            r.Stdout);
        Assert.Contains("(95% interval) on 256 test images; chance 0.100", r.Stdout);
        Assert.True(PrintedAccuracy(r.Stdout) > 0.8, r.Stdout);
        Assert.DoesNotContain("warning", r.Stdout);
    }

    [Fact]
    public void Import_WithoutTheNormalisation_WarnsAndNamesTheContractThatFits()
    {
        var r = Succeeds(Import("mnist_normalized.pt", Path.Combine(TestPaths.TempDir("contract"), "m")));
        Assert.Contains("(1x28x28 pixels in [0,1], not normalised", r.Stdout);
        Assert.Contains("warning: with --pixel-range 0,1 and --normalize 0.1307,0.3081 the accuracy would be ",
            r.Stdout);
        Assert.Contains("the stored input contract is probably wrong", r.Stdout);
    }

    [Fact]
    public void Import_OfAnRgb32Network_OnGreyMnist_AdaptsInsideTheModel_AndGradientsStayOnTheImage()
    {
        string dir = TestPaths.TempDir("contract"), model = Path.Combine(dir, "m");
        var refused = Import("mnist_rgb32.pt", Path.Combine(dir, "plain"));
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("forward fails on input (2, 1, 28, 28)", refused.Stderr);

        var r = Succeeds(Import("mnist_rgb32.pt", model, "--resize", "32x32", "--grey-to-rgb"));
        Assert.Contains("grey repeated to RGB, resized to 32x32", r.Stdout);
        Assert.True(PrintedAccuracy(r.Stdout) > 0.8, r.Stdout);
        var spec = SavedModel.ReadSpec(model)!;
        Assert.True(spec.GreyToRgb);
        Assert.Equal(new[] { 32, 32 }, spec.Resize);

        // the gradient is taken with respect to the dataset's 1x28x28 image, through the adapters
        using var classifier = SavedModel.Load(model);
        using var x = rand(3, 1, 28, 28).requires_grad_(true);
        using var logits = classifier.call(x);
        using var sum = logits.sum();
        var g = GuardedAutograd.Grad(new[] { sum }, new[] { x })[0];
        Assert.Equal(new long[] { 3, 1, 28, 28 }, g.shape);
        Assert.True(g.abs().max().item<float>() > 0);
        Assert.Contains("clean accuracy:", Succeeds(CliProcess.Run("eval", "--model", model, "--dataset", "mnist",
            "--count", "200")).Stdout);
    }

    [Fact]
    public void Import_OfAStateDictOfAnotherArchitecture_AnswersWithTheLinesThatTraceIt()
    {
        // classifier_reference.pt holds named tensors (inputs, logits, ...), no ResNet-18 weights
        var r = CliProcess.Run("model", "import", File("classifier_reference.pt"), "--dataset", "shapes", "--out",
            Path.Combine(TestPaths.TempDir("contract"), "m"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("net.load_state_dict(torch.load(FILE)); net.eval(); torch.jit.trace(net, torch.rand(1, 1, "
            + "28, 28)).save('model.pt')", r.Stderr);
        Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void Resize_And_GreyToRgb_AreRefusedForStateDicts_AndForBadSizes()
    {
        string dir = TestPaths.TempDir("contract");
        var r = CliProcess.Run("model", "import", File("classifier_reference.pt"), "--dataset", "shapes",
            "--resize", "32x32", "--out", Path.Combine(dir, "a"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--resize and --grey-to-rgb apply to TorchScript archives", r.Stderr);
        var bad = Assert.Throws<PagLabException>(() => TorchScriptClassifier.Probe(Contract("mnist_rgb32.pt"),
            new TorchScriptClassifier.InputContract("mnist", Array.Empty<string>(), Resize: "0x32")));
        Assert.Contains("resize: expected HxW", bad.Message);
    }
}
