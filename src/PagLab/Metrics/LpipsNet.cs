using PagLab.Common;
using PagLab.IO;
using static TorchSharp.torch;

namespace PagLab.Metrics;

/// <summary>The ImageNet networks LPIPS v0.1 taps, by the name specs, result files and `--net` spell.</summary>
public enum LpipsNet
{
    [Name("squeeze", "SqueezeNet 1.1 (Iandola et al. 2016), the smallest")] Squeeze,
    [Name("alex", "AlexNet (Krizhevsky et al. 2012), the paper's (Section 5)")] Alex,
    [Name("vgg", "VGG-16 (Simonyan and Zisserman 2015)")] Vgg,
}

/// <summary>
/// The LPIPS a measurement compares with, found the one way the CLI, sweeps and the demo share: the network
/// named, else the one of the weights given (the option, else $PAGLAB_LPIPS_WEIGHTS), else alex when its weights
/// are in the data root, else squeeze; the weights from the option, $PAGLAB_LPIPS_WEIGHTS, the data root or, for
/// squeeze, the weights shipped with PagLab (<see cref="Lpips.BundledWeights"/>).
/// </summary>
/// <param name="Weights">The weights file; null when none was found (measurements then use SSIM and cosine).</param>
public sealed record LpipsChoice(LpipsNet Net, string? Weights, string DataRootWeights)
{
    /// <summary>A weights file named by <paramref name="weights"/> is taken as given (a missing one fails when
    /// loaded); one found through the environment or the data root only when it exists.</summary>
    public static LpipsChoice Find(string? weights, string? dataRoot, LpipsNet? net = null)
    {
        var chosen = net ?? Lpips.DefaultNet(weights ?? Environment.GetEnvironmentVariable("PAGLAB_LPIPS_WEIGHTS"),
            dataRoot);
        string? path = Lpips.FindWeights(weights, chosen, dataRoot);
        bool usable = path is not null && (!string.IsNullOrEmpty(weights) || File.Exists(path));
        return new(chosen, usable ? path : null, Lpips.DataRootWeights(chosen, dataRoot));
    }

    /// <summary>One line for the log: which LPIPS, or where its weights would have been.</summary>
    public string Describe() => Weights is null
        ? $"note: no LPIPS-{Vocabulary.Name(Net)} weights (`paglab weights fetch lpips-{Vocabulary.Name(Net)}` puts"
            + $" them at {DataRootWeights}, or set PAGLAB_LPIPS_WEIGHTS): SSIM and cosine only"
        : $"LPIPS-{Vocabulary.Name(Net)} ({Weights})";

    /// <summary>The loaded network; null without weights.</summary>
    public Lpips? Load() => Weights is null ? null : Lpips.Load(Net, Weights);
}

/// <summary>LPIPS between two image files (`paglab lpips A B`).</summary>
public static class LpipsImages
{
    /// <summary>The distance of two images of one size, their pixels read as [0,1] and compared in [-1,1].</summary>
    public static double Distance(Lpips lpips, string pathA, string pathB)
    {
        using var x = RgbImage.Read(pathA);       // (C, H, W)
        using var y = RgbImage.Read(pathB);
        if (!x.shape.SequenceEqual(y.shape))
            throw new PagLabException($"{pathB}: is {y.shape[2]}x{y.shape[1]} but {pathA} is "
                + $"{x.shape[2]}x{x.shape[1]}; LPIPS compares images of the same size");
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        return lpips.call(Lpips.FromUnitRange(x.unsqueeze(0)), Lpips.FromUnitRange(y.unsqueeze(0))).item<float>();
    }
}
