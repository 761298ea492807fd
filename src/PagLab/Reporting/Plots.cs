using System.Globalization;
using PagLab.Experiments;
using PagLab.IO;

namespace PagLab.Reporting;

/// <summary>The report's charts (ScottPlot 5, rendered off-screen).</summary>
public static class Plots
{
    static readonly string[] Palette = { "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b" };

    /// <summary>Four panels side by side: on, off, accuracy, alignment against log10 strength.</summary>
    public static void Figure3(string path, IReadOnlyList<ResultRow> rows, string eps, bool haveLpips)
    {
        var panels = new (string Title, Func<JobResult, double> Value)[]
        {
            ("on-manifold sensitivity", r => r.OnSensitivity.TryGetValue(eps, out var v) ? v : double.NaN),
            ("off-manifold sensitivity", r => r.OffSensitivity.TryGetValue(eps, out var v) ? v : double.NaN),
            ("test accuracy", r => r.TestAccuracy),
            (haveLpips ? "1 - LPIPS (gradient vs score)" : "SSIM (gradient vs score)", r => (haveLpips ? r.OneMinusLpips : r.Ssim) ?? double.NaN),
        };
        var plots = Enumerable.Range(0, panels.Length).Select(_ => new ScottPlot.Plot()).ToList();
        var completed = rows.Where(r => r.Result.Status == "completed").ToList();
        for (int p = 0; p < panels.Length; p++)
        {
            var plot = plots[p];
            var (title, value) = panels[p];
            int color = 0;
            foreach (var objective in completed.Select(r => r.Result.Objective).Distinct())
            {
                var groups = completed.Where(r => r.Result.Objective == objective).GroupBy(r => r.Result.Strength).OrderBy(g => g.Key).ToList();
                if (objective == "standard")
                {
                    double mean = groups.SelectMany(g => g).Select(r => value(r.Result)).Where(double.IsFinite).DefaultIfEmpty(double.NaN).Average();
                    if (double.IsFinite(mean)) { var line = plot.Add.HorizontalLine(mean); line.LinePattern = ScottPlot.LinePattern.Dashed; line.LegendText = "standard"; line.Color = ScottPlot.Color.FromHex("#555555"); }
                    continue;
                }
                var xs = groups.Select(g => Math.Log10(Math.Max(g.Key, 1e-12))).ToArray();
                var means = groups.Select(g => g.Select(r => value(r.Result)).Where(double.IsFinite).DefaultIfEmpty(double.NaN).Average()).ToArray();
                var lows = groups.Select(g => g.Select(r => value(r.Result)).Where(double.IsFinite).DefaultIfEmpty(double.NaN).Min()).ToArray();
                var highs = groups.Select(g => g.Select(r => value(r.Result)).Where(double.IsFinite).DefaultIfEmpty(double.NaN).Max()).ToArray();
                var c = ScottPlot.Color.FromHex(Palette[color++ % Palette.Length]);
                var scatter = plot.Add.Scatter(xs, means);
                scatter.Color = c; scatter.LegendText = objective; scatter.MarkerSize = 6;
                for (int i = 0; i < xs.Length; i++)
                    if (double.IsFinite(lows[i]) && highs[i] > lows[i]) { var bar = plot.Add.Line(xs[i], lows[i], xs[i], highs[i]); bar.Color = c; }
            }
            plot.Title(title, size: 13);
            plot.XLabel("log10 strength");
            if (p == 0) plot.ShowLegend(ScottPlot.Alignment.UpperRight);
        }
        SaveSideBySide(plots, 400, 420, path);
    }

