using PagLab.Models;
using PagLab.Score;
using PagLab.Uncertainty;

namespace PagLab.Probe;

/// <summary>What imported code the probe runs.</summary>
public enum ProbeKind { Classifier, Denoiser, Autoencoder }

/// <summary>The parent's request to the probe child (one JSON argument of `paglab internal probe`).</summary>
public sealed record ProbeRequest
{
    public required ProbeKind Kind { get; init; }
    /// <summary>The classifier's or denoiser's archive, or the encoder's.</summary>
    public required string Archive { get; init; }
    public string? Decoder { get; init; }
    public ModelSpec? Classifier { get; init; }
    public TorchScriptDenoiserSpec? Denoiser { get; init; }
    public required string Dataset { get; init; }
    public string? DataRoot { get; init; }
    /// <summary>Test images the classifier's accuracy is measured on (a sample: the probe must stay quick).</summary>
    public int Images { get; init; } = 256;
}

/// <summary>What the probe found: a problem with a file (then nothing else counts), or the measurements.</summary>
public sealed record ProbeReport
{
    public string? File { get; init; }
    public string? Problem { get; init; }
    /// <summary>Test images the classifier got right of <see cref="Images"/> (null: no real images to measure
    /// on).</summary>
    public int? Correct { get; init; }
    public int Images { get; init; }
    /// <summary>1 / classes: the accuracy of guessing.</summary>
    public double Chance { get; init; }
    /// <summary>Lines for the user: which images were used, which input contract fits better.</summary>
    public List<string> Notes { get; init; } = new();
}

/// <summary>The probe's findings as the import commands print them.</summary>
public static class ImportSummary
{
    public static string Describe(ProbeReport report)
    {
        var line = report.Correct is int k
            ? $"accuracy {Estimate.Binomial(k, report.Images).Text("F3")} (95% interval) on {report.Images} test "
              + $"images; chance {report.Chance:F3}"
            : "accuracy not measured";
        return string.Join("\n", report.Notes.Prepend(line));
    }
}
