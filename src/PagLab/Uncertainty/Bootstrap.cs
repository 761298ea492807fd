namespace PagLab.Uncertainty;

/// <summary>
/// Percentile bootstrap over a two-level sample: runs (training seeds) are resampled with
/// replacement, then images within each drawn run; a quantity's value is the mean over the drawn
/// runs of their mean over the drawn images. With one seed this is the ordinary bootstrap over
/// images. Several quantities measured on the same images (on and off, signal and distractor) are
/// resampled together (paired); separate models are resampled independently. Fixed seed: the same
/// data give the same interval.
/// </summary>
public static class Bootstrap
{
    public const double Level = 0.95;
    public const int Replicates = 1000;
    public const long DefaultSeed = 20231;

    /// <summary>Per-image values of one quantity: one array per run (seed).</summary>
    public sealed record Sample(IReadOnlyList<double[]> Runs)
    {
        public static Sample One(double[] images) => new(new[] { images });
        public int Units => Runs.Sum(r => r.Length);
        public double Mean => Runs.Count == 0 ? double.NaN : Runs.Average(r => r.Length == 0 ? double.NaN
            : r.Average());
    }

    /// <summary>Quantities measured on the same runs and images of one model (paired).</summary>
    public sealed record Group(IReadOnlyList<Sample> Quantities);

    public static Estimate Mean(Sample sample, long seed = DefaultSeed) =>
        Of(new[] { new Group(new[] { sample }) }, m => m[0][0], seed);

    /// <summary>mean(a) / mean(b) for paired samples (e.g. off over on), both resampled with the same
    /// indices.</summary>
    public static Estimate Ratio(Sample a, Sample b, long seed = DefaultSeed) =>
        Of(new[] { new Group(new[] { a, b }) }, m => m[0][0] / m[0][1], seed);

    /// <summary>The median over images of a[i] / b[i] (paired per-image values of one run, e.g. off over on), with
    /// its percentile interval over images resampled with replacement: unlike the ratio of means, a few images
    /// with large values cannot dominate it.</summary>
    public static Estimate MedianRatio(double[] a, double[] b, long seed = DefaultSeed, int replicates = Replicates)
    {
        if (a.Length != b.Length) throw new ArgumentException("paired values must have the same images");
        var ratios = a.Zip(b, (x, y) => x / y).ToArray();
        if (ratios.Length == 0) return Estimate.Empty;
        double point = Median(ratios);
        if (ratios.Length == 1) return new Estimate(point, double.NegativeInfinity, double.PositiveInfinity, 1);
        var rng = new Random(unchecked((int)seed));
        var values = new List<double>(replicates);
        var drawn = new double[ratios.Length];
        for (int r = 0; r < replicates; r++)
        {
            for (int i = 0; i < drawn.Length; i++) drawn[i] = ratios[rng.Next(ratios.Length)];
            values.Add(Median(drawn));
        }
        values.Sort();
        double tail = (1 - Level) / 2;
        return new Estimate(point, Percentile(values, tail), Percentile(values, 1 - tail), ratios.Length);
    }

    /// <summary>The middle value (mean of the two middle ones for an even count); NaN when any value is NaN.</summary>
    public static double Median(IReadOnlyList<double> values)
    {
        if (values.Any(double.IsNaN)) return double.NaN;
        var sorted = values.OrderBy(v => v).ToArray();
        int m = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
    }

    /// <summary>mean(a) - mean(b) for samples of two different models (resampled independently).</summary>
    public static Estimate Difference(Sample a, Sample b, long seed = DefaultSeed) =>
        Of(new[] { new Group(new[] { a }), new Group(new[] { b }) }, m => m[0][0] - m[1][0], seed);

    /// <summary>Spearman's rank correlation between x and the means of the levels (one model per level).</summary>
    public static Estimate Spearman(double[] x, IReadOnlyList<Sample> levels, long seed = DefaultSeed) =>
        Of(levels.Select(l => new Group(new[] { l })).ToList(), m => Ranks.Spearman(x, m.Select(g => g[0]).ToArray()),
            seed);

