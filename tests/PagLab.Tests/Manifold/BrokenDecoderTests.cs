using PagLab.Tests.Cli;
using static PagLab.Tests.Models.TorchScriptFixtures;

namespace PagLab.Tests.Manifold;

/// <summary>
/// Issue 21.5: `tangents` with a decoder that returns NaN, a zero-dimensional tensor, or codes of dimension 0 says
/// so in one line naming the file (it printed internal errors from linalg.svd, reshape or an index). Fixtures from
/// make_broken_autoencoder_fixtures.py.
/// </summary>
public class BrokenDecoderTests
{
    [Theory]
    [InlineData("encoder.pt", "decoder_nan.pt",
        "decoder_nan.pt: forward returns NaN or infinite values")]         // the import probe's check, first
    [InlineData("encoder.pt", "decoder_scalar.pt",
        "decoder_scalar.pt: a decoder must return images (2, 1, 28, 28) for codes (2, 4), this one returns ()")]
    [InlineData("encoder_zero.pt", "decoder_zero.pt",
        "encoder_zero.pt: an encoder must return codes (2, k) with k >= 1 for input (2, 1, 28, 28), this one "
        + "returns (2, 0)")]
    public void Tangents_WithABrokenDecoder_IsOneLineNamingTheFile(string encoder, string decoder, string expected)
    {
        string output = Path.Combine(TestPaths.TempDir("tangents"), "t.safetensors");
        var r = CliProcess.Run("tangents", "--encoder", File(encoder), "--decoder", File(decoder), "--dataset",
            "shapes", "--count", "4", "--batch-size", "4", "--out", output);
        Assert.Equal(2, r.ExitCode);
        Assert.Single(r.Stderr.TrimEnd('\n').Split('\n'));
        Assert.Contains(expected, r.Stderr);
        Assert.DoesNotContain("internal error", r.Stderr);
        Assert.False(System.IO.File.Exists(output));
    }
}
