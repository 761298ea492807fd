using System.Globalization;
using System.Text;
using PagLab.Common;
using PagLab.Experiments;
using PagLab.Models;
using PagLab.Uncertainty;

namespace PagLab.Reporting;

/// <summary>
/// The report's one-page Markdown twin (report.md beside report.html): each of the paper's findings beside
/// PagLab's outcome with its numbers, the regimes and the score's quality; no figures.
/// </summary>
public static class ReportSummary
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Why a gradient mode is compared with which score (docs/score.md).</summary>
    /// <summary>The regime rule in words, with the tolerances it ran with.</summary>
    public static string RuleText(ReportModel model, string eps) =>
        $"Rule (docs/experiments.md), at eps {eps}, each level's seeds pooled, against the standard model of its "
        + "dataset, every comparison by its 95% interval (paired over the same images and draws where the results "
        + "allow): none if the standard model is not above chance (undertrained); excessive if collapsed (accuracy "
        + "not above chance, or a near-constant output), or if the accuracy drop is above the tolerance delta = "
        + $"{model.Rule.AccuracyTolerance:G3}, or if on-manifold sensitivity is below kappa = "
        + $"{model.Rule.OnManifoldFactor:G3} x the standard's; none (accuracy undetermined) if the drop's interval "
        + "contains delta; then, among accurate models, weak if off/on is above 1 (or the standard is weak and off/on "
        + "relative to the standard's is not below 1), bayes-aligned if off/on is below 1 and below the standard's "
        + "(unless the standard's is below 1 too), and the boundary between them otherwise. Accuracy is part of the "
        + "rule because a collapsed model's gradient can point nearer the Bayes gradient than any accurate model's.";

    public static string ModeReason(GradientMode mode) => mode switch
    {
        GradientMode.Sum =>
            "gradient of the summed logits against the unconditional score: the authors' CIFAR-10 option",
        GradientMode.Label =>
            "gradient of the true label's log-probability against the score conditioned on that label",
        _ => "gradient of the predicted class's log-probability against the score conditioned on that class "
            + "(the authors' ImageNet-64 choice; Suppl. B.4 finds the two agree)",
    };

    public static string Markdown(ReportModel model, SweepSpec spec)
    {
        var md = new StringBuilder();
        string eps = model.RegimeEpsilon?.ToString("G3", Inv) ?? "–";
        md.AppendLine($"# {model.Name}: the paper's findings, checked").AppendLine()
            .AppendLine($"{model.Results.Count} of {model.JobsTotal} jobs finished on "
                + $"{string.Join(", ", model.Datasets)}; seeds {string.Join(", ", spec.Seeds)}. Output measure "
                + $"`{model.OutputMeasure}`, compared at eps {eps}; alignment is {model.AlignmentName}; gradient "
                + $"mode `{Vocabulary.Name(spec.Measure.Mode)}` ({ModeReason(spec.Measure.Mode)})."
                + " Every number is a mean with its "
                + "95% interval [lower, upper] (bootstrap over seeds, then images). A finding is **held** when its "
                + "interval says so, **did not hold** when it says the opposite, and **inconclusive** otherwise.")
            .AppendLine()
            .AppendLine("| dataset | objective | the paper's claim | the paper showed it on | ours | outcome | "
                + "settled at this scale? | numbers |")
            .AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var f in model.Findings)
            md.AppendLine($"| {f.Dataset} | {f.Objective ?? ""} | {Cell(f.Claim)} | {Cell(PaperSettings.Short(f.Id))} "
                + $"| {Cell(model.OursOf(f.Dataset)?.Short ?? "")} | **{f.OutcomeText}** | {Settled(model, f)} | "
                + $"{Cell(f.Evidence)} |");
        md.AppendLine().AppendLine("## What this scale cannot settle").AppendLine();
        foreach (var line in ScaleLines(model)) md.AppendLine(line).AppendLine();
        md.AppendLine("## The paper's settings").AppendLine();
        foreach (var id in model.Findings.Select(f => f.Id).Distinct())
            md.AppendLine($"- `{id}`: {PaperSettings.Of(id)?.Text ?? "not recorded"}");
        md.AppendLine().AppendLine("## Regimes").AppendLine().AppendLine(RuleText(model, eps)).AppendLine();
        foreach (var contradiction in model.Contradictions)
            md.AppendLine($"**Alignment contradicts the regime:** {contradiction}").AppendLine();
        md
            .AppendLine($"| level | seeds | test accuracy | off/on at eps {eps} | median off/on per image | "
                + $"{model.AlignmentName} | regime | why |")
            .AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var l in model.Levels)
        {
            var at = l.Sensitivity.FirstOrDefault(s => s.Epsilon == model.RegimeEpsilon);
            md.AppendLine($"| {l.Level.Label} | {l.Level.Completed.Count} | {T(l.Accuracy, "F3")} | "
                + $"{Ratio(l, at?.OffOverOn)} | {Ratio(l, at?.MedianOffOverOn)} | {T(l.Alignment)} | {l.Regime.Name()} "
                + $"| {Cell(l.Reason)} |");
        }
        if (model.Scores.Count > 0)
        {
            md.AppendLine().AppendLine("## Score").AppendLine();
            foreach (var s in model.Scores)
                md.AppendLine($"- {s.Dataset}: {s.Quality.Arch}{(s.Quality.Conditional ? " (conditional)" : "")} "
                    + $"denoiser, held-out EDM loss {s.Quality.EdmLoss.Text("G4")}; "
                    + (s.Adequacy is null ? "not judged."
                        : (s.Adequacy.Adequate ? "supports alignment findings: " : "too poor for alignment findings: ")
                          + s.Adequacy.Reason + "."));
        }
        return md.ToString();
    }

    /// <summary>"yes", or "no (limits 1, 3)" naming the scale limits that leave the finding unsettled.</summary>
    public static string Settled(ReportModel model, Finding f) => model.UnsettledBy(f) is { Count: > 0 } limits
        ? $"no (limit{(limits.Count > 1 ? "s" : "")} {string.Join(", ", limits)})" : "yes";

    /// <summary>The scale statement in plain lines: each dataset's setting, the numbered limits, and the findings
    /// they leave unsettled. The report, report.md and the demo's console summary all show these lines.</summary>
    public static IReadOnlyList<string> ScaleLines(ReportModel model)
    {
        var lines = model.Ours.Select(o => $"Ours: {o.Text}.").ToList();
        lines.AddRange(model.ScaleLimits.Select((l, i) => $"{i + 1}. {l.Dataset}: {l.Text}"));
        var unsettled = model.Unsettled.Select(f => f.Objective is null ? $"{f.Dataset} {f.Id}"
            : $"{f.Dataset} {f.Id} ({f.Objective})").ToList();
        lines.Add(model.ScaleLimits.Count == 0 ? "No limit of scale found against the paper's setting."
            : unsettled.Count == 0 ? "No finding is left unsettled by a limit above; each speaks for this scale."
            : $"{unsettled.Count} of {model.Findings.Count} findings cannot be settled at this scale: "
              + string.Join("; ", unsettled) + ".");
        return lines;
    }

    /// <summary>The console summary of a report: each finding's outcome beside the paper's setting, then the
    /// scale lines.</summary>
    public static IReadOnlyList<string> ConsoleLines(ReportModel model)
    {
        var lines = new List<string> { "findings (outcome; settled at this scale?; the paper showed it on):" };
        lines.AddRange(model.Findings.Select(f => $"  {f.Dataset} {f.Id}"
            + (f.Objective is null ? "" : $" {f.Objective}")
            + $": {f.OutcomeText}; {Settled(model, f)}; {PaperSettings.Short(f.Id)}"));
        lines.AddRange(ScaleLines(model));
        return lines;
    }

    static string T(Estimate? e, string format = "G3") => e is null ? "–" : e.Text(format);

    /// <summary>An off/on ratio of a level; a collapsed model's is a ratio of rounding noise, so none is shown.
    /// </summary>
    public static string Ratio(LevelSummary level, Estimate? ratio) => level.Collapsed ? CollapsedRatio : T(ratio);

    public const string CollapsedRatio = "n/a (collapsed)";

    static string Cell(string s) => s.Replace("|", "\\|").Replace("\n", " ");
}
