using System.Globalization;
using PagLab.Experiments;
using PagLab.IO;
using PagLab.Uncertainty;

namespace PagLab.Reporting;

/// <summary>The report's charts (ScottPlot 5, rendered off-screen): means with 95% interval bars.</summary>
public static class Plots
{
    static readonly string[] Palette = { "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b" };
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>
    /// x position of a strength on the log axis; the standard model (strength 0) sits one decade left
    /// of the smallest strength, so every curve starts from it.
    /// </summary>
    static Func<double, double> Axis(IEnumerable<LevelSummary> levels)
    {
        double min = levels.Where(l => l.Level.Strength > 0).Select(l => l.Level.Strength).DefaultIfEmpty(1).Min();
        return s => s > 0 ? Math.Log10(s) : Math.Log10(min) - 1;
    }

    /// <summary>Four panels: on, off (at the regime epsilon), test accuracy and alignment against log10 strength, per
    /// objective.</summary>
    public static void Figure3(string path, ReportModel model, string dataset)
    {
        double eps = model.RegimeEpsilon ?? double.NaN;
        var panels = new (string Title, Func<LevelSummary, Estimate?> Value)[]
        {
            ($"on-manifold sensitivity (eps {eps.ToString("G3", Inv)})",
                l => l.Sensitivity.FirstOrDefault(s => s.Epsilon == eps)?.On),
            ($"off-manifold sensitivity (eps {eps.ToString("G3", Inv)})",
                l => l.Sensitivity.FirstOrDefault(s => s.Epsilon == eps)?.Off),
            ("test accuracy", l => l.Accuracy),
            ($"{model.AlignmentName} (gradient vs score)", l => l.Alignment),
        };
        var levels = model.Levels.Where(l => l.Level.Dataset == dataset && l.Level.Completed.Count > 0).ToList();
        var x = Axis(levels);
        var plots = new List<ScottPlot.Plot>();
        foreach (var (title, value) in panels)
        {
            var plot = new ScottPlot.Plot();
            int color = 0;
            foreach (var curve in Curves(levels))
                Curve(plot, curve.Select(l => (x(l.Level.Strength), value(l))), Palette[color++ % Palette.Length],
                    curve[^1].Level.ObjectiveName, dashed: false);
            ImportedPoints(plot, levels, x, value, color);
            Finish(plot, title, "log10 strength (leftmost: standard)", plots.Count == 0);
            plots.Add(plot);
        }
        SaveSideBySide(plots, 400, 420, path);
    }

    /// <summary>Supplement Figure 9: on (solid) and off (dashed) sensitivity against strength, one colour per epsilon,
    /// one panel per objective.</summary>
    public static void Figure9(string path, ReportModel model, string dataset)
    {
        var levels = model.Levels.Where(l => l.Level.Dataset == dataset && l.Level.Completed.Count > 0).ToList();
        var x = Axis(levels);
        var plots = new List<ScottPlot.Plot>();
        foreach (var curve in Curves(levels))
        {
            var plot = new ScottPlot.Plot();
            var epsilons = curve.SelectMany(l => l.Sensitivity.Select(s => s.Epsilon)).Distinct().Order().ToList();
            for (int e = 0; e < epsilons.Count; e++)
            {
                string colour = Palette[e % Palette.Length];
                EpsilonSummary? At(LevelSummary l) => l.Sensitivity.FirstOrDefault(s => s.Epsilon == epsilons[e]);
                Curve(plot, curve.Select(l => (x(l.Level.Strength), At(l)?.On)), colour,
                    $"on, eps {epsilons[e].ToString("G3", Inv)}", dashed: false);
                Curve(plot, curve.Select(l => (x(l.Level.Strength), At(l)?.Off)), colour,
                    $"off, eps {epsilons[e].ToString("G3", Inv)}", dashed: true);
            }
            Finish(plot, $"{curve[^1].Level.ObjectiveName}: on (solid) and off (dashed)",
                "log10 strength (leftmost: standard)", true);
            plots.Add(plot);
        }
        if (plots.Count == 0) plots.Add(new ScottPlot.Plot());
        SaveSideBySide(plots, 420, 420, path);
    }

    /// <summary>Figure 5: relative noise robustness (signal / distractor output change) against log10 sigma, one line
    /// per model.</summary>
    public static bool Figure5(string path, IReadOnlyList<(string Name, IReadOnlyList<SigmaSummary> Curve)> models)
    {
        var plot = new ScottPlot.Plot();
        int color = 0;
        foreach (var (name, curve) in models.Where(m => m.Curve.Count > 0))
            Curve(plot, curve.Select(p => (Math.Log10(p.Sigma), (Estimate?)p.RelativeRobustness)),
                Palette[color++ % Palette.Length], name, dashed: false);
        if (color == 0) return false;
        var one = plot.Add.HorizontalLine(1);
        one.LinePattern = ScottPlot.LinePattern.Dotted;
        one.Color = ScottPlot.Color.FromHex("#555555");
        plot.YLabel("relative noise robustness (signal / distractor change)");
        Finish(plot, "above 1: more robust to noise on the distractor", "log10 sigma (noise std per pixel)", true);
        Save(plot.GetImage(900, 520), path);
        return true;
    }

