using PagLab.Common;
using PagLab.Data;

namespace PagLab.Models;

/// <summary>
/// Everything needed to rebuild a model: architecture, input shape, classes, options and the
/// input normalisation (kept inside the model so gradients are taken w.r.t. pixels in [0,1]).
/// </summary>
public sealed record ModelSpec
{
    public required Architecture Arch { get; init; }
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
    public int? OutputIndex { get; init; }                      // torchscript: the element of a tuple output to use
    // Input adapters inside the model, so that gradients stay w.r.t. the dataset's image: [H, W] the network
    // takes (bilinear resize), and a grey image repeated into the 3 channels of an RGB network.
    public int[]? Resize { get; init; }
    public bool GreyToRgb { get; init; }

    /// <summary>Channels of the network's input (after the adapters); normalisation is per network channel.
    /// </summary>
    public int NetworkChannels => GreyToRgb ? 3 : Channels;
    public bool Adapts => GreyToRgb || Resize is not null;

    public ImageShape Shape => new(Channels, Height, Width);

    public static ModelSpec For(Architecture arch, IDataset dataset) => new()
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
        float[] mean = Mean.Length > 0 ? Mean : new float[NetworkChannels],
            std = Std.Length > 0 ? Std : Enumerable.Repeat(1f, NetworkChannels).ToArray();
        return (mean.Select(m => (m - lo) / width).ToArray(), std.Select(s => s / width).ToArray());
    }

    /// <summary>The stored input contract in one line: "1x28x28 pixels in [0,1], normalised (x - mean) / std with
    /// mean 0.1307, std 0.3081" (or "not normalised"), then the input adapters and output element when set.</summary>
    public string ContractText()
    {
        static string List(float[] v) =>
            string.Join(",", v.Select(x => x.ToString("G6", System.Globalization.CultureInfo.InvariantCulture)));
        string normalisation = Mean.Length == 0 ? "not normalised"
            : $"normalised (x - mean) / std with mean {List(Mean)}, std {List(Std)}";
        return $"{Channels}x{Height}x{Width} pixels in [{List(PixelRange)}], {normalisation}"
            + (GreyToRgb ? ", grey repeated to RGB" : "")
            + (Resize is [int h, int w] ? $", resized to {h}x{w}" : "")
            + (OutputIndex is int i ? $", logits at output element {i}" : "");
    }

    public void Validate()
    {
        Require.That(Enum.IsDefined(Arch), $"unknown architecture {(int)Arch}");
        Require.That(Channels > 0 && Height > 0 && Width > 0, $"bad input shape {Channels}x{Height}x{Width}");
        Require.That(Classes >= 2, $"a classifier needs at least 2 classes, got {Classes}");
        Require.Positive(WidthMultiplier, "width multiplier");
        Require.That(Mean.Length == Std.Length && (Mean.Length == 0 || Mean.Length == NetworkChannels),
            "normalisation mean/std must have one value per channel");
        Require.That(!GreyToRgb || Channels == 1, $"greyToRgb needs 1-channel images, these have {Channels}");
        Require.That(Resize is null || Resize.Length == 2 && Resize.All(n => n is >= 1 and <= 4096),
            "resize must be H,W with each in 1..4096");
        Require.That(Std.All(s => s > 0 && float.IsFinite(s)) && Mean.All(float.IsFinite),
            "normalisation std must be positive and finite");
        Require.That(PixelRange.Length == 2 && PixelRange.All(float.IsFinite) && PixelRange[1] > PixelRange[0],
            $"pixel range must be LO,HI with LO < HI, got [{string.Join(",", PixelRange)}]");
        ActivationSpec.Parse(Activation);
        Require.That(OutputIndex is null or >= 0 and < 64, $"output index must be in 0..63, got {OutputIndex}");
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
