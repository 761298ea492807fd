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
        /// <summary>One run's images where the quantity is defined (not NaN; e.g. rho_2 of a zero gradient).
        /// </summary>
        public static Sample Defined(double[] images) => One(images.Where(v => !double.IsNaN(v)).ToArray());
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

    /// <summary>mean(a) - mean(b) for samples of two different models (resampled independently).</summary>
    public static Estimate Difference(Sample a, Sample b, long seed = DefaultSeed) =>
        Of(new[] { new Group(new[] { a }), new Group(new[] { b }) }, m => m[0][0] - m[1][0], seed);

    /// <summary>
    /// The median over images of a[i] / b[i] (paired per image, e.g. off / on), all runs' images pooled, with the
    /// percentile interval of the same two-level resampling: unlike mean(a) / mean(b) it is not dominated by a few
    /// images with large values. Images where both are 0 (0/0) carry no ratio and are left out.
    /// </summary>
    public static Estimate MedianRatio(Sample a, Sample b, long seed = DefaultSeed, int replicates = Replicates)
    {
        if (a.Units == 0 || a.Runs.Count != b.Runs.Count
            || a.Runs.Where((r, i) => r.Length != b.Runs[i].Length).Any())
            return a.Units == 0 ? Estimate.Empty
                : throw new ArgumentException("paired quantities must have the same runs and images");
        double[][] ratios = a.Runs.Select((r, k) => r.Select((v, i) => v / b.Runs[k][i]).ToArray()).ToArray();
        double point = Median(ratios.SelectMany(r => r).Where(v => !double.IsNaN(v)).ToList());
        if (a.Units == 1) return new Estimate(point, double.NegativeInfinity, double.PositiveInfinity, 1);
        var rng = new Random(unchecked((int)seed));
        var values = new List<double>(replicates);
        var drawn = new List<double>(a.Units);
        for (int r = 0; r < replicates; r++)
        {
            drawn.Clear();
            for (int k = 0; k < ratios.Length; k++)
            {
                var run = ratios[rng.Next(ratios.Length)];
                for (int i = 0; i < run.Length; i++) drawn.Add(run[rng.Next(run.Length)]);
            }
            double v = Median(drawn.Where(x => !double.IsNaN(x)).ToList());
            if (!double.IsNaN(v)) values.Add(v);
        }
        if (values.Count < Level * replicates) return new Estimate(point, double.NaN, double.NaN, a.Units);
        values.Sort();
        double tail = (1 - Level) / 2;
        return new Estimate(point, Percentile(values, tail), Percentile(values, 1 - tail), a.Units);
    }

    static double Median(List<double> values)
    {
        if (values.Count == 0) return double.NaN;
        values.Sort();
        int middle = values.Count / 2;
        return values.Count % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
    }

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
