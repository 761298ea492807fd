using PagLab.Common;
using PagLab.Data;

namespace PagLab.Models;

/// <summary>
/// Everything needed to rebuild a model: architecture, input shape, classes, options and the
/// input normalisation (kept inside the model so gradients are taken w.r.t. pixels in [0,1]).
/// </summary>
public sealed record ModelSpec
{
    // resnet18 | lenet | smallcnn | mlp | linear | torchscript
    public required string Arch { get; init; }
    public required int Channels { get; init; }
    public required int Height { get; init; }
    public required int Width { get; init; }
    public required int Classes { get; init; }
    public double WidthMultiplier { get; init; } = 1.0;       // resnet18 channel width (1 = 64 in the stem)
    // relu | softplus:BETA (smooth models for gradient studies)
    public string Activation { get; init; } = "relu";
    public float[] Mean { get; init; } = Array.Empty<float>();  // per channel; empty = no normalisation
    public float[] Std { get; init; } = Array.Empty<float>();
    public float[] PixelRange { get; init; } = { 0, 1 };        // [lo, hi] the network's pixels span (e.g. -1,1)
    public int Hidden { get; init; } = 256;                     // mlp hidden width
    public string? Dataset { get; init; }

    public ImageShape Shape => new(Channels, Height, Width);

    public static ModelSpec For(string arch, IDataset dataset) => new()
    {
        Arch = arch, Channels = dataset.Shape.Channels, Height = dataset.Shape.Height, Width = dataset.Shape.Width,
        Classes = dataset.Classes, Dataset = dataset.Name,
    };

    /// <summary>
    /// The network's input for pixels x in [0,1]: (lo + (hi - lo) x - mean) / std, written as one per-channel
    /// affine map (x - m') / s' with m' = (mean - lo) / (hi - lo), s' = std / (hi - lo). Null when it is the identity.
    /// </summary>
    public (float[] Mean, float[] Std)? InputTransform()
    {
        float lo = PixelRange[0], width = PixelRange[1] - PixelRange[0];
        if (Mean.Length == 0 && lo == 0 && width == 1) return null;
        float[] mean = Mean.Length > 0 ? Mean : new float[Channels], std = Std.Length > 0 ? Std : Enumerable.Repeat(1f,
            Channels).ToArray();
        return (mean.Select(m => (m - lo) / width).ToArray(), std.Select(s => s / width).ToArray());
    }

    /// <summary>The stored input contract in one line: "1x28x28 pixels in [0,1], normalised (x - mean) / std with
    /// mean 0.1307, std 0.3081" (or "not normalised").</summary>
    public string ContractText()
    {
        static string List(float[] v) => string.Join(",", v.Select(x => x.ToString("G6",
            System.Globalization.CultureInfo.InvariantCulture)));
        string normalisation = Mean.Length == 0 ? "not normalised"
            : $"normalised (x - mean) / std with mean {List(Mean)}, std {List(Std)}";
        return $"{Channels}x{Height}x{Width} pixels in [{List(PixelRange)}], {normalisation}";
    }

    public void Validate()
    {
        Require.That(ModelFactory.Architectures.Contains(Arch) || Arch == ModelFactory.TorchScriptArch,
            $"unknown architecture '{Arch}' (known: {string.Join(", ", ModelFactory.Architectures)})");
        Require.That(Channels > 0 && Height > 0 && Width > 0, $"bad input shape {Channels}x{Height}x{Width}");
        Require.That(Classes >= 2, $"a classifier needs at least 2 classes, got {Classes}");
        Require.Positive(WidthMultiplier, "width multiplier");
        Require.That(Mean.Length == Std.Length && (Mean.Length == 0 || Mean.Length == Channels),
            "normalisation mean/std must have one value per channel");
        Require.That(Std.All(s => s > 0 && float.IsFinite(s)) && Mean.All(float.IsFinite),
            "normalisation std must be positive and finite");
        Require.That(PixelRange.Length == 2 && PixelRange.All(float.IsFinite) && PixelRange[1] > PixelRange[0],
            $"pixel range must be LO,HI with LO < HI, got [{string.Join(",", PixelRange)}]");
        ActivationSpec.Parse(Activation);
    }
}

/// <summary>Parses "relu" or "softplus:BETA".</summary>
public static class ActivationSpec
{
    public static (string Kind, double Beta) Parse(string text)
    {
        if (text == "relu") return ("relu", 0);
        if (text.StartsWith("softplus", StringComparison.Ordinal))
        {
            string rest = text.Length > 8 && text[8] == ':' ? text[9..] : "";
            if (rest == "") return ("softplus", 1.0);
            if (double.TryParse(rest, System.Globalization.CultureInfo.InvariantCulture, out double beta) && beta > 0)
                return ("softplus", beta);
        }
        throw new PagLabException($"unknown activation '{text}' (use relu or softplus:BETA, e.g. softplus:10)");
    }
}
