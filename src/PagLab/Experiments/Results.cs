using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using PagLab.Attributions;
using PagLab.Common;
using PagLab.IO;
using PagLab.Manifold;
using PagLab.Models;
using PagLab.Score;
using PagLab.Uncertainty;

namespace PagLab.Experiments;

/// <summary>On- and off-manifold output change at one perturbation norm, with the per-image values behind
/// them.</summary>
public sealed record SensitivityResult
{
    public double Epsilon { get; init; }
    public required Estimate On { get; init; }
    public required Estimate Off { get; init; }
    /// <summary>mean(off) / mean(on), paired over images: below 1 = relatively off-manifold robust (PAGs Definition
    /// 1).</summary>
    public required Estimate OffOverOn { get; init; }
    public required double[] OnPerImage { get; init; }
    public required double[] OffPerImage { get; init; }
    /// <summary>The tangent dimension k of a tangent-dimension scan's cell (`shared.tangentDimensions`); null for
    /// the job's main measurement on the shared tangents.</summary>
    public int? Latent { get; init; }
    /// <summary>The control (`measure.isotropicControl`, always in a scan): isotropic noise of the same norm, in
    /// the same batch; null when not measured.</summary>
    public Estimate? Isotropic { get; init; }
    /// <summary>mean(off) / mean(isotropic), paired over images: how much of the isotropic change the off-manifold
    /// part carries (about 1 for a model blind to the manifold, 0 for one flat off it).</summary>
    public Estimate? OffOverIsotropic { get; init; }
    public double[]? IsotropicPerImage { get; init; }
    /// <summary>The median of per-image off/on (a scan's cells; the report computes it for the main measurement).
    /// </summary>
    public Estimate? MedianOffOverOn { get; init; }

    public static SensitivityResult From(EpsilonResult r) => Of(r, null);

    /// <summary>A tangent-dimension scan's cell at latent k, with the median off/on too.</summary>
    public static SensitivityResult ForLatent(EpsilonResult r, int latent) => Of(r, latent);

    static SensitivityResult Of(EpsilonResult r, int? latent)
    {
        var on = Bootstrap.Sample.One(r.OnPerImage);
        var off = Bootstrap.Sample.One(r.OffPerImage);
        var isotropic = r.IsotropicPerImage.Length > 0 ? Bootstrap.Sample.One(r.IsotropicPerImage) : null;
        return new SensitivityResult
        {
            Epsilon = r.Epsilon, On = Bootstrap.Mean(on), Off = Bootstrap.Mean(off),
            OffOverOn = Bootstrap.Ratio(off, on),
            OnPerImage = r.OnPerImage, OffPerImage = r.OffPerImage,
            Latent = latent,
            Isotropic = isotropic is null ? null : Bootstrap.Mean(isotropic),
            OffOverIsotropic = isotropic is null ? null : Bootstrap.Ratio(off, isotropic),
            IsotropicPerImage = isotropic is null ? null : r.IsotropicPerImage,
            MedianOffOverOn = latent is null ? null : Bootstrap.MedianRatio(off, on),
        };
    }
}

/// <summary>Perceptual alignment of the model's input gradients with the score, per metric, with per-image
/// values.</summary>
public sealed record AlignmentResult
{
    public required GradientMode Mode { get; init; }
    /// <summary>The attribution compared with the score, as measure.attributions names it; null: the gradient.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public AttributionKind? Attribution { get; init; }
    public double Sigma { get; init; }
    public Metrics.LpipsNet? LpipsNet { get; init; }                // the LPIPS network of OneMinusLpips
    public Estimate? OneMinusLpips { get; init; }
    public required Estimate Ssim { get; init; }
    public required Estimate Cosine { get; init; }
    /// <summary>Cosine of the model's gradient with the Bayes-optimal classifier's (subspace-gaussians only).</summary>
    public Estimate? BayesCosine { get; init; }
    /// <summary>Cosine of the score used with the exact score (subspace-gaussians only): the score's own
    /// quality.</summary>
    public Estimate? ScoreCosineToExact { get; init; }
    public double[]? OneMinusLpipsPerImage { get; init; }
    public required double[] SsimPerImage { get; init; }
    public required double[] CosinePerImage { get; init; }
    public double[]? BayesCosinePerImage { get; init; }