    /// <summary>Figure 5 for `paglab measure distractor`: one curve per report.</summary>
    public static bool Figure5(string path, IReadOnlyList<(string Name, DistractorReport Report)> reports) =>
        Figure5(path, reports.Select(r => (r.Name, (IReadOnlyList<SigmaSummary>)r.Report.Points.Where(p => p.Sigma > 0)
            .Select(p => new SigmaSummary(p.Sigma, p.RelativeRobustness, p.SignalChange,
                p.DistractorChange)).ToList())).ToList());

    /// <summary>The standard level, then each objective's levels by strength: one list per objective, each starting at
    /// the standard.</summary>
    static List<List<LevelSummary>> Curves(IReadOnlyList<LevelSummary> levels)
    {
        var standard = levels.Where(l => l.Level.IsStandard).Take(1).ToList();
        var objectives = levels.Where(l => l.Level.OnCurve).Select(l => l.Level.Objective).Distinct().ToList();
        if (objectives.Count == 0) return standard.Count > 0 ? new() { standard } : new();
        return objectives
            .Select(o => standard.Concat(levels.Where(l => l.Level.Objective == o).OrderBy(l => l.Level.Strength))
                .ToList())
            .ToList();
    }

    /// <summary>Each imported model as a lone diamond at the standard model's x (it has no strength), on no curve.
    /// </summary>
    static void ImportedPoints(ScottPlot.Plot plot, IEnumerable<LevelSummary> levels, Func<double, double> x,
        Func<LevelSummary, Estimate?> value, int color)
    {
        foreach (var level in levels.Where(l => l.Level.IsImported))
        {
            int before = plot.GetPlottables().Count();
            Curve(plot, new[] { (x(0), value(level)) }, Palette[color++ % Palette.Length], level.Level.Label,
                dashed: false);
            foreach (var point in plot.GetPlottables().Skip(before).OfType<ScottPlot.Plottables.Scatter>())
            {
                point.MarkerShape = ScottPlot.MarkerShape.FilledDiamond;
                point.MarkerSize = 10;
            }
        }
    }

    /// <summary>A line through the finite means with a vertical bar per point for its interval (infinite ends
    /// clipped).</summary>
    static void Curve(ScottPlot.Plot plot, IEnumerable<(double X, Estimate? Y)> points, string colour, string legend,
        bool dashed)
    {
        var finite = points.Where(p => p.Y is { } y && double.IsFinite(y.Mean) && double.IsFinite(p.X)).ToList();
        if (finite.Count == 0) return;
        var c = ScottPlot.Color.FromHex(colour);
        var line = plot.Add.Scatter(finite.Select(p => p.X).ToArray(), finite.Select(p => p.Y!.Mean).ToArray());
        line.Color = c; line.LegendText = legend; line.MarkerSize = 6;
        if (dashed) line.LinePattern = ScottPlot.LinePattern.Dashed;
        foreach (var (px, y) in finite)
        {
            if (double.IsNaN(y!.Lower) || double.IsNaN(y.Upper) || y.Upper <= y.Lower) continue;
            double low = double.IsFinite(y.Lower) ? y.Lower : y.Mean, high = double.IsFinite(y.Upper) ? y.Upper
                : y.Mean;
            var bar = plot.Add.Line(px, low, px, high);
            bar.Color = c;
        }
    }

    static void Finish(ScottPlot.Plot plot, string title, string xLabel, bool legend)
    {
        plot.Title(title, size: 13);
        plot.XLabel(xLabel);
        if (legend) plot.ShowLegend(ScottPlot.Alignment.UpperRight);
    }

    /// <summary>Renders each plot at width x height and puts them in one row.</summary>
    static void SaveSideBySide(IReadOnlyList<ScottPlot.Plot> plots, int width, int height, string path)
    {
        using var canvasBitmap = new SkiaSharp.SKBitmap(width * plots.Count, height);
        using (var canvas = new SkiaSharp.SKCanvas(canvasBitmap))
        {
            canvas.Clear(SkiaSharp.SKColors.White);
            for (int i = 0; i < plots.Count; i++)
            {
                var png = plots[i].GetImage(width, height).GetImageBytes(ScottPlot.ImageFormat.Png);
                using var panel = SkiaSharp.SKBitmap.Decode(png);
                canvas.DrawBitmap(panel, i * width, 0);
            }
        }
        using var image = SkiaSharp.SKImage.FromBitmap(canvasBitmap);
        using var data = image.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100);
        AtomicFile.WriteAllBytes(path, data.ToArray());
    }

    static void Save(ScottPlot.Image image, string path) => AtomicFile.WriteAllBytes(path,
        image.GetImageBytes(ScottPlot.ImageFormat.Png));
}
