using static TorchSharp.torch;

namespace PagLab.Tests;

/// <summary>
/// The one rule for comparing floating-point results in tests (docs/reliability.md, "Bit-identical or within
/// tolerance"). Two correct float32 computations of one quantity that add in another order (another CPU's vector
/// width, oneDNN's kernel for that ISA, PyTorch's build against libtorch's) differ by rounding: about
/// <see cref="Epsilon"/> = 2^-23 of the quantity's scale per operation, growing with the number of operations that
/// feed one number. A tolerance is therefore <c>ulps x Epsilon x scale</c>, where <c>scale</c> is the magnitude
/// of the whole quantity (the largest |value| compared, not each element: an element near zero carries its
/// neighbours' absolute error) and <c>ulps</c> is a budget for the kind of computation, set with margin over the
/// differences measured between AVX2 and AVX-512 machines (noted at each budget).
/// </summary>
public static class Float32Tolerance
{
    /// <summary>float32's relative precision, 2^-23.</summary>
    public const double Epsilon = 1.0 / (1 << 23);

    /// <summary>A few elementwise operations or one short reduction.</summary>
    public const double Op = 16;

    /// <summary>One network forward or backward: convolutions and sums over hundreds of terms (a traced
    /// denoiser's score differs by up to 6 ulps of its scale between Zen 3 and Zen 5).</summary>
    public const double Network = 64;

    /// <summary>Double backward, or a network followed by a decomposition (SVD, QR).</summary>
    public const double SecondOrder = 256;

    /// <summary>End to end: a few steps of training, then measurements. Rounding differences grow through the
    /// optimiser's steps; the tiny sweep's results.csv differs by up to 163 ulps of a column's scale between
    /// AVX-512 and the lowest (`default`) ISA.</summary>
    public const double EndToEnd = 2048;

    /// <summary>The absolute tolerance for a quantity of magnitude <paramref name="scale"/>.</summary>
    public static double Of(double scale, double ulps) => ulps * Epsilon * Math.Max(Math.Abs(scale), float.Epsilon);

    /// <summary>The absolute tolerance for comparing against <paramref name="reference"/>, scaled by its largest
    /// magnitude.</summary>
    public static double Of(Tensor reference, double ulps)
    {
        using var max = reference.abs().max().to_type(ScalarType.Float64);   // integer tensors too
        return Of(max.item<double>(), ulps);
    }

    /// <summary>Asserts max |actual - expected| within <paramref name="ulps"/> of expected's scale; the message
    /// names <paramref name="what"/>, the error and the tolerance.</summary>
    public static void AssertClose(Tensor actual, Tensor expected, double ulps, string what)
    {
        Assert.Equal(expected.shape, actual.shape);
        using var d = (actual.to_type(ScalarType.Float64) - expected.to_type(ScalarType.Float64)).abs().max();
        double error = d.item<double>(), tolerance = Of(expected, ulps);
        Assert.True(error <= tolerance, $"{what}: max |difference| {error:G3} > tolerance {tolerance:G3}");
    }

    /// <summary>Asserts |actual - expected| within <paramref name="ulps"/> of <paramref name="scale"/>.</summary>
    public static void AssertClose(double actual, double expected, double scale, double ulps, string what)
    {
        double error = Math.Abs(actual - expected), tolerance = Of(scale, ulps);
        Assert.True(error <= tolerance, $"{what}: {actual:G9} vs {expected:G9}, |difference| {error:G3} > "
            + $"tolerance {tolerance:G3}");
    }
}
