using PagLab.Experiments;
using PagLab.Uncertainty;
using Sample = PagLab.Uncertainty.Bootstrap.Sample;

namespace PagLab.Reporting;

/// <summary>On and off sensitivity of a level at one epsilon (seeds pooled): off/on as the ratio of the means and as
/// the median of the per-image ratios (issue 24: the mean is dominated by a few low-margin images).</summary>
public sealed record EpsilonSummary(double Epsilon, Estimate On, Estimate Off, Estimate OffOverOn,
    Estimate MedianOffOverOn)
{
    /// <summary>off over isotropic noise of the same norm (`measure.isotropicControl`); null when not measured.
    /// </summary>
    public Estimate? OffOverIsotropic { get; init; }
}

/// <summary>A level at one cell of the tangent-dimension scan (seeds pooled): off/on as the ratio of means and as the
/// median per image, and off over isotropic noise of the same norm.</summary>
public sealed record ScanSummary(int Latent, double Epsilon, Estimate OffOverOn, Estimate MedianOffOverOn,
    Estimate? OffOverIsotropic);

/// <summary>Relative noise robustness and the two output changes of a level at one sigma (seeds pooled).</summary>
public sealed record SigmaSummary(double Sigma, Estimate RelativeRobustness, Estimate Signal, Estimate Distractor);

/// <summary>A dataset's denoiser quality (quality.json) and whether its score supports alignment findings at the
/// alignment noise level.</summary>
public sealed record ScoreSummary(string Dataset, Score.DenoiserQuality Quality, double AlignmentSigma,
    Score.ScoreAdequacy? Adequacy);

/// <summary>One point of the report's curves: a level's numbers with intervals over seeds and images, and its
/// regime.</summary>
public sealed record LevelSummary
{
    public required Level Level { get; init; }
    public required Regime Regime { get; init; }
    public required string Reason { get; init; }
    /// <summary>The model no longer works as a classifier: its off/on is a ratio of rounding noise, shown as n/a.
    /// </summary>
    public bool Collapsed { get; init; }
    public required Estimate Accuracy { get; init; }
    public required IReadOnlyList<EpsilonSummary> Sensitivity { get; init; }
    public Estimate? Alignment { get; init; }
    public Estimate? BayesCosine { get; init; }
    public Estimate? RelativeNoise { get; init; }
    public required IReadOnlyList<SigmaSummary> Noise { get; init; }
    /// <summary>The tangent-dimension scan, by k then eps; empty without one.</summary>
    public IReadOnlyList<ScanSummary> Scan { get; init; } = Array.Empty<ScanSummary>();
}

/// <summary>
/// Everything the report shows, computed from typed results only (no torch, no file reads):
/// levels with pooled intervals, regimes and findings. ReportBuilder renders it.
/// </summary>
public sealed record ReportModel
{
    public required string Name { get; init; }
    public required IReadOnlyList<string> Datasets { get; init; }
    public int JobsTotal { get; init; }
    public required IReadOnlyList<JobResult> Results { get; init; }
    public required IReadOnlyList<LevelSummary> Levels { get; init; }
    public required IReadOnlyList<Finding> Findings { get; init; }
    public double? RegimeEpsilon { get; init; }
    /// <summary>The regime rule the levels were classified by (its delta and kappa are shown).</summary>
    public RegimeRule Rule { get; init; } = new();
    /// <summary>Levels whose alignment contradicts their regime (a bayes-aligned level less aligned than a weak one
    /// by its interval), each said in one sentence.</summary>
    public IReadOnlyList<string> Contradictions { get; init; } = Array.Empty<string>();
    public required string OutputMeasure { get; init; }
    public bool HaveLpips { get; init; }
    public string AlignmentName => HaveLpips ? "1 - LPIPS" : "SSIM";
    public required IReadOnlyList<(string Stage, double Seconds)> Stages { get; init; }
    /// <summary>The denoisers behind the alignment numbers (datasets with an exact score have none).</summary>
    public IReadOnlyList<ScoreSummary> Scores { get; init; } = Array.Empty<ScoreSummary>();
    /// <summary>Per dataset, each k's autoencoder vs PCA error and angles to local PCA (the tangent-dimension scan's
    /// latents.json); empty without a scan.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<Manifold.LatentQuality>> Latents { get; init; } =
        new Dictionary<string, IReadOnlyList<Manifold.LatentQuality>>();
    /// <summary>Per dataset, what the sweep trained and measured at (shown beside the paper's setting).</summary>
    public IReadOnlyList<OurSetting> Ours { get; init; } = Array.Empty<OurSetting>();
    /// <summary>What the sweep's scale cannot settle, per dataset (<see cref="SweepScale"/>).</summary>
    public IReadOnlyList<ScaleLimit> ScaleLimits { get; init; } = Array.Empty<ScaleLimit>();

