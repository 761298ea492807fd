using System.Globalization;
using PagLab.Common;
using PagLab.Experiments;
using PagLab.Manifold;
using PagLab.Models;
using PagLab.Objectives;
using PagLab.Uncertainty;

namespace PagLab.Reporting;

/// <summary>What one dataset of a sweep was trained and measured at: "ours", shown beside the paper's setting.
/// </summary>
/// <param name="TrainImages">Null: the dataset's whole training set.</param>
/// <param name="Seeds">Completed seeds of the standard model (what its intervals rest on).</param>
/// <param name="MeasuredImages">Test images of the on/off measurement (per seed); null when not measured.</param>
/// <param name="TangentDimension">k of the estimated tangent spaces; null for the exact ones.</param>
public sealed record OurSetting(string Dataset, Architecture Arch, int? TrainImages, int Epochs, int Seeds,
    Estimate? StandardAccuracy, long TestImages, int? MeasuredImages, int Draws, int? TangentDimension)
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    string Images => TrainImages is int n ? $"{n.ToString("N0", Inv)} training images" : "all training images";

    /// <summary>One line: data, model, training, seeds and the standard model's accuracy.</summary>
    public string Short => $"{Dataset}, {Vocabulary.Name(Arch)}, {Images}, {SweepScale.Plural(Epochs, "epoch")}, "
        + $"{SweepScale.Plural(Seeds, "seed")}; standard model test accuracy "
        + (StandardAccuracy is { } a ? $"{a.Text("F3")} on {TestImages.ToString("N0", Inv)} images" : "not measured");

    /// <summary><see cref="Short"/> and how on/off was measured.</summary>
    public string Text => Short + (MeasuredImages is int m
        ? $"; on/off on {m} test images x {Draws} draws per seed, tangent dimension "
          + (TangentDimension is int k ? $"k = {k}" : "exact")
        : "; on/off not measured");
}

/// <summary>
/// One way a sweep's scale falls short of what the paper's findings need, said from the spec and the results, with
/// the findings of the report it leaves unsettled; a caveat (<paramref name="Caveat"/>) qualifies every finding of
/// the dataset and settles none either way.
/// </summary>
public sealed record ScaleLimit(string Dataset, string Statement, IReadOnlyList<string> Unsettled, bool Caveat = false)
{
    public string Text => Statement + (Caveat ? " (a caveat on every finding here)."
        : Unsettled.Count > 0 ? $" (leaves unsettled: {string.Join(", ", Unsettled)})."
        : " (no finding of this report depends on it).");
}