    public static AlignmentResult From(AlignmentReport report)
    {
        var images = report.Images;
        double[]? Values(Func<ImageAlignment, double?> pick) =>
            images.Count > 0 && images.All(i => pick(i) is not null) ? images.Select(i => pick(i)!.Value).ToArray()
                : null;
        Estimate? Of(double[]? v) => v is null ? null : Bootstrap.Mean(Bootstrap.Sample.One(v));
        var lpips = Values(i => i.GradientVsScore.OneMinusLpips);
        var ssim = Values(i => i.GradientVsScore.Ssim) ?? Array.Empty<double>();
        var cosine = Values(i => i.GradientVsScore.Cosine) ?? Array.Empty<double>();
        var bayes = Values(i => i.GradientVsBayesGradient?.Cosine);
        return new AlignmentResult
        {
            Mode = report.Mode, Sigma = report.Sigma, LpipsNet = report.LpipsNet,
            OneMinusLpips = Of(lpips), Ssim = Of(ssim)!, Cosine = Of(cosine)!,
            BayesCosine = Of(bayes), ScoreCosineToExact = Of(Values(i => i.ScoreCosineToExact)),
            OneMinusLpipsPerImage = lpips, SsimPerImage = ssim, CosinePerImage = cosine, BayesCosinePerImage = bayes,
        };
    }
}

/// <summary>
/// result.json of one sweep job (format 2): every number with its 95% interval and the per-image
/// values it was bootstrapped from, so a report can pool seeds. Typed lists per epsilon and per
/// sigma; no number is a string key.
/// </summary>
public sealed record JobResult
{
    public const int CurrentFormat = 2;

    /// <summary>The file format; result.json files without it are format 1 (point estimates only).</summary>
    public int Format { get; init; }
    public required string Id { get; init; }
    public int Index { get; init; }
    public required string Dataset { get; init; }
    public required string Objective { get; init; }
    public double Strength { get; init; }
    public long Seed { get; init; }
    /// <summary>An imported model's name (objective "imported"); null for a trained job.</summary>
    public string? Model { get; init; }
    /// <summary>The untrained control (`measure.untrainedControl`): the architecture before training.</summary>
    public bool Untrained { get; init; }
    /// <summary>Completed or Diverged (a result is written for no other state).</summary>
    public required JobState Status { get; init; }
    public int Classes { get; init; }
    public long TestCorrect { get; init; }
    public long TestImages { get; init; }
    /// <summary>Final test accuracy with its exact binomial interval.</summary>
    public required Estimate TestAccuracy { get; init; }
    /// <summary>1 (correct) or 0 per test image, in test-set order, from the measured model: what pairs two models'
    /// accuracies over the same images (RegimeRule). Null in results written before it.</summary>
    public int[]? TestCorrectPerImage { get; init; }
    /// <summary>The output measure of Sensitivity and Distractor (<see cref="OutputMeasure"/> name).</summary>
    public OutputChange? OutputMeasure { get; init; }
    public List<SensitivityResult> Sensitivity { get; init; } = new();
    public GradientMode? Rho2Mode { get; init; }
    public Estimate? Rho2 { get; init; }
    /// <summary>rho_2 per image; NaN where the input gradient is zero (undefined), left out of Rho2.</summary>
    public double[]? Rho2PerImage { get; init; }
    public AlignmentResult? Alignment { get; init; }
    /// <summary>Alignment of the further attributions of measure.attributions (SmoothGrad, Integrated Gradients).
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public List<AlignmentResult>? Attributions
        { get; init; }
    public List<DistractorPoint> Distractor { get; init; } = new();
    /// <summary>Relative noise robustness of the changes averaged over sigma > 0 (signal / distractor; > 1: more robust
    /// on the distractor).</summary>
    public Estimate? DistractorOverSigmas { get; init; }
    /// <summary>Seconds per stage of the job, by the stage names of <see cref="JobStage"/>.</summary>
    public Dictionary<JobStage, double> StageSeconds { get; init; } = new();
    public string? Message { get; init; }

    /// <summary>The tangent-dimension scan (`shared.tangentDimensions`): on/off, isotropic and median per image at
    /// every k and epsilon, each on the tangents of the autoencoder of latent k; null when not scanned.</summary>
    public List<SensitivityResult>? TangentScan { get; init; }

    public SensitivityResult? At(double epsilon) => Sensitivity.FirstOrDefault(s => s.Epsilon == epsilon);

    /// <summary>The scan's cell at k and epsilon; with a null k, the main measurement at epsilon.</summary>
    public SensitivityResult? At(int? latent, double epsilon) => latent is null ? At(epsilon)
        : TangentScan?.FirstOrDefault(s => s.Latent == latent && s.Epsilon == epsilon);

