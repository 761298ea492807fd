using static TorchSharp.torch;

namespace PagLab.Common;

/// <summary>A measurement from a broken model is an error, never a number (issue 21.3).</summary>
public static class Finite
{
    /// <summary>Throws one line naming <paramref name="what"/> when any value is NaN or infinite.</summary>
    public static void Check(Tensor values, string what)
    {
        bool finite;
        using (no_grad()) finite = isfinite(values).all().item<bool>();
        if (!finite) throw new PagLabException($"{what} holds NaN or infinite values (a broken model or denoiser "
            + "gives no numbers)");
    }

    /// <summary>The same for values already read out of their tensors.</summary>
    public static void Check(IEnumerable<double> values, string what)
    {
        if (values.Any(v => !double.IsFinite(v))) throw new PagLabException($"{what} holds NaN or infinite values (a "
            + "broken model or denoiser gives no numbers)");
    }
}
