using System.Globalization;
using PagLab.Certification;

namespace PagLab.Uncertainty;

/// <summary>
/// A measured mean with its 95% interval [Lower, Upper] and the number of units behind it (images, or
/// images over seeds). No interval (one unit) is (-inf, +inf); no data is NaN throughout.
/// </summary>
public sealed record Estimate(double Mean, double Lower, double Upper, int N)
{
    public static Estimate Empty => new(double.NaN, double.NaN, double.NaN, 0);

    /// <summary>A mean with its 95% normal interval, mean -/+ 1.96 sd / sqrt(n) (for large samples of
    /// well-behaved values, where a bootstrap would give the same).</summary>
    public static Estimate Normal(IReadOnlyList<double> values)
    {
        Common.Require.That(values.Count > 0, "an interval needs at least one value");
        double mean = values.Average();
        double sd = values.Count > 1
            ? Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1)) : double.NaN;
        double half = 1.96 * sd / Math.Sqrt(values.Count);
        return new Estimate(mean, mean - half, mean + half, values.Count);
    }

    /// <summary>The interval lies entirely above v.</summary>
    public bool Above(double v) => Lower > v;

    /// <summary>The interval lies entirely below v.</summary>
    public bool Below(double v) => Upper < v;

    /// <summary>Both ends are known (a one-unit or empty estimate has none).</summary>
    public bool Bounded => double.IsFinite(Lower) && double.IsFinite(Upper);

    /// <summary>"mean [lower, upper]"; "n/a" without data; "mean [no interval]" when the bootstrap could not give one
    /// (too many replicates undefined).</summary>
    public string Text(string format = "G3") =>
        double.IsNaN(Mean) ? "n/a"
        : double.IsNaN(Lower) || double.IsNaN(Upper) ? $"{Num(Mean, format)} [no interval]"
        : $"{Num(Mean, format)} [{Num(Lower, format)}, {Num(Upper, format)}]";

    static string Num(double v, string format) =>
        double.IsPositiveInfinity(v) ? "inf" : double.IsNegativeInfinity(v) ? "-inf"
            : v.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>
    /// Test accuracy k / n with the exact (Clopper-Pearson) 95% binomial interval: bootstrapping the
    /// 0/1 image outcomes gives the same spread but no interval at k = 0 or k = n.
    /// </summary>
    public static Estimate Binomial(long k, long n)
    {
        if (n <= 0) return Empty;
        const double alpha = 1 - Bootstrap.Level;
        double lower = Statistics.ClopperPearsonLower(k, n, alpha / 2);
        double upper = 1 - Statistics.ClopperPearsonLower(n - k, n, alpha / 2);
        return new Estimate((double)k / n, lower, upper, (int)n);
    }
}
