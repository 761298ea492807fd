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

    /// <summary>The interval lies entirely above v.</summary>
    public bool Above(double v) => Lower > v;

    /// <summary>The interval lies entirely below v.</summary>
    public bool Below(double v) => Upper < v;

    /// <summary>Both ends are known (a one-unit or empty estimate has none).</summary>
    public bool Bounded => double.IsFinite(Lower) && double.IsFinite(Upper);

    public string Text(string format = "G3") =>
        double.IsNaN(Mean) ? "n/a" : $"{Num(Mean, format)} [{Num(Lower, format)}, {Num(Upper, format)}]";

    static string Num(double v, string format) =>
        double.IsPositiveInfinity(v) ? "inf" : double.IsNegativeInfinity(v) ? "-inf" : v.ToString(format,
            CultureInfo.InvariantCulture);

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
