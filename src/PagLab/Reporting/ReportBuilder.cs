using System.Globalization;
using System.Net;
using System.Text;
using PagLab.Common;
using PagLab.Experiments;
using PagLab.IO;
using PagLab.Manifold;
using PagLab.Models;
using PagLab.Score;
using PagLab.Training;

namespace PagLab.Reporting;

/// <summary>
/// `paglab report`: one self-contained HTML file (figures embedded as base64 PNG) with the paper's
/// Figures 3, 5, 6, 7 and 9 for a sweep, the results table, the time per stage and a findings
/// section computed from the numbers.
/// </summary>
public static class ReportBuilder
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    static string F(double? v, string format = "G4") => v is double d && double.IsFinite(d) ? d.ToString(format, Inv) : "–";

    public static string Build(string sweepDir, string outPath, IProgressSink? progress = null)
    {
        progress ??= NullProgress.Instance;
        string specPath = Path.Combine(sweepDir, SweepRunner.SpecFile);
        if (!File.Exists(specPath)) throw new PagLabException($"{sweepDir}: not a sweep folder (no {SweepRunner.SpecFile})");
        var spec = SweepSpec.Load(specPath);
        var results = SweepResults.Read(sweepDir);
        if (results.Count == 0) throw new PagLabException($"{sweepDir}: no finished jobs yet (run 'paglab sweep run')");
        var rows = SweepResults.Classify(results, spec.Regimes);
        string eps = SweepResults.RegimeEpsilon(results, spec.Regimes);
        string figures = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(outPath))!, Path.GetFileNameWithoutExtension(outPath) + "-figures");
        Directory.CreateDirectory(figures);
        bool haveLpips = results.Any(r => r.OneMinusLpips is not null);

        var html = new StringBuilder();
        html.Append($"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>PagLab report: {Esc(spec.Name)}</title><style>")
            .Append("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}")
            .Append("th{background:#eee}img{max-width:100%;border:1px solid #ddd;margin:4px 0}.weak{background:#fde2e2}.bayes-aligned{background:#e2f5e2}.excessive{background:#e2e8fd}.diverged{background:#eee}figcaption{font-size:13px;color:#555}</style></head><body>")
            .Append($"<h1>PagLab report: {Esc(spec.Name)}</h1><p>{results.Count} of {spec.Jobs().Count} jobs finished; datasets {Esc(string.Join(", ", spec.Datasets))}; regime epsilon {eps}. ")
            .Append(haveLpips ? "Alignment is 1 - LPIPS." : "No LPIPS weights were available: alignment is shown as SSIM (cosine in the table).").Append("</p>");

        html.Append("<h2>Findings</h2><ul>");
        foreach (var finding in Findings(rows, eps, haveLpips)) html.Append($"<li>{Esc(finding)}</li>");
        html.Append("</ul>");

        foreach (var dataset in spec.Datasets)
        {
            var mine = rows.Where(r => r.Result.Dataset == dataset).ToList();
            if (mine.Count == 0) continue;
            html.Append($"<h2>{Esc(dataset)}</h2>");
            string Fig(string name) => Path.Combine(figures, $"{dataset}-{name}.png");
            Plots.Figure3(Fig("fig3"), mine, eps, haveLpips);
            html.Append(Img(Fig("fig3"), "Figure 3: on- and off-manifold sensitivity (mean output change at the regime epsilon), test accuracy and perceptual alignment against regularisation strength, per objective (mean over seeds, bars: min to max). Dashed: the standard model."));
            Plots.Figure9(Fig("fig9"), mine);
            html.Append(Img(Fig("fig9"), "Figure 9: off-/on-manifold sensitivity ratio against strength, one line per epsilon."));
            if (mine.Any(r => r.Result.DistractorRatio is not null) && Plots.Figure5(Fig("fig5"), sweepDir, mine))
                html.Append(Img(Fig("fig5"), "Figure 5: mean output change with noise on the signal (solid) or the distractor (dashed) against sigma, for the standard model and the strongest model of each objective."));
            string tangents = SweepRunner.TangentsPath(sweepDir, dataset);
            try
            {
                var data = SweepRunner.LoadData(spec, dataset);
                if (File.Exists(tangents))
                {
                    ManifoldExperiments.ShowPerturbations(tangents, data, Fig("fig7"), 6, 2.0, 0, 3);
                    html.Append(Img(Fig("fig7"), "Figure 7: test images, a random on-manifold perturbation and a random off-manifold perturbation of the same L2 norm (from the estimated tangent spaces)."));
                }
                if (spec.Measure.Alignment && Figure6(Fig("fig6"), sweepDir, spec, data, mine, progress))
                    html.Append(Img(Fig("fig6"), "Figure 6: image, score, the standard model's input gradient and that of one model per regime (the best aligned in its regime), each with its LPIPS (or SSIM) to the score."));
            }
            catch (PagLabException e) { html.Append($"<p>Figures 6/7 skipped: {Esc(e.Message)}</p>"); }
        }

        html.Append("<h2>Results</h2><table><tr><th>job</th><th>objective</th><th>strength</th><th>seed</th><th>status</th><th>test acc.</th><th>on</th><th>off</th><th>off/on</th><th>rho_2</th><th>1-LPIPS</th><th>SSIM</th><th>cosine</th><th>Bayes cos.</th><th>distractor ratio</th><th>regime</th></tr>");
        foreach (var row in rows)
        {
            var r = row.Result;
            double? on = r.OnSensitivity.TryGetValue(eps, out var a) ? a : null, off = r.OffSensitivity.TryGetValue(eps, out var b) ? b : null;
            html.Append($"<tr class=\"{row.Regime}\"><td>{Esc(r.Id)}</td><td>{r.Objective}</td><td>{F(r.Strength)}</td><td>{r.Seed}</td><td>{r.Status}</td><td>{F(r.TestAccuracy, "F4")}</td><td>{F(on)}</td><td>{F(off)}</td><td>{F(on > 0 ? off / on : null)}</td><td>{F(r.Rho2)}</td><td>{F(r.OneMinusLpips)}</td><td>{F(r.Ssim)}</td><td>{F(r.Cosine)}</td><td>{F(r.BayesCosine)}</td><td>{F(r.DistractorRatio)}</td><td>{row.Regime}</td></tr>");
        }
        html.Append("</table>");

        var stages = results.SelectMany(r => r.StageSeconds).GroupBy(kv => kv.Key).Select(g => (g.Key, g.Sum(kv => kv.Value))).ToList();
        double total = stages.Sum(s => s.Item2);
        html.Append("<h2>Time by stage</h2><table><tr><th>stage</th><th>seconds</th><th>share</th></tr>");
        foreach (var (stage, seconds) in stages) html.Append($"<tr><td>{stage}</td><td>{seconds:F1}</td><td>{(total > 0 ? seconds / total : 0):P0}</td></tr>");
        html.Append($"<tr><th>total</th><th>{total:F1}</th><th></th></tr></table>");
        html.Append($"<h2>Regime rule</h2><p>Compared with the standard model of the same dataset at epsilon {eps}: <b>excessive</b> if test accuracy drops by more than {spec.Regimes.AccuracyTolerance} or on-manifold sensitivity falls below {spec.Regimes.OnManifoldDrop} x the standard's; otherwise <b>weak</b> if off-manifold sensitivity exceeds on-manifold sensitivity, else <b>bayes-aligned</b> (PAGs Section 4.4).</p>");
        // Marks how many figures decoded, so a headless browser test can check the report.
        html.Append("<script>window.addEventListener('load',function(){var i=[].slice.call(document.images);document.body.setAttribute('data-images-loaded',i.filter(function(x){return x.complete&&x.naturalWidth>0;}).length+'/'+i.length);});</script>");
        html.Append($"<p style=\"font-size:11px;color:#888\">Generated by PagLab on {DateTime.UtcNow:u} from {Esc(Path.GetFullPath(sweepDir))}.</p></body></html>");
        AtomicFile.WriteAllText(outPath, html.ToString());
        return outPath;
    }

    static bool Figure6(string path, string sweepDir, SweepSpec spec, Data.IDataset data, List<ResultRow> rows, IProgressSink progress)
    {
        var picks = rows.Where(r => r.Regime is RegimeRule.Weak or RegimeRule.BayesAligned or RegimeRule.Excessive)
            .GroupBy(r => r.Regime).OrderBy(g => g.Key == RegimeRule.Weak ? 0 : g.Key == RegimeRule.BayesAligned ? 1 : 2)
            .Select(g => g.OrderByDescending(r => r.Result.OneMinusLpips ?? r.Result.Ssim ?? 0).First()).ToList();
        if (picks.Count == 0) return false;
        using IDenoiser denoiser = data is Data.SubspaceGaussians sg ? new ExactDenoiser(sg) : DenoiserTrainer.Load(SweepRunner.DenoiserDir(sweepDir, data.Name));
        // The standard model first, as the reference, then one model per regime.
        picks.InsertRange(0, rows.Where(r => r.Result.Objective == "standard" && r.Result.Status == "completed" && !picks.Contains(r)).Take(1));
        var models = picks.Select(p => (p.Result.Objective == "standard" ? $"{p.Regime}\nstandard" : $"{p.Regime}\n{p.Result.Objective} {F(p.Result.Strength)}",
            (TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>)SavedModel.Load(Path.Combine(sweepDir, "jobs", p.Result.Id, "train")))).ToList();
        using var lpips = SweepRunner.LoadLpips(spec);
        try { AlignmentMeasurement.Figure(path, models, denoiser, data, spec.Measure.AlignmentSigma, spec.Measure.Mode, 5, lpips); }
        finally { foreach (var (_, m) in models) m.Dispose(); }
        return true;
    }

    /// <summary>Statements computed from the numbers, each with the numbers behind it.</summary>
    public static List<string> Findings(IReadOnlyList<ResultRow> rows, string eps, bool haveLpips)
    {
        var notes = new List<string>();
        foreach (var dataset in rows.Select(r => r.Result.Dataset).Distinct())
        {
            var mine = rows.Where(r => r.Result.Dataset == dataset && r.Result.Status == "completed").ToList();
            var standard = mine.Where(r => r.Result.Objective == "standard").ToList();
            double? stdOn = standard.Count > 0 && standard.All(s => s.Result.OnSensitivity.ContainsKey(eps)) ? standard.Average(s => s.Result.OnSensitivity[eps]) : null;
            double? stdOff = standard.Count > 0 && standard.All(s => s.Result.OffSensitivity.ContainsKey(eps)) ? standard.Average(s => s.Result.OffSensitivity[eps]) : null;
            if (stdOn is double so && stdOff is double sf)
                notes.Add($"{dataset}: the standard model is {(sf > so ? "more" : "less")} sensitive off the manifold than on it (off {sf:G3} vs on {so:G3} at eps {eps}).");
            // The standard model is every objective's strength 0, so curves start from it when it was run.
            var origin = stdOn is double on0 && stdOff is double off0
                ? new[] { (Strength: 0.0, On: on0, Off: off0, Acc: standard.Average(r => r.Result.TestAccuracy), Align: standard.Average(r => Alignment(r, haveLpips))) }
                : Array.Empty<(double Strength, double On, double Off, double Acc, double Align)>();
            foreach (var objective in mine.Select(r => r.Result.Objective).Where(o => o != "standard").Distinct())
            {
                var curve = origin.Concat(mine.Where(r => r.Result.Objective == objective && r.Result.OnSensitivity.ContainsKey(eps))
                    .GroupBy(r => r.Result.Strength).OrderBy(g => g.Key)
                    .Select(g => (Strength: g.Key, On: g.Average(r => r.Result.OnSensitivity[eps]), Off: g.Average(r => r.Result.OffSensitivity[eps]),
                                  Acc: g.Average(r => r.Result.TestAccuracy), Align: g.Average(r => Alignment(r, haveLpips))))).ToList();
                if (curve.Count < 2) continue;
                int falls = Enumerable.Range(1, curve.Count - 1).Count(i => curve[i].Off < curve[i - 1].Off);
                string offText = string.Join(" -> ", curve.Select(c => c.Off.ToString("G3", Inv)));
                string onText = string.Join(" -> ", curve.Select(c => c.On.ToString("G3", Inv)));
                bool monotone = falls == curve.Count - 1;
                string from = origin.Length > 0 ? "strength 0 (standard), " : "";
                var note = $"{dataset}, {objective}: from {from}{string.Join(", ", curve.Skip(origin.Length).Select(c => c.Strength.ToString("G3", Inv)))}, off-manifold sensitivity " +
                           $"{(monotone ? "falls monotonically" : $"falls in {falls} of {curve.Count - 1} steps (not monotone)")} ({offText}); on-manifold: {onText}. ";
                // A model whose output (almost) no longer moves (a constant classifier; float noise leaves ~1e-5) says nothing
                // about on vs off: compare up to the last one that still responds, above 1/1000 of the first model's sensitivity.
                bool Responds((double Strength, double On, double Off, double Acc, double Align) c) => c.On > 1e-3 * curve[0].On && c.Off > 1e-3 * curve[0].Off;
                var last = curve.LastOrDefault(Responds);
                var collapsed = curve.Where(c => !Responds(c)).ToList();
                if (collapsed.Count > 0)
                    note += $"Strength {string.Join(", ", collapsed.Select(c => c.Strength.ToString("G3", Inv)))} collapsed to a (nearly) constant output (accuracy {string.Join(", ", collapsed.Select(c => c.Acc.ToString("F3", Inv)))}) and {(collapsed.Count > 1 ? "are" : "is")} left out of the comparison. ";
                if (last == default || last.Strength == curve[0].Strength) note += "Too few responsive models to compare the falls of off and on.";
                else
                {
                    double offDrop = last.Off / curve[0].Off, onDrop = last.On / curve[0].On;
                    note += offDrop < onDrop
                        ? $"Off fell faster than on (x{offDrop:G2} vs x{onDrop:G2} up to strength {last.Strength:G3}), as the paper finds."
                        : $"Off did NOT fall faster than on (x{offDrop:G2} vs x{onDrop:G2} up to strength {last.Strength:G3}): this finding did not hold here.";
                }
                notes.Add(note);
                var best = curve.Where(c => double.IsFinite(c.Align)).OrderByDescending(c => c.Align).FirstOrDefault();
                if (best != default)
                {
                    bool interior = best.Strength > curve[0].Strength && best.Strength < curve[^1].Strength;
                    string rise = string.Join(" -> ", curve.Select(c => double.IsFinite(c.Align) ? c.Align.ToString("G3", Inv) : "n/a"));
                    notes.Add($"{dataset}, {objective}: alignment ({(haveLpips ? "1-LPIPS" : "SSIM")}) {rise}; it peaks at strength {best.Strength:G3} with {best.Align:G3} (accuracy there {best.Acc:F3}); " +
                              (interior ? "the peak is inside the range: alignment first rises with robustness and then falls, the paper's 'Bayes-aligned' middle regime."
                                        : "the peak is at an end of the range, so no interior optimum was seen here."));
                }
            }
        }
        foreach (var group in rows.GroupBy(r => r.Regime).OrderBy(g => g.Key))
            notes.Add($"{group.Key}: {group.Count()} run(s): {string.Join(", ", group.Select(r => $"{r.Result.Objective} {r.Result.Strength.ToString("G3", Inv)}"))}.");
        foreach (var regime in new[] { RegimeRule.Weak, RegimeRule.BayesAligned, RegimeRule.Excessive }.Where(g => rows.All(r => r.Regime != g)))
            notes.Add($"{regime}: no run is in this regime{(regime == RegimeRule.Weak ? " (no model, the standard one included, is more sensitive off the manifold than on it)" : "")}.");
        var distractor = rows.Where(r => r.Result.DistractorRatio is double d && double.IsFinite(d)).ToList();
        if (distractor.Count > 0)
        {
            var std = distractor.Where(r => r.Result.Objective == "standard").Select(r => r.Result.DistractorRatio!.Value).DefaultIfEmpty(double.NaN).Average();
            // Per objective, the strongest model that still works (not in the excessive regime): a broken classifier is trivially robust everywhere.
            var robust = distractor.Where(r => r.Result.Objective != "standard").GroupBy(r => r.Result.Objective)
                .Select(g => g.Where(r => r.Regime != RegimeRule.Excessive).OrderByDescending(r => r.Result.Strength).FirstOrDefault())
                .OfType<ResultRow>().ToList();
            string all = string.Join(", ", distractor.Where(r => r.Result.Objective != "standard").Select(r => $"{r.Result.Objective} {r.Result.Strength:G3}: {r.Result.DistractorRatio:G3}"));
            if (robust.Count > 0)
                notes.Add($"Signal vs distractor: relative noise robustness (distractor / signal output change; lower = more robust on the distractor) is {std:G3} for the standard model and " +
                          string.Join(", ", robust.Select(r => $"{r.Result.DistractorRatio:G3} for {r.Result.Objective} {r.Result.Strength:G3}")) + " (the strongest non-excessive model of each objective)" +
                          (robust.All(r => r.Result.DistractorRatio < std) ? "; robust models are relatively more robust on the distractor, as in Figure 5." : "; not every robust model is relatively more robust on the distractor, unlike Figure 5.") +
                          $" All runs: {all}.");
            else notes.Add($"Signal vs distractor: the standard model's relative noise robustness is {std:G3}; every robust run is excessive ({all}).");
        }
        return notes;
    }

    static double Alignment(ResultRow r, bool haveLpips) => (haveLpips ? r.Result.OneMinusLpips : r.Result.Ssim) ?? double.NaN;

    static string Img(string path, string caption) =>
        $"<figure><img alt=\"{Esc(Path.GetFileName(path))}\" src=\"data:image/png;base64,{Convert.ToBase64String(File.ReadAllBytes(path))}\"><figcaption>{Esc(caption)}</figcaption></figure>";

    static string Esc(string s) => WebUtility.HtmlEncode(s);
}