    public LevelSummary? SummaryOf(JobResult r) => Levels.FirstOrDefault(l => l.Level.Contains(r));

    public OurSetting? OursOf(string dataset) => Ours.FirstOrDefault(o => o.Dataset == dataset);

    /// <summary>The numbers (1-based, in <see cref="ScaleLimits"/>) of the limits that leave a finding unsettled.
    /// </summary>
    public IReadOnlyList<int> UnsettledBy(Finding f) => ScaleLimits
        .Select((limit, i) => (limit, Number: i + 1))
        .Where(x => x.limit.Dataset == f.Dataset && x.limit.Unsettled.Contains(f.Id)).Select(x => x.Number).ToList();

    /// <summary>The findings some limit leaves unsettled.</summary>
    public IReadOnlyList<Finding> Unsettled => Findings.Where(f => UnsettledBy(f).Count > 0).ToList();

    /// <param name="denoiserQuality">Per dataset, the quality.json of the sweep's denoiser, where it has one.</param>
    /// <param name="latents">Per dataset, the tangent-dimension scan's latents.json, where it has one.</param>
    public static ReportModel Build(SweepSpec spec, IReadOnlyList<JobResult> results,
        IReadOnlyDictionary<string, Score.DenoiserQuality>? denoiserQuality = null,
        IReadOnlyDictionary<string, IReadOnlyList<Manifold.LatentQuality>>? latents = null)
    {
        double SigmaOf(string dataset) => spec.Measure.AlignmentSigma ?? Data.Datasets.AlignmentSigma(dataset);
        var scores = (denoiserQuality ?? new Dictionary<string, Score.DenoiserQuality>())
            .Where(kv => spec.Datasets.Contains(kv.Key))
            .Select(kv => new ScoreSummary(kv.Key, kv.Value, SigmaOf(kv.Key), kv.Value.AdequacyAt(SigmaOf(kv.Key))))
            .ToList();
        var regimes = spec.Regimes.Classify(results);
        bool haveLpips = results.Where(r => r.Alignment is not null).DefaultIfEmpty()
            .All(r => r?.Alignment?.OneMinusLpipsPerImage is not null)
                         && results.Any(r => r.Alignment is not null);
        double? eps = spec.Regimes.EpsilonFor(results);
        var alignment = Reporting.Findings.AlignmentMetric(haveLpips);
        var levels = regimes.Select(r => Summarise(r, alignment)).ToList();
        var findings = Reporting.Findings.Compute(regimes, eps, haveLpips,
            d => scores.FirstOrDefault(s => s.Dataset == d)?.Adequacy);
        var ours = spec.Datasets.Select(d => SweepScale.Ours(spec, d, levels)).OfType<OurSetting>().ToList();
        return new ReportModel
        {
            Name = spec.Name, Datasets = spec.Datasets, JobsTotal = spec.Jobs().Count, Results = results,
            Levels = levels, Findings = findings, RegimeEpsilon = eps, Scores = scores, Ours = ours,
            ScaleLimits = ours.SelectMany(o => SweepScale.Limits(spec, o, levels, scores, eps,
                findings.Where(f => f.Dataset == o.Dataset).Select(f => f.Id).ToHashSet())).ToList(),
            Rule = spec.Regimes, Contradictions = Contradict(regimes, alignment, haveLpips ? "1 - LPIPS" : "SSIM"),
            OutputMeasure = Common.Vocabulary.Name(
                results.Select(r => r.OutputMeasure).FirstOrDefault(m => m is not null) ?? spec.Measure.Output),
            HaveLpips = haveLpips,
            Latents = latents ?? new Dictionary<string, IReadOnlyList<Manifold.LatentQuality>>(),
            Stages = results.SelectMany(r => r.StageSeconds).GroupBy(kv => kv.Key)
                .Select(g => (Common.Vocabulary.Name(g.Key), g.Sum(kv => kv.Value))).ToList(),
        };
    }

