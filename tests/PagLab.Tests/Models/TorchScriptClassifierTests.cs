using PagLab.Common;
using PagLab.Data;
using PagLab.IO.Torch;
using PagLab.Models;
using PagLab.Objectives;
using PagLab.Training;
using static TorchSharp.torch;
using static PagLab.Tests.Models.TorchScriptFixtures;

namespace PagLab.Tests.Models;

/// <summary>A traced PyTorch classifier (GELU, GroupNorm, max-pool, residual add) against PyTorch's own
/// numbers.</summary>
[Trait("Category", "Numeric")]
public class TorchScriptClassifierTests
{
    const double Lambda = 0.5; // make_torchscript_fixtures.py LAMBDA
    static readonly TorchScriptClassifier.InputContract Mnist = new("shapes", new[] { "0.1307,0.3081" });

    static void Report(string what,
        double value) =>
        TestContext.Current.TestOutputHelper?.WriteLine($"{what}: max |PagLab - PyTorch| = {value:G3}");

    [Fact]
    public void Import_TracedClassifier_LogitsInputGradientsAndAccuracyEqualPyTorchs()
    {
        var reference = Reference("classifier_reference.pt");
        using var model = TorchScriptClassifier.Import(File("classifier.pt"), Mnist);
        var x = reference["inputs"].detach().requires_grad_(true);
        var logits = model.call(x);
        var gradient = autograd.grad(new[] { nn.functional.cross_entropy(logits, reference["labels"],
            reduction: nn.Reduction.Sum) }, new[] { x })[0];
        double logitError = MaxAbsDifference(logits.detach(), reference["logits"]),
            gradientError = MaxAbsDifference(gradient, reference["input_grad"]);
        Report("logits", logitError);
        Report("input gradients", gradientError);
        Float32Tolerance.AssertClose(logits.detach(), reference["logits"], Float32Tolerance.Network, "logits");
        Float32Tolerance.AssertClose(gradient, reference["input_grad"], Float32Tolerance.Network, "input gradients");

        // accuracy to the image: PagLab's evaluation and PyTorch's argmax agree on every image (not all correct)
        var correctTorch = reference["logits"].argmax(1).eq(reference["labels"]);
        Assert.Equal(reference["logits"].argmax(1).data<long>().ToArray(), logits.argmax(1).data<long>().ToArray());
        using var split = new DataSplit(reference["inputs"], reference["labels"]);
        double accuracy = Evaluation.Accuracy(model, split);
        Assert.Equal(correctTorch.to_type(ScalarType.Float64).mean().item<double>(), accuracy, 12);
        Assert.InRange(accuracy, 0.1, 0.99);
    }

    [Fact]
    public void GradientNormPenalty_ThroughTorchScript_DoubleBackpropGivesPyTorchsParameterGradients()
    {
        var reference = Reference("classifier_reference.pt");
        using var model = TorchScriptClassifier.Import(File("classifier.pt"), Mnist);
        using var noise = new Generator(0, device: CPU);
        using var terms = new GradientNormPenalty(Lambda).Loss(model, reference["inputs"], reference["labels"], noise);
        var parameters = model.named_parameters().ToList();
        var grads = autograd.grad(new[] { terms.Total }, parameters.Select(p => (Tensor)p.parameter).ToArray());
        double worst = 0;
        int compared = 0;
        for (int i = 0; i < parameters.Count; i++)
        {
            string name = parameters[i].name[(parameters[i].name.LastIndexOf("script.",
                StringComparison.Ordinal) + 7)..];
            var expected = reference["gnorm_grad." + name];
            Assert.True(grads[i].isfinite().all().item<bool>(), name);
            Assert.True(expected.abs().max().item<float>() > 0,
                $"{name}: the reference gradient is zero, the test would prove nothing");
            worst = Math.Max(worst, MaxAbsDifference(grads[i], expected));
            Float32Tolerance.AssertClose(grads[i], expected, Float32Tolerance.SecondOrder, "gnorm gradient " + name);
            compared++;
        }
        Report("gnorm parameter gradients", worst);
        Assert.Equal(reference.Keys.Count(k => k.StartsWith("gnorm_grad.")), compared);
    }

    [Fact]
    public void Import_ForInputsOfAnotherShape_NamesExpectedAndActual()
    {
        var e = Assert.Throws<DataFormatException>(() => TorchScriptClassifier.Import(File("classifier.pt"),
            Mnist with { Dataset = "cifar10" }));
        Assert.Contains("(2, 3, 32, 32)", e.Message);
        Assert.Contains("`dataset` cifar10", e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void Import_ANetworkWithOtherOutputs_NamesExpectedAndActualShapes()
    {
        var e = Assert.Throws<DataFormatException>(() => TorchScriptClassifier.Import(File("encoder.pt"), Mnist));
        Assert.Contains("returns (2, 4)", e.Message);
        Assert.Contains("expected (2, 10)", e.Message);
    }

    [Fact]
    public void Detect_TellsTorchScriptFromStateDicts()
    {
        Assert.Equal(PyTorchFileKind.TorchScript, TorchScriptFile.Detect(File("classifier.pt")));
        Assert.Equal(PyTorchFileKind.StateDict, TorchScriptFile.Detect(File("classifier_reference.pt")));
        Assert.Equal(PyTorchFileKind.StateDict,
            TorchScriptFile.Detect(Path.Combine(PagLab.Tests.Metrics.LpipsFixtures.Folder, "tiny_legacy.pth")));
        var e = Assert.Throws<PagLabException>(() => TorchScriptFile.RequireTorchScript(File("classifier_reference.pt"),
            "a denoiser"));
        Assert.Contains("is a PyTorch state dict", e.Message);
        Assert.Contains("torch.jit.trace", e.Message);
    }

    [Fact]
    public void PixelRange_AndNormalisation_FoldIntoOneAffineMap()
    {
        var spec = new ModelSpec { Arch = Architecture.Linear, Channels = 2, Height = 1, Width = 1, Classes = 2,
            Mean = new[] { 0.5f, 0.25f }, Std = new[] { 2f, 4f }, PixelRange = new[] { -1f, 1f } };
        var (mean, std) = spec.InputTransform()!.Value;
        using var x = tensor(new[] { 0.3f, 0.9f });
        // the network's input, by the definition
        using var direct = (x * 2 - 1 - tensor(spec.Mean)) / tensor(spec.Std);
        using var folded = (x - tensor(mean)) / tensor(std);
        Float32Tolerance.AssertClose(folded, direct, Float32Tolerance.Op, "folded vs direct");
        Assert.Null((spec with { Mean = Array.Empty<float>(), Std = Array.Empty<float>(), PixelRange = new[] { 0f,
            1f } }).InputTransform());
    }
}
