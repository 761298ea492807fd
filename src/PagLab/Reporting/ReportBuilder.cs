using System.Globalization;
using System.Net;
using System.Text;
using PagLab.Common;
using PagLab.Metrics;
using PagLab.Experiments;
using PagLab.IO;
using PagLab.Uncertainty;

namespace PagLab.Reporting;

/// <summary>
/// `paglab report`: reads a sweep's typed results, builds the <see cref="ReportModel"/> (regimes,
/// findings, intervals) and renders it as one self-contained HTML file (figures embedded as base64
/// PNG): findings, the paper's Figures 3, 5, 6, 7 and 9, the regimes, the results table and the time
/// per stage.
/// </summary>
public static class ReportBuilder
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>The figure folder written beside the report: report-figures/ for report.html.</summary>
    public static string FiguresFolder(string outPath) => Path.Combine(
        Path.GetDirectoryName(Path.GetFullPath(outPath))!, Path.GetFileNameWithoutExtension(outPath) + "-figures");

    /// <summary>The files written: the HTML report and its Markdown summary beside it.</summary>
    public static (string Path, FileKind Kind)[] Files(string outPath) =>
        [(outPath, FileKind.Html), (Path.ChangeExtension(outPath, ".md"), FileKind.Text)];

    /// <param name="regimes">Changes to the spec's regime rule (delta, kappa) for this report only.</param>
    public static string Build(SweepFolder sweep, string outPath, IProgressSink? progress = null,
        RegimeSettings? regimes = null) => Write(sweep, outPath, regimes).Path;

    /// <summary>Writes the report as <see cref="Build"/> does and returns the model it rendered as well, for a
    /// console summary (<see cref="ReportSummary.ConsoleLines"/>).</summary>
    public static (string Path, ReportModel Model) Write(SweepFolder sweep, string outPath,
        RegimeSettings? regimes = null)
    {
        var spec = sweep.ReadSpec();
        if (regimes is not null) spec = spec with { Regimes = regimes.Apply(spec.Regimes, "the report's options") };
        var results = SweepResults.Read(sweep);
        if (results.Count == 0)
            throw new PagLabException($"{sweep.Root}: no finished jobs yet (run 'paglab sweep run')");
        var quality = spec.Datasets
            .Select(d => (d, q: Score.DenoiserQuality.Read(sweep.Shared(d).Denoiser)))
            .Where(x => x.q is not null).ToDictionary(x => x.d, x => x.q!);
        var latents = spec.Datasets
            .Select(d => (d, q: TangentScanArtefacts.ReadQualities(sweep.Shared(d))))
            .Where(x => x.q is not null).ToDictionary(x => x.d, x => x.q!);
        var model = ReportModel.Build(spec, results, quality, latents);
        string figures = FiguresFolder(outPath);
        Directory.CreateDirectory(figures);
        AtomicFile.WriteAllText(outPath, Render(model, spec, sweep, figures));
        AtomicFile.WriteAllText(Path.ChangeExtension(outPath, ".md"), ReportSummary.Markdown(model, spec));
        return (outPath, model);
    }

    /// <summary>Figure 3's caption for imported models, which are points of their own, not on a curve.</summary>
    static string ImportedNote(ReportModel model, string dataset) =>
        model.Levels.Any(l => l.Level.Dataset == dataset && l.Level.IsImported)
            ? " Diamonds: imported models (not trained by the sweep), drawn at the standard model's position."
            : "";

    static string Render(ReportModel model, SweepSpec spec, SweepFolder sweep, string figures)
    {
        string eps = model.RegimeEpsilon is double e ? e.ToString("G3", Inv) : "–";
        var html = new StringBuilder();
        html.Append($"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>PagLab report: "
            + $"{Esc(model.Name)}</title><style>")
            .Append("body{font-family:sans-serif;max-width:1200px;margin:2em "
                + "auto;color:#222}table{border-collapse:collapse;font-size:12px}")
            .Append("td,th{border:1px solid #ccc;padding:3px "
                + "6px;text-align:right}td.l{text-align:left}th{background:#eee}")
            .Append("img{max-width:100%;border:1px solid #ddd;margin:4px "
                + "0}.weak{background:#fde2e2}.bayes-aligned{background:#e2f5e2}")
            .Append(".excessive{background:#e2e8fd}.held{background:#e2f5e2}.did-not-hold{background:#fde2e2}")
            .Append(".inconclusive{background:#f3f3f3}")
            .Append("figcaption{font-size:13px;color:#555}</style></head><body>")
            .Append($"<h1>PagLab report: {Esc(model.Name)}</h1><p>{model.Results.Count} of {model.JobsTotal} jobs "
                + $"finished; datasets ")
            .Append($"{Esc(string.Join(", ", model.Datasets))}. Output measure: <b>{Esc(model.OutputMeasure)}</b> "
                + "(the change of the model ")
            .Append($"output per image); regimes and findings compare at eps {eps}. Alignment is {model.AlignmentName}")
            .Append(model.HaveLpips ? $" (LPIPS-{Esc(Vocabulary.Name(spec.Measure.LpipsNet ?? LpipsNet.Squeeze))})."
                                    : " (no LPIPS weights were available; cosine is in the table).")
            .Append($" Gradient mode: {Esc(Vocabulary.Name(spec.Measure.Mode))}"
                + $" ({Esc(ReportSummary.ModeReason(spec.Measure.Mode))})."
                + " Every number is a mean with its 95% interval [lower, "
                + $"upper]: percentile ")
            .Append($"bootstrap over images ({Bootstrap.Replicates} replicates, fixed seed), over seeds then images "
                + $"where a level has ")
            .Append("several seeds; test accuracy of one run has its exact binomial interval.</p>");

        FindingsSection(html, model);
        ScoreSection(html, model);

        foreach (var dataset in model.Datasets) DatasetSection(html, model, sweep, dataset, figures, eps);
        RegimesSection(html, model, eps);
        TangentScanSection.Render(html, model);
        ResultsSection(html, model);
        StagesSection(html, model);
        // Marks how many figures decoded, so a headless browser test can check the report.
        html.Append("<script>window.addEventListener('load',function(){var "
            + "i=[].slice.call(document.images);document.body.setAttribute(")
            .Append("'data-images-loaded',i.filter(function(x){return "
                + "x.complete&&x.naturalWidth>0;}).length+'/'+i.length);});</script>");
        html.Append($"<p style=\"font-size:11px;color:#888\">Generated by PagLab on {DateTime.UtcNow:u} from "
            + $"{Esc(Path.GetFullPath(sweep.Root))}.</p></body></html>");
        return html.ToString();
    }

    /// <summary>Each finding beside the paper's setting and ours, then what this scale cannot settle and the paper's
    /// settings in full.</summary>
    static void FindingsSection(StringBuilder html, ReportModel model)
    {
        html.Append("<h2>Findings</h2><table><tr><th>dataset</th><th>objective</th><th>claim (paper)</th>"
            + "<th>the paper showed it on</th><th>ours</th><th>outcome</th><th>settled at this scale?</th>"
            + "<th>numbers</th></tr>");
        foreach (var f in model.Findings)
            html.Append($"<tr class=\"{f.OutcomeText.Replace(' ', '-')}\"><td class=l>{Esc(f.Dataset)}</td><td "
                + $"class=l>{Esc(f.Objective ?? "")}</td>")
                .Append($"<td class=l>{Esc(f.Claim)}</td><td class=l>{Esc(PaperSettings.Short(f.Id))}</td>")
                .Append($"<td class=l>{Esc(model.OursOf(f.Dataset)?.Short ?? "")}</td>")
                .Append($"<td class=l><b>{f.OutcomeText}</b></td><td class=l>{Esc(ReportSummary.Settled(model, f))}"
                    + $"</td><td class=l>{Esc(f.Evidence)}</td></tr>");
        html.Append("</table><h2>What this scale cannot settle</h2>");
        foreach (var line in ReportSummary.ScaleLines(model)) html.Append($"<p>{Esc(line)}</p>");
        html.Append("<h3>The paper's settings</h3><ul>");
        foreach (var id in model.Findings.Select(f => f.Id).Distinct())
            html.Append($"<li><code>{Esc(id)}</code>: {Esc(PaperSettings.Of(id)?.Text ?? "not recorded")}</li>");
        html.Append("</ul>");
    }

    /// <summary>One dataset's figures: 3, 9, 5 (where it has a distractor), 7 and 6.</summary>
    static void DatasetSection(StringBuilder html, ReportModel model, SweepFolder sweep, string dataset, string figures,
        string eps)
    {
        if (model.Levels.All(l => l.Level.Dataset != dataset)) return;
        html.Append($"<h2>{Esc(dataset)}</h2>");
        string Fig(string name) => Path.Combine(figures, $"{dataset}-{name}.png");
        Plots.Figure3(Fig("fig3"), model, dataset);
        html.Append(Img(Fig("fig3"),
            $"Figure 3: on- and off-manifold sensitivity ({model.OutputMeasure} at eps {eps}), test accuracy and "
            + $"{model.AlignmentName} against log10 strength, per objective, each curve starting at the standard "
                + $"model (leftmost). "
            + "Bars: 95% intervals." + ImportedNote(model, dataset)));
        Plots.Figure9(Fig("fig9"), model, dataset);
        html.Append(Img(Fig("fig9"),
            "Figure 9: on- (solid) and off-manifold (dashed) sensitivity against strength, one colour per "
            + "perturbation norm eps, one panel per objective. Bars: 95% intervals."));
        var noise = model.Levels.Where(l => l.Level.Dataset == dataset && l.Noise.Count > 0)
            .Select(l => (l.Level.Label, l.Noise)).ToList();
        if (Plots.Figure5(Fig("fig5"), noise))
            html.Append(Img(Fig("fig5"),
                "Figure 5: relative noise robustness (output change from noise on the signal over that from noise "
                + "on the distractor; above 1 = more robust on the distractor) against sigma, one line per "
                    + "model. Bars: 95% intervals; "
                + "infinite values (the distractor does not move the output) are left out of the plot and shown "
                    + "in the table."));
        Figures67(html, model, sweep, dataset, Fig);
    }

    /// <summary>The regime rule in words and each level's regime with its reason.</summary>
    static void RegimesSection(StringBuilder html, ReportModel model, string eps)
    {
        html.Append($"<h2>Regimes</h2><p>{Esc(ReportSummary.RuleText(model, eps))}</p>");
        foreach (var contradiction in model.Contradictions)
            html.Append($"<p><b>Alignment contradicts the regime:</b> {Esc(contradiction)}</p>");
        html.Append("<table><tr><th>level</th><th>dataset</th><th>seeds</th><th>test acc.</th><th>off/on</th>")
            .Append("<th>median off/on per image</th><th>off/isotropic</th><th>")
            .Append($"rel. noise rob.</th><th>{model.AlignmentName}</th><th>Bayes cos.</th><th>regime</th><th>why</th>"
                + "</tr>");
        foreach (var l in model.Levels)
        {
            var at = l.Sensitivity.FirstOrDefault(s => s.Epsilon == model.RegimeEpsilon);
            html.Append($"<tr class=\"{l.Regime.Name()}\"><td class=l>{Esc(l.Level.Label)}</td><td "
                + $"class=l>{Esc(l.Level.Dataset)}</td>")
                .Append($"<td>{l.Level.Completed.Count}</td><td>{T(l.Accuracy, "F3")}</td>")
                .Append($"<td>{Ratio(l, at?.OffOverOn)}</td><td>{Ratio(l, at?.MedianOffOverOn)}</td>")
                .Append($"<td>{Ratio(l, at?.OffOverIsotropic)}</td>")
                .Append($"<td>{T(l.RelativeNoise)}</td><td>{T(l.Alignment)}</td>")
                .Append($"<td>{T(l.BayesCosine)}</td><td "
                    + $"class=l>{l.Regime.Name()}</td><td class=l>{Esc(l.Reason)}</td></tr>");
        }
    }

    /// <summary>Every job's numbers with their intervals.</summary>
    static void ResultsSection(StringBuilder html, ReportModel model)
    {

        html.Append("<h2>Results</h2><table><tr><th>job</th><th>status</th><th>test "
            + "acc.</th><th>on</th><th>off</th><th>off/on</th>")
            .Append("<th>rho_2</th><th>1-LPIPS</th><th>SSIM</th><th>cosine</th><th>Bayes cos.</th><th>rel. noise "
                + "rob.</th></tr>");
        foreach (var r in model.Results)
        {
            var at = model.RegimeEpsilon is double x ? r.At(x) : null;
            var a = r.Alignment;
            html.Append($"<tr class=\"{model.SummaryOf(r)?.Regime.Name()}\"><td "
                + $"class=l>{Esc(r.Id)}</td><td>{Vocabulary.Name(r.Status)}</td><td>{T(r.TestAccuracy, "F3")}</td>")
                .Append($"<td>{T(at?.On)}</td><td>{T(at?.Off)}</td><td>{T(at?.OffOverOn)}</td><td>{T(r.Rho2)}</td>")
                .Append($"<td>{T(a?.OneMinusLpips)}</td><td>{T(a?.Ssim)}</td><td>{T(a?.Cosine)}</td>")
                .Append($"<td>{T(a?.BayesCosine)}</td>")
                .Append($"<td>{T(r.DistractorOverSigmas)}</td></tr>");
        }
        html.Append("</table>");
    }

    /// <summary>Where the sweep's time went.</summary>
    static void StagesSection(StringBuilder html, ReportModel model)
    {
        double total = model.Stages.Sum(s => s.Seconds);
        html.Append("<h2>Time by stage</h2><table><tr><th>stage</th><th>seconds</th><th>share</th></tr>");
        foreach (var (stage, seconds) in model.Stages)
        {
            string share = (total > 0 ? seconds / total : 0).ToString("P0", Inv);
            html.Append($"<tr><td class=l>{stage}</td><td>{seconds.ToString("F1", Inv)}</td><td>{share}</td></tr>");
        }
        html.Append($"<tr><th>total</th><th>{total.ToString("F1", Inv)}</th><th></th></tr></table>");
    }

    /// <summary>The denoisers behind the alignment numbers: their quality and whether they can support a finding.
    /// </summary>
    static void ScoreSection(StringBuilder html, ReportModel model)
    {
        if (model.Scores.Count == 0) return;
        html.Append("<h2>Score</h2><p>The alignment numbers compare gradients with the score of a trained denoiser, "
            + "s(x, sigma) = (D(x, sigma) - x) / sigma^2, so they are only as good as it. Quality on held-out images "
            + "(normal 95% intervals): the EDM loss, and at the alignment noise level the denoising error beside that "
            + "of a Gaussian fit to the training images (per-pixel mean and variance); where the exact score is "
            + "known, the cosine to it. A score that does not beat the Gaussian fit (or, with a known score, stays "
            + $"below cosine {Score.DenoiserQuality.MinimumExactCosine:G2}) cannot support an alignment finding, "
            + "and those findings are reported as inconclusive.</p>")
            .Append("<table><tr><th>dataset</th><th>denoiser</th><th>images</th><th>EDM loss</th><th>sigma</th>"
                + "<th>error</th><th>Gaussian fit</th><th>cosine to exact</th><th>supports findings</th></tr>");
        foreach (var s in model.Scores)
        {
            var q = s.Quality;
            var at = q.NearestTo(s.AlignmentSigma);
            string verdict = s.Adequacy is null ? "not judged (no baseline in quality.json)"
                : (s.Adequacy.Adequate ? "yes: " : "no: ") + s.Adequacy.Reason;
            html.Append($"<tr class=\"{(s.Adequacy?.Adequate == false ? "did-not-hold" : "")}\">")
                .Append($"<td class=l>{Esc(s.Dataset)}</td><td class=l>{Esc(q.Arch)}"
                    + $"{(q.Conditional ? ", conditional" : "")}</td><td>{q.Count}</td><td>{T(q.EdmLoss, "G4")}</td>")
                .Append($"<td>{at?.Sigma.ToString("G3", Inv) ?? "–"}</td><td>{T(at?.Mse, "G4")}</td>")
                .Append($"<td>{T(at?.BaselineMse, "G4")}</td><td>{T(at?.ScoreCosine)}</td>")
                .Append($"<td class=l>{Esc(verdict)}</td></tr>");
        }
        html.Append("</table>");
    }

    /// <summary>
    /// Figures 7 (perturbations) and 6 (gradients per regime) from the artefacts the sweep drew: Figure 6
    /// puts the standard model's panel (image, score, its gradient) beside the gradient column of the best
    /// aligned level of each regime.
    /// </summary>
    static void Figures67(StringBuilder html, ReportModel model, SweepFolder sweep, string dataset,
        Func<string, string> fig)
    {
        string perturbations = sweep.Shared(dataset).PerturbationFigure;
        if (File.Exists(perturbations))
            html.Append(Img(perturbations,
                "Figure 7: test images, a random on-manifold perturbation and a random off-manifold "
                + "perturbation of the same L2 norm (from the estimated tangent spaces)."));
        var levels = model.Levels.Where(l => l.Level.Dataset == dataset && l.Level.Completed.Count > 0).ToList();
        var picks = new[] { Regime.Weak, Regime.BayesAligned, Regime.Excessive }
            .Select(regime => levels.Where(l => l.Regime == regime && !l.Level.IsStandard)
                .OrderByDescending(l => l.Alignment?.Mean ?? double.NegativeInfinity).FirstOrDefault())
            .OfType<LevelSummary>().ToList();
        var standard = levels.FirstOrDefault(l => l.Level.IsStandard);
        string Panel(LevelSummary l) => sweep.Job(l.Level.Completed[0].Id).GradientFigure;
        if (standard is null || !File.Exists(Panel(standard))) return;
        picks = picks.Where(p => File.Exists(Panel(p))).ToList();
        GradientColumns(fig("fig6"), Panel(standard), picks.Select(Panel).ToList());
        string columns = string.Join(", ", picks.Select(p => $"{p.Regime.Name()}: {p.Level.Label}"));
        html.Append(Img(fig("fig6"),
            $"Figure 6: image, score, the standard model's ({standard.Regime.Name()}) input gradient"
            + (picks.Count > 0 ? $", then the best aligned model of each regime ({columns})"
                : " (no other level has a regime)")
            + $", each with its {(model.HaveLpips ? "LPIPS" : "SSIM")} to the score above it."));
    }

    /// <summary>The first panel whole, then the last of its three equal columns from each other panel.</summary>
    static void GradientColumns(string path, string first, IReadOnlyList<string> others)
    {
        using var head = SkiaSharp.SKBitmap.Decode(first);
        var columns = others.Select(SkiaSharp.SKBitmap.Decode).ToList();
        try
        {
            int Column(SkiaSharp.SKBitmap b) => b.Width / 3;
            int width = head.Width + columns.Sum(Column);
            int height = Math.Max(head.Height, columns.Select(c => c.Height).DefaultIfEmpty(0).Max());
            using var canvasBitmap = new SkiaSharp.SKBitmap(width, height);
            using (var canvas = new SkiaSharp.SKCanvas(canvasBitmap))
            {
                canvas.Clear(SkiaSharp.SKColors.White);
                canvas.DrawBitmap(head, 0, 0);
                int x = head.Width;
                foreach (var c in columns)
                {
                    int w = Column(c);
                    canvas.DrawBitmap(c, new SkiaSharp.SKRect(c.Width - w, 0, c.Width, c.Height),
                        new SkiaSharp.SKRect(x, 0, x + w, c.Height));
                    x += w;
                }
            }
            using var image = SkiaSharp.SKImage.FromBitmap(canvasBitmap);
            using var data = image.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100);
            AtomicFile.WriteAllBytes(path, data.ToArray());
        }
        finally { foreach (var c in columns) c.Dispose(); }
    }

    static string T(Estimate? e, string format = "G3") => e is null ? "–" : Esc(e.Text(format));

    static string Ratio(LevelSummary l, Estimate? e) => Esc(ReportSummary.Ratio(l, e));

    static string Img(string path, string caption) =>
        $"<figure><img alt=\"{Esc(Path.GetFileName(path))}\" "
            + $"src=\"data:image/png;base64,{Convert.ToBase64String(File.ReadAllBytes(path))}\">"
        + $"<figcaption>{Esc(caption)}</figcaption></figure>";

    static string Esc(string s) => WebUtility.HtmlEncode(s);
}
