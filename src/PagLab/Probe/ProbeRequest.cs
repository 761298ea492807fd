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
    /// <summary>Also measure the accuracy under other usual input contracts (at import, not before a sweep job).
    /// </summary>
    public bool TryContracts { get; init; } = true;
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
    /// <summary>Lines for the user: which images were used.</summary>
    public List<string> Notes { get; init; } = new();
    /// <summary>Other input contracts tried on the same images (the dataset's usual normalisation, [0,255],
    /// [-1,1], none), each with its count of correct images.</summary>
    public List<ContractTrial> Trials { get; init; } = new();
}

/// <summary>An input contract (<see cref="Models.ModelSpec"/>'s Mean, Std, PixelRange) and how many of the
/// probe's images the model got right under it.</summary>
public sealed record ContractTrial(float[] Mean, float[] Std, float[] PixelRange, int Correct);

/// <summary>The probe's findings as the import commands print them: accuracy with its interval, a warning near
/// chance, and a contract that fits clearly better (its interval above the stored one's).</summary>
public static class ImportSummary
{
    public static IEnumerable<string> Lines(ProbeReport report, Func<ContractTrial, string> asOptions)
    {
        foreach (var note in report.Notes) yield return note;
        if (report.Correct is not int k)
        {
            yield return "accuracy not measured";
            yield break;
        }
        var accuracy = Estimate.Binomial(k, report.Images);
        yield return $"accuracy {accuracy.Text("F3")} (95% interval) on {report.Images} test images; chance "
            + $"{report.Chance:F3}";
        var best = report.Trials.MaxBy(t => t.Correct);
        var better = best is null ? null : Estimate.Binomial(best.Correct, report.Images);
        if (best is not null && better!.Lower > accuracy.Upper)
            yield return $"warning: with {asOptions(best)} the accuracy would be {better.Text("F3")}: the stored "
                + "input contract is probably wrong; import again with those options";
        else if (accuracy.Upper < 2 * report.Chance)
            yield return "warning: the accuracy is near chance, and no other usual input contract does better: "
                + "check the model's input contract (range, normalisation) and classes";
    }
}