    /// <summary>Test images as 0/1 outcomes (k ones, n - k zeros): accuracy as a per-image sample.</summary>
    public double[] CorrectPerImage() =>
        Enumerable.Range(0, (int)TestImages).Select(i => i < TestCorrect ? 1.0 : 0.0).ToArray();

    /// <summary>Reads result.json; a file of another format is refused with one line naming its version.</summary>
    public static JobResult Read(string path)
    {
        int format;
        try { format = JsonNode.Parse(UserFile.ReadText(path))?["format"]?.GetValue<int>() ?? 1; }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or FormatException)
        {
            throw new DataFormatException(path, "invalid JSON");
        }
        if (format != CurrentFormat)
            throw new PagLabException($"{path}: result format {format}, this PagLab reads format {CurrentFormat} "
                + "(results with intervals); run the sweep again into a new folder");
        return JsonFiles.Read<JobResult>(path);
    }
}

public static class SweepResults
{
    public static List<JobResult> Read(SweepFolder sweep) =>
        sweep.FinishedJobs().Select(j => JobResult.Read(j.Result)).ToList();

    /// <summary>results.csv: one row per job, every number with its lower and upper 95% bound, and the regime of its
    /// level.</summary>
    public static string Csv(IReadOnlyList<JobResult> results, IReadOnlyList<LevelRegime> regimes)
    {
        var eps = results.SelectMany(r => r.Sensitivity.Select(s => s.Epsilon)).Distinct().Order().ToList();
        var header = new StringBuilder("id,dataset,objective,strength,seed,status,output_measure");
        void Columns(string name) => header.Append($",{name},{name}_lower,{name}_upper");
        Columns("test_accuracy");
        foreach (var e in eps)
            foreach (var what in new[] { "on", "off", "off_over_on" }) Columns($"{what}_eps{Format(e)}");
        foreach (var name in new[] { "rho2", "one_minus_lpips", "ssim", "cosine", "bayes_cosine",
            "relative_noise_robustness" }) Columns(name);
        // further attributions' columns only when a job measured them, so other sweeps' files keep their columns
        var attributions = results.SelectMany(r => r.Attributions ?? new()).Select(a => a.Attribution!.Value)
            .Distinct().Order().ToList();
        foreach (var a in attributions)
            foreach (var name in new[] { "one_minus_lpips", "ssim", "cosine" })
                Columns($"{name}_{Vocabulary.Name(a).Replace('-', '_')}");
        header.AppendLine(",regime,regime_reason");
        var sb = new StringBuilder(header.ToString());
        foreach (var r in results)
        {
            sb.Append($"{r.Id},{r.Dataset},{r.Objective},{Format(r.Strength)},{r.Seed},"
                + $"{Vocabulary.Name(r.Status)},{(r.OutputMeasure is { } m ? Vocabulary.Name(m) : "")}");
            var cells = new List<Estimate?> { r.TestAccuracy };
            foreach (var e in eps)
            {
                var s = r.At(e);
                cells.AddRange(new[] { s?.On, s?.Off, s?.OffOverOn });
            }
            cells.AddRange(new[] { r.Rho2, r.Alignment?.OneMinusLpips, r.Alignment?.Ssim, r.Alignment?.Cosine,
                r.Alignment?.BayesCosine,
                                   r.DistractorOverSigmas });
            foreach (var a in attributions)
            {
                var measured = r.Attributions?.FirstOrDefault(x => x.Attribution == a);
                cells.AddRange(new[] { measured?.OneMinusLpips, measured?.Ssim, measured?.Cosine });
            }
            foreach (var c in cells) sb.Append(c is null ? ",,,"
                : $",{Format(c.Mean)},{Format(c.Lower)},{Format(c.Upper)}");
            var regime = regimes.FirstOrDefault(g => g.Level.Contains(r));
            sb.AppendLine($",{regime?.Regime.Name() ?? ""},{Quote(regime?.Reason ?? "")}");
        }
        return sb.ToString();
    }

    /// <summary>`paglab results`: results.csv of a sweep folder; returns the number of rows.</summary>
    public static int WriteCsv(SweepFolder sweep, SweepSpec spec, string outPath, RegimeSettings? regimes = null)
    {
        var results = Read(sweep);
        var rule = regimes?.Apply(spec.Regimes, "the command's options") ?? spec.Regimes;
        AtomicFile.WriteAllText(outPath, Csv(results, rule.Classify(results)));
        return results.Count;
    }

    static string Quote(string s) => "\"" + s.Replace("\"", "\"\"") + "\"";

    static string Format(double v) => DistractorRobustness.Format(v);
}