    /// <summary>
    /// A bayes-aligned level whose alignment (with the score, and with the Bayes gradient where known) is below a weak
    /// level's of the same dataset by the interval of their difference: the regime and the alignment disagree.
    /// </summary>
    static List<string> Contradict(IReadOnlyList<LevelRegime> regimes, Func<JobResult, double[]?> alignment,
        string metric)
    {
        var said = new List<string>();
        var measures = new (Func<JobResult, double[]?> Pick, string Name)[]
            { (alignment, metric), (r => r.Alignment?.BayesCosinePerImage, "cosine to the Bayes gradient") };
        foreach (var aligned in regimes.Where(r => r.Regime == Regime.BayesAligned))
            foreach (var weak in regimes.Where(r => r.Regime == Regime.Weak
                                                     && r.Level.Dataset == aligned.Level.Dataset))
                foreach (var (pick, name) in measures)
                {
                    if (aligned.Level.Values(pick) is not { } a || weak.Level.Values(pick) is not { } w) continue;
                    var difference = Bootstrap.Difference(a, w);
                    if (difference.Below(0))
                        said.Add($"{aligned.Level.Label} is bayes-aligned but less aligned ({name}) than "
                            + $"{weak.Level.Label}, which is weak: difference {difference.Text()}");
                }
        return said;
    }

    static LevelSummary Summarise(LevelRegime regime, Func<JobResult, double[]?> alignment)
    {
        var level = regime.Level;
        Estimate? Mean(Sample? s) => s is null ? null : Bootstrap.Mean(s);
        var epsilons = level.Completed.SelectMany(r => r.Sensitivity.Select(s => s.Epsilon)).Distinct().Order();
        var sensitivity = epsilons.Where(e => level.On(e) is not null && level.Off(e) is not null).Select(e =>
        {
            Sample on = level.On(e)!, off = level.Off(e)!;
            var ratio = Bootstrap.Ratio(off, on);
            var median = Bootstrap.MedianRatio(off, on);
            var isotropic = new OnOffCell(null, e).Isotropic(level);
            return new EpsilonSummary(e, Bootstrap.Mean(on), Bootstrap.Mean(off), ratio, median)
                { OffOverIsotropic = isotropic is null ? null : Bootstrap.Ratio(off, isotropic) };
        }).ToList();
        var sigmas = level.Completed.SelectMany(r => r.Distractor.Select(p => p.Sigma)).Distinct().Where(s => s > 0)
            .Order();
        var noise = sigmas.Select(sigma =>
        {
            var points = level.Completed
                .Select(r => r.Distractor.FirstOrDefault(p => p.Sigma == sigma)).OfType<DistractorPoint>().ToList();
            Sample signal = new(points.Select(p => p.SignalPerImage).ToList());
            Sample distractor = new(points.Select(p => p.DistractorPerImage).ToList());
            var ratio = Bootstrap.Ratio(signal, distractor);
            return new SigmaSummary(sigma, ratio, Bootstrap.Mean(signal), Bootstrap.Mean(distractor));
        }).ToList();
        var overSigmas = level.Completed.Where(r => r.Distractor.Any(p => p.Sigma > 0))
            .Select(r => DistractorRobustness.MeanOverSigmas(r.Distractor)).ToList();
        Estimate? relative = overSigmas.Count == 0 ? null : Bootstrap.Ratio(
            new Sample(overSigmas.Select(o => o.Signal).ToList()),
                new Sample(overSigmas.Select(o => o.Distractor).ToList()));
        return new LevelSummary
        {
            Level = level, Regime = regime.Regime, Reason = regime.Reason, Collapsed = regime.Collapsed,
            Accuracy = level.AccuracyEstimate,
            Sensitivity = sensitivity, Alignment = Mean(level.Values(alignment)),
            BayesCosine = Mean(level.Values(r => r.Alignment?.BayesCosinePerImage)), RelativeNoise = relative,
                Noise = noise, Scan = ScanOf(level),
        };
    }

    /// <summary>A level's tangent-dimension scan, seeds pooled, by k then eps.</summary>
    static List<ScanSummary> ScanOf(Level level)
    {
        var cells = level.Completed.SelectMany(r => r.TangentScan ?? new()).Where(s => s.Latent is not null)
            .Select(s => new OnOffCell(s.Latent, s.Epsilon)).Distinct().OrderBy(c => c.Latent).ThenBy(c => c.Epsilon);
        var scan = new List<ScanSummary>();
        foreach (var cell in cells)
        {
            if (cell.On(level) is not { } on || cell.Off(level) is not { } off) continue;
            var isotropic = cell.Isotropic(level);
            scan.Add(new ScanSummary(cell.Latent!.Value, cell.Epsilon, Bootstrap.Ratio(off, on),
                Bootstrap.MedianRatio(off, on), isotropic is null ? null : Bootstrap.Ratio(off, isotropic)));
        }
        return scan;
    }
}
