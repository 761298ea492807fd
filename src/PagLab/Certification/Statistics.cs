namespace PagLab.Certification;

/// <summary>The few special functions certification needs, in double precision.</summary>
public static class Statistics
{
    /// <summary>Phi^-1(p): Acklam's rational approximation refined by one Halley step (|error| &lt; 1e-12).</summary>
    public static double NormalQuantile(double p)
    {
        if (p <= 0) return double.NegativeInfinity;
        if (p >= 1) return double.PositiveInfinity;
        double[] a = { -3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02,
            -3.066479806614716e+01, 2.506628277459239e+00 };
        double[] b = { -5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01,
            -1.328068155288572e+01 };
        double[] c = { -7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00,
            4.374664141464968e+00, 2.938163982698783e+00 };
        double[] d = { 7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00 };
        double x;
        if (p < 0.02425)
        {
            double q = Math.Sqrt(-2 * Math.Log(p));
            x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q
                + d[2]) * q + d[3]) * q + 1);
        }
        else if (p > 1 - 0.02425)
        {
            double q = Math.Sqrt(-2 * Math.Log(1 - p));
            x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q
                + d[2]) * q + d[3]) * q + 1);
        }
        else
        {
            double q = p - 0.5, r = q * q;
            x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (((((b[0] * r + b[1]) * r
                + b[2]) * r + b[3]) * r + b[4]) * r + 1);
        }
        double e = NormalCdf(x) - p;
        double u = e * Math.Sqrt(2 * Math.PI) * Math.Exp(x * x / 2);
        return x - u / (1 + x * u / 2);
    }

    public static double NormalCdf(double x) => 0.5 * Erfc(-x / Math.Sqrt(2));

    /// <summary>Complementary error function (Numerical Recipes erfccheb-free variant, relative error &lt; 1.2e-7
    /// refined by series).</summary>
    public static double Erfc(double x)
    {
        // W. J. Cody's rational approximations are long; this continued-fraction/series pair is accurate to ~1e-15.
        double ax = Math.Abs(x);
        double result;
        if (ax < 2.5)
        {
            // erf by its Maclaurin series.
            double sum = ax, term = ax, x2 = ax * ax;
            for (int n = 1; n < 200; n++)
            {
                term *= -x2 / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.Abs(add) < 1e-17 * Math.Abs(sum)) break;
            }
            result = 1 - 2 / Math.Sqrt(Math.PI) * sum;
        }
        else
        {
            // Continued fraction (Lentz) for erfc.
            double tiny = 1e-300, f = ax, cc = ax, dd = 0;
            for (int n = 1; n < 500; n++)
            {
                double an = n / 2.0;
                dd = ax + an * dd; dd = Math.Abs(dd) < tiny ? tiny : dd; dd = 1 / dd;
                cc = ax + an / cc; cc = Math.Abs(cc) < tiny ? tiny : cc;
                double delta = cc * dd;
                f *= delta;
                if (Math.Abs(delta - 1) < 1e-16) break;
            }
            result = Math.Exp(-ax * ax) / Math.Sqrt(Math.PI) / f;
        }
        return x >= 0 ? result : 2 - result;
    }

    public static double LogGamma(double x)
    {
        double[] g = { 76.18009172947146, -86.50532032941677, 24.01409824083091, -1.231739572450155,
            0.1208650973866179e-2, -0.5395239384953e-5 };
        double y = x, tmp = x + 5.5;
        tmp -= (x + 0.5) * Math.Log(tmp);
        double ser = 1.000000000190015;
        foreach (var c in g) ser += c / ++y;
        return -tmp + Math.Log(2.5066282746310005 * ser / x);
    }

    /// <summary>Regularised incomplete beta I_x(a, b) by Lentz's continued fraction.</summary>
    public static double RegularizedIncompleteBeta(double x, double a, double b)
    {
        if (x <= 0) return 0;
        if (x >= 1) return 1;
        double front = Math.Exp(LogGamma(a + b) - LogGamma(a) - LogGamma(b) + a * Math.Log(x) + b * Math.Log(1 - x));
        if (x > (a + 1) / (a + b + 2)) return 1 - RegularizedIncompleteBeta(1 - x, b, a);
        double tiny = 1e-300, f = 1, c = 1, d = 1 - (a + b) * x / (a + 1);
        d = Math.Abs(d) < tiny ? tiny : d; d = 1 / d; f = d;
        for (int m = 1; m < 1000; m++)
        {
            double num = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
            d = 1 + num * d; d = Math.Abs(d) < tiny ? tiny : d; d = 1 / d;
            c = 1 + num / c; c = Math.Abs(c) < tiny ? tiny : c;
            f *= c * d;
            num = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1));
            d = 1 + num * d; d = Math.Abs(d) < tiny ? tiny : d; d = 1 / d;
            c = 1 + num / c; c = Math.Abs(c) < tiny ? tiny : c;
            double delta = c * d;
            f *= delta;
            if (Math.Abs(delta - 1) < 1e-15) break;
        }
        return front * f / a;
    }

    /// <summary>The p-quantile of Beta(a, b), by bisection on the CDF (monotone, 100 halvings).</summary>
    public static double BetaQuantile(double p, double a, double b)
    {
        double lo = 0, hi = 1;
        for (int i = 0; i < 100; i++)
        {
            double mid = (lo + hi) / 2;
            if (RegularizedIncompleteBeta(mid, a, b) < p) lo = mid; else hi = mid;
        }
        return (lo + hi) / 2;
    }

    /// <summary>
    /// One-sided (1 - alpha) Clopper-Pearson lower bound on a binomial proportion with k successes
    /// in n trials: the alpha-quantile of Beta(k, n - k + 1) (Cohen et al. 2019, LowerConfBound).
    /// </summary>
    public static double ClopperPearsonLower(long k, long n, double alpha) => k <= 0 ? 0 : BetaQuantile(alpha, k,
        n - k + 1);
}