/// <summary>
/// The scale of a sweep beside the paper's: per dataset, <see cref="OurSetting"/> and the <see cref="ScaleLimit"/>s
/// that follow from it (seeds, training set, model, epochs, the untrained control, the score). Nothing here is
/// written per demo: every statement is derived from the spec and the results.
/// </summary>
public static class SweepScale
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>The most seeds per strength the paper states (Figure 3's caption: 10).</summary>
    static int PaperSeeds => PaperSettings.Experiments.Max(e => e.Seeds ?? 0);

    /// <summary>Findings that compare differently trained models: a single seed cannot settle them.</summary>
    static readonly string[] BetweenModels =
    {
        Findings.OffFalls, Findings.OnFlat, Findings.RelativeOffRobustnessGrows, Findings.AlignmentPeaks,
        Findings.BayesAlignedMostAligned, Findings.BayesAlignedNearestBayes, Findings.RobustRelativeNoise,
    };

    static readonly string[] AgainstScore = { Findings.AlignmentPeaks, Findings.BayesAlignedMostAligned };

    /// <summary>A dataset's setting; null when the spec trains nothing on it.</summary>
    public static OurSetting? Ours(SweepSpec spec, string dataset, IReadOnlyList<LevelSummary> levels)
    {
        var jobs = spec.Jobs().Where(j => j.Dataset == dataset && j.Imported is null).ToList();
        var job = jobs.FirstOrDefault(j => j.Objective.Kind == ObjectiveKind.Standard) ?? jobs.FirstOrDefault();
        if (job is null) return null;
        var config = SweepRunner.JobConfig(spec, job);
        var standard = levels.FirstOrDefault(l => l.Level.Dataset == dataset && l.Level.IsStandard);
        var run = standard?.Level.Completed.FirstOrDefault();
        return new OurSetting(dataset, config.Arch, config.TrainSize, config.Epochs,
            standard?.Level.Completed.Count ?? 0, standard?.Accuracy, run?.TestImages ?? 0,
            run?.Sensitivity.FirstOrDefault()?.OnPerImage.Length, spec.Measure.Draws, TangentDimension(spec, dataset));
    }

    static int? TangentDimension(SweepSpec spec, string dataset) => spec.Shared.TangentEstimator switch
    {
        TangentEstimator.LocalPca => spec.Shared.LocalPcaDimension,
        TangentEstimator.True => null,
        _ => spec.Shared.Autoencoder.Latent ?? (Vocabulary.TryParse(dataset, out Data.DatasetName id)
            ? AutoencoderSpec.DefaultLatent(Data.Datasets.Entry(id).Shape) : null),
    };

    /// <summary>Every limit of one dataset; <paramref name="present"/> are the ids of its findings (a limit names
    /// only findings the report has).</summary>
    public static List<ScaleLimit> Limits(SweepSpec spec, OurSetting ours, IReadOnlyList<LevelSummary> levels,
        IReadOnlyList<ScoreSummary> scores, double? eps, IReadOnlyCollection<string> present)
    {
        string d = ours.Dataset;
        var limits = new List<ScaleLimit>();
        void Add(string statement, IEnumerable<string> unsettled, bool caveat = false) => limits.Add(
            new ScaleLimit(d, statement, unsettled.Where(present.Contains).Distinct().ToList(), caveat));
        if (ours.Seeds == 1)
            Add("1 seed per level: the intervals cover test images and draws, not the spread from one training run "
                + $"to the next, so no comparison between models is settled (the paper's Figure 3: {PaperSeeds} "
                + "seeds)", BetweenModels);
        if (ModelScale(ours) is { } scale) Add(scale, Array.Empty<string>(), caveat: true);
        if (UntrainedControl(levels, d, eps) is { } control) Add(control, new[] { Findings.StandardOffAboveOn });
        if (scores.FirstOrDefault(s => s.Dataset == d) is { } score)
            Add(ScoreStatement(spec, score), score.Adequacy?.Adequate == true ? Array.Empty<string>() : AgainstScore,
                caveat: score.Adequacy?.Adequate == true);
        return limits;
    }

    /// <summary>Training set, model and epochs against the paper's smallest: null when none falls short.</summary>
    static string? ModelScale(OurSetting ours)
    {
        var experiments = PaperSettings.Experiments;
        int fewestImages = experiments.Min(e => e.TrainImages), fewestEpochs = experiments.Min(e => e.Epochs);
        var archs = experiments.Select(e => e.Arch).Distinct().ToList();
        var shortfalls = new List<string>();
        if (ours.TrainImages is int n && n < fewestImages)
        {
            string share = (100.0 * n / fewestImages).ToString("F0", Inv);
            shortfalls.Add($"{n.ToString("N0", Inv)} training images ({share}% of the paper's fewest, "
                + $"{fewestImages.ToString("N0", Inv)})");
        }
        if (ours.Epochs < fewestEpochs)
            shortfalls.Add($"{Plural(ours.Epochs, "epoch")} (the paper: {fewestEpochs} or more)");
        if (!archs.Contains(ours.Arch))
            shortfalls.Add($"{Vocabulary.Name(ours.Arch)} (the paper: "
                + $"{string.Join(", ", archs.Select(a => Vocabulary.Name(a)))})");
        if (shortfalls.Count == 0) return null;
        string accuracy = ours.StandardAccuracy is { } a ? $", standard model test accuracy {a.Text("F3")}" : "";
        return $"smaller than the paper's models: {string.Join(", ", shortfalls)}{accuracy}; a finding that holds or "
            + "fails here speaks for this scale, not for the paper's";
    }

    /// <summary>The untrained control's verdict on off/on below 1: null when it allows the standard-model
    /// finding.</summary>
    static string? UntrainedControl(IReadOnlyList<LevelSummary> levels, string dataset, double? eps)
    {
        var mine = levels.Where(l => l.Level.Dataset == dataset).ToList();
        if (mine.All(l => l.Sensitivity.Count == 0)) return null;
        var untrained = mine.FirstOrDefault(l => l.Level.IsUntrained);
        if (untrained is null)
            return "no untrained control: whether an off/on below 1 comes from training or from the architecture "
                + "and the perturbations is not measured";
        var at = untrained.Sensitivity.FirstOrDefault(s => s.Epsilon == eps);
        return at is not null && at.OffOverOn.Below(1)
            ? $"an untrained network of the same architecture is already at off/on {at.OffOverOn.Text()} (below 1) "
              + $"at eps {eps?.ToString("G3", Inv)}: off/on below 1 is no evidence of training here"
            : null;
    }

    /// <summary>"1 epoch", "3 epochs".</summary>
    public static string Plural(int n, string noun) => $"{n} {noun}{(n == 1 ? "" : "s")}";

    static string ScoreStatement(SweepSpec spec, ScoreSummary score)
    {
        var denoiser = spec.DenoiserFor(score.Dataset);
        string images = denoiser.TrainSize is int n ? $"{n.ToString("N0", Inv)} images" : "all training images";
        string verdict = score.Adequacy is null ? "its adequacy was not judged"
            : score.Adequacy.Adequate ? "judged adequate" : "judged too poor";
        return $"alignment is against the score of a {score.Quality.Arch} denoiser trained here ({denoiser.Epochs} "
            + $"epochs on {images}; {verdict}), an approximation, not NVlabs' EDM networks the paper used on CIFAR-10 "
            + "and ImageNet-64";
    }
}