    /// <summary>
    /// The statistic of the groups' quantity means (means[group][quantity]), its point value on all the
    /// data and its percentile interval over replicates. Replicates where the statistic is NaN are
    /// dropped; if more than 1 - Level of them are, the interval is unknown (NaN).
    /// </summary>
    public static Estimate Of(IReadOnlyList<Group> groups, Func<double[][], double> statistic, long seed = DefaultSeed,
        int replicates = Replicates)
    {
        int units = groups.Count == 0 ? 0 : groups
            .Min(g => g.Quantities.Count == 0 ? 0 : g.Quantities.Min(q => q.Units));
        if (units == 0) return Estimate.Empty;
        foreach (var g in groups)
            if (g.Quantities.Any(q => q.Runs.Count != g.Quantities[0].Runs.Count
                                      || q.Runs.Where((r, i) => r.Length != g.Quantities[0].Runs[i].Length).Any()))
                throw new ArgumentException("paired quantities must have the same runs and images");
        double point = statistic(groups.Select(g => g.Quantities.Select(q => q.Mean).ToArray()).ToArray());
        if (units == 1) return new Estimate(point, double.NegativeInfinity, double.PositiveInfinity, 1);
        var rng = new Random(unchecked((int)seed));
        var values = new List<double>(replicates);
        var means = groups.Select(g => new double[g.Quantities.Count]).ToArray();
        for (int r = 0; r < replicates; r++)
        {
            for (int g = 0; g < groups.Count; g++) Resample(groups[g], rng, means[g]);
            double v = statistic(means);
            if (!double.IsNaN(v)) values.Add(v);
        }
        if (values.Count < Level * replicates) return new Estimate(point, double.NaN, double.NaN, units);
        values.Sort();
        double tail = (1 - Level) / 2;
        return new Estimate(point, Percentile(values, tail), Percentile(values, 1 - tail), units);
    }

    /// <summary>One replicate: runs with replacement, then images with replacement within each; means per
    /// quantity.</summary>
    static void Resample(Group group, Random rng, double[] means)
    {
        var runs = group.Quantities[0].Runs;
        Array.Clear(means);
        for (int k = 0; k < runs.Count; k++)
        {
            int run = rng.Next(runs.Count), n = runs[run].Length;
            var sums = new double[means.Length];
            for (int i = 0; i < n; i++)
            {
                int image = rng.Next(n);
                for (int q = 0; q < means.Length; q++) sums[q] += group.Quantities[q].Runs[run][image];
            }
            for (int q = 0; q < means.Length; q++) means[q] += sums[q] / n / runs.Count;
        }
    }

    /// <summary>Linear interpolation between order statistics of sorted values.</summary>
    static double Percentile(List<double> sorted, double p)
    {
        double position = p * (sorted.Count - 1);
        int below = (int)Math.Floor(position), above = Math.Min(below + 1, sorted.Count - 1);
        double a = sorted[below], b = sorted[above];
        return a == b ? a : a + (b - a) * (position - below);
    }
}

/// <summary>Rank statistics.</summary>
public static class Ranks
{
    /// <summary>Ranks 1..n, ties sharing their average rank.</summary>
    public static double[] Of(double[] values)
    {
        var order = Enumerable.Range(0, values.Length).OrderBy(i => values[i]).ToArray();
        var ranks = new double[values.Length];
        for (int start = 0; start < order.Length;)
        {
            int end = start;
            while (end + 1 < order.Length && values[order[end + 1]] == values[order[start]]) end++;
            for (int i = start; i <= end; i++) ranks[order[i]] = (start + end) / 2.0 + 1;
            start = end + 1;
        }
        return ranks;
    }

    /// <summary>Spearman's rho: Pearson's correlation of the ranks; NaN when either side is constant.</summary>
    public static double Spearman(double[] x, double[] y)
    {
        if (x.Length != y.Length || x.Length < 2 || y.Any(double.IsNaN)) return double.NaN;
        double[] rx = Of(x), ry = Of(y);
        double mx = rx.Average(), my = ry.Average(), sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < x.Length; i++)
        {
            sxy += (rx[i] - mx) * (ry[i] - my);
            sxx += (rx[i] - mx) * (rx[i] - mx);
            syy += (ry[i] - my) * (ry[i] - my);
        }
        return sxx == 0 || syy == 0 ? double.NaN : sxy / Math.Sqrt(sxx * syy);
    }
}
