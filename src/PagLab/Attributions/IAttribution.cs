using PagLab.Common;
using static TorchSharp.torch;

namespace PagLab.Attributions;

/// <summary>
/// An attribution method (captum's <c>Attribution.attribute</c>): one map per input image, the shape of the input.
/// <c>target</c> holds the class each image's map is of, or null for the sum over classes; it is
/// chosen on the clean images by the caller, so noisy or interpolated copies keep their image's class.
/// </summary>
public interface IAttribution
{
    /// <summary>x (B, C, H, W) -> attributions (B, C, H, W); x itself is never modified.</summary>
    Tensor Attribute(Tensor x, Tensor? target);
}

/// <summary>Which attribution a measurement compares with the score.</summary>
public enum AttributionKind
{
    [Name("gradient", "the input gradient (Simonyan et al. 2014, without the absolute value)")] Gradient,
    [Name("smoothgrad", "the mean gradient over n Gaussian copies at sigma (Smilkov et al. 2017): the gradient "
        + "of the Gaussian-smoothed model")] SmoothGrad,
    [Name("integrated-gradients", "(x - baseline) times the mean gradient at m points of the straight path "
        + "from the baseline (Sundararajan et al. 2017)")] IntegratedGradients,
}

/// <summary>An attribution and its parameters; the defaults are the published methods' usual values.</summary>
public sealed record AttributionSettings
{
    public AttributionKind Method { get; init; } = AttributionKind.Gradient;
    /// <summary>SmoothGrad's n, the Gaussian copies per image (Smilkov et al. 2017 show maps settle by n = 50; 16
    /// keeps the cost of a measurement at 16 gradients per image).</summary>
    public int Draws { get; init; } = 16;
    /// <summary>SmoothGrad's sigma in [0,1]-pixel units: 0.15, inside the 10-20% of the pixel range Smilkov et al.
    /// recommend.</summary>
    public double NoiseSigma { get; init; } = 0.15;
    /// <summary>Integrated Gradients' m, the path points (midpoint rule, captum's riemann_middle; captum's default
    /// is 50).</summary>
    public int Steps { get; init; } = 32;
    /// <summary>Integrated Gradients' baseline, one pixel value for every pixel (0: the black image, captum's
    /// default of zeros).</summary>
    public double Baseline { get; init; }
    /// <summary>Seed of SmoothGrad's noise, so a measurement repeats exactly.</summary>
    public long Seed { get; init; }

    public void Validate()
    {
        Require.InRange(Draws, 1, 4096, "draws");
        Require.NonNegative(NoiseSigma, "noiseSigma");
        Require.InRange(Steps, 1, 4096, "steps");
        Require.That(double.IsFinite(Baseline), $"baseline must be a finite number, got {Baseline}");
    }

    /// <summary>The method built over an input gradient (captum's composition: NoiseTunnel(Saliency) is
    /// SmoothGrad).</summary>
    public IAttribution Over(IAttribution gradient) => Method switch
    {
        AttributionKind.SmoothGrad => new NoiseTunnel(gradient, Draws, NoiseSigma, Seed),
        AttributionKind.IntegratedGradients => new IntegratedGradients(gradient, Steps, Baseline),
        _ => gradient,
    };

    /// <summary>"gradient", "smoothgrad (n 16, sigma 0.15)", "integrated-gradients (m 32, baseline 0)".</summary>
    public override string ToString() => Vocabulary.Name(Method) + Method switch
    {
        AttributionKind.SmoothGrad => FormattableString.Invariant($" (n {Draws}, sigma {NoiseSigma:G4})"),
        AttributionKind.IntegratedGradients => FormattableString.Invariant($" (m {Steps}, baseline {Baseline:G4})"),
        _ => "",
    };
}