    /// <summary>Off/on ratio against log10 strength, one panel per objective, one line per epsilon.</summary>
    public static void Figure9(string path, IReadOnlyList<ResultRow> rows)
    {
        var completed = rows.Where(r => r.Result.Status == "completed" && r.Result.Objective != "standard").ToList();
        var objectives = completed.Select(r => r.Result.Objective).Distinct().ToList();
        var plots = Enumerable.Range(0, Math.Max(1, objectives.Count)).Select(_ => new ScottPlot.Plot()).ToList();
        for (int p = 0; p < objectives.Count; p++)
        {
            var plot = plots[p];
            var mine = completed.Where(r => r.Result.Objective == objectives[p]).ToList();
            var epsilons = mine.SelectMany(r => r.Result.OnSensitivity.Keys).Distinct().OrderBy(k => double.Parse(k, CultureInfo.InvariantCulture)).ToList();
            int color = 0;
            foreach (var e in epsilons)
            {
                var groups = mine.GroupBy(r => r.Result.Strength).OrderBy(g => g.Key).ToList();
                var xs = groups.Select(g => Math.Log10(Math.Max(g.Key, 1e-12))).ToArray();
                var ys = groups.Select(g => g.Average(r => r.Result.OffSensitivity.GetValueOrDefault(e, double.NaN) / r.Result.OnSensitivity.GetValueOrDefault(e, double.NaN))).ToArray();
                var s = plot.Add.Scatter(xs, ys);
                s.LegendText = $"eps {e}"; s.Color = ScottPlot.Color.FromHex(Palette[color++ % Palette.Length]);
            }
            plot.Title($"{objectives[p]}: off / on", size: 13);
            plot.XLabel("log10 strength");
            plot.ShowLegend(ScottPlot.Alignment.UpperRight);
        }
        SaveSideBySide(plots, 420, 400, path);
    }

    /// <summary>Signal (solid) and distractor (dashed) output change against sigma.</summary>
    public static bool Figure5(string path, string sweepDir, IReadOnlyList<ResultRow> rows)
    {
        var picks = rows.Where(r => r.Result.Status == "completed" && r.Result.Objective == "standard").Take(1)
            .Concat(rows.Where(r => r.Result.Status == "completed" && r.Result.Objective != "standard")
                        .GroupBy(r => r.Result.Objective).Select(g => g.OrderByDescending(r => r.Result.Strength).First())).ToList();
        var plot = new ScottPlot.Plot();
        int color = 0;
        foreach (var pick in picks)
        {
            string file = Path.Combine(sweepDir, "jobs", pick.Result.Id, "distractor.json");
            if (!File.Exists(file)) continue;
            var report = JsonFiles.Read<DistractorReport>(file);
            var points = report.Points.Where(p => p.Sigma > 0).ToList();
            var xs = points.Select(p => Math.Log10(p.Sigma)).ToArray();
            var c = ScottPlot.Color.FromHex(Palette[color++ % Palette.Length]);
            var signal = plot.Add.Scatter(xs, points.Select(p => p.SignalOutputChange).ToArray());
            signal.Color = c; signal.LegendText = $"{pick.Result.Objective} {pick.Result.Strength:G3}: signal";
            var distractor = plot.Add.Scatter(xs, points.Select(p => p.DistractorOutputChange).ToArray());
            distractor.Color = c; distractor.LinePattern = ScottPlot.LinePattern.Dashed; distractor.LegendText = "distractor";
        }
        if (color == 0) return false;
        plot.XLabel("log10 sigma (noise std per pixel)");
        plot.YLabel("mean ||f(x + noise) - f(x)||");
        plot.ShowLegend(ScottPlot.Alignment.UpperLeft);
        Save(plot.GetImage(900, 520), path);
        return true;
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
                using var panel = SkiaSharp.SKBitmap.Decode(plots[i].GetImage(width, height).GetImageBytes(ScottPlot.ImageFormat.Png));
                canvas.DrawBitmap(panel, i * width, 0);
            }
        }
        using var image = SkiaSharp.SKImage.FromBitmap(canvasBitmap);
        using var data = image.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100);
        AtomicFile.WriteAllBytes(path, data.ToArray());
    }

    static void Save(ScottPlot.Image image, string path) => AtomicFile.WriteAllBytes(path, image.GetImageBytes(ScottPlot.ImageFormat.Png));
}
