using PagLab.Common;
using PagLab.Data;
using PagLab.Manifold;
using PagLab.Tests.Cli;
using static TorchSharp.torch;
using static PagLab.Tests.Models.TorchScriptFixtures;

namespace PagLab.Tests.Manifold;

/// <summary>Tangent spaces from a traced encoder/decoder against the Jacobians PyTorch computed
/// (make_torchscript_fixtures.py).</summary>
[Trait("Category", "Numeric")]
public class TorchScriptTangentTests
{
    static readonly ImageShape Mnist = new(1, 28, 28);

    [Fact]
    public void DecoderJacobians_OfATracedDecoder_EqualPyTorchs_AndSpanTheSameSpaces()
    {
        var reference = Reference("autoencoder_reference.pt");
        using var codec = TorchScriptAutoencoder.Load(File("encoder.pt"), File("decoder.pt"), Mnist);
        Assert.Equal(4, codec.Latent);
        using var z = codec.Encode(reference["x"]);
        double codeError = MaxAbsDifference(z, reference["z"]);
        using var jacobians = DecoderJacobian.Compute(codec.Decode, reference["z"]);
        double jacobianError = MaxAbsDifference(jacobians, reference["jacobians"]);

        using var spaces = TangentEstimation.FromEncoderDecoder(codec.Encode, codec.Decode, reference["x"], arange(6L),
            4, 1e-5, null,
            new Dictionary<string, string>());
        // (6, 784, 4) PyTorch's column spaces
        var (q, _) = linalg.qr(reference["jacobians"].to_type(ScalarType.Float64));
        using var angles = PrincipalAngles.Between(spaces.Bases, q);
        double maxDegrees = PrincipalAngles.Summarise(angles).MaxDegrees;
        TestContext.Current.TestOutputHelper?.WriteLine($"codes {codeError:G3}, Jacobians {jacobianError:G3}, max "
            + $"principal angle {maxDegrees:G3} deg");
        Float32Tolerance.AssertClose(z, reference["z"], Float32Tolerance.Network, "codes");
        Float32Tolerance.AssertClose(jacobians, reference["jacobians"], Float32Tolerance.Network, "Jacobians");
        Assert.Equal(4, spaces.Rank);
        Assert.True(maxDegrees < 0.01, $"tangent spaces differ by up to {maxDegrees} degrees");
    }

    [Fact]
    public void Load_SwappedOrWrongFiles_SayWhatIsWrongInOneLine()
    {
        var swapped = Assert.Throws<DataFormatException>(() => TorchScriptAutoencoder.Load(File("decoder.pt"),
            File("encoder.pt"), Mnist));
        Assert.Contains("decoder.pt: forward fails on input (2, 1, 28, 28)", swapped.Message);
        var classifier = Assert.Throws<DataFormatException>(() => TorchScriptAutoencoder.Load(File("encoder.pt"),
            File("classifier.pt"), Mnist));
        Assert.Contains("classifier.pt: forward fails on input (2, 4)", classifier.Message);
        var weights = Assert.Throws<PagLabException>(() => TorchScriptAutoencoder.Load(File("classifier_reference.pt"),
            File("decoder.pt"), Mnist));
        Assert.Contains("is a PyTorch state dict", weights.Message);
    }

    [Fact]
    public void Cli_TangentsFromATracedDecoder_FeedMeasureManifold()
    {
        string dir = TestPaths.TempDir(), tangents = Path.Combine(dir, "t.safetensors"), model = Path.Combine(dir, "m");
        var spaces = Succeeds(CliProcess.Run("tangents", "--decoder", File("decoder.pt"), "--encoder",
            File("encoder.pt"), "--dataset", "shapes", "--count", "8",
            "--out", tangents));
        Assert.Contains("8 tangent spaces of dimension 4 in R^784", spaces.Stdout);
        ImportClassifier(model);
        Succeeds(CliProcess.Run("measure", "manifold", "--model", model, "--tangents", tangents, "--dataset", "shapes",
            "--eps", "1", "--draws", "2",
            "--out", Path.Combine(dir, "manifold.json")));
        var r = CliProcess.Run("tangents", "--decoder", File("decoder.pt"), "--dataset", "shapes", "--out", tangents);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--decoder needs --encoder", r.Stderr);
    }
}
