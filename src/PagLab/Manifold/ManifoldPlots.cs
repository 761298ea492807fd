using PagLab.IO;
using PagLab.Uncertainty;

namespace PagLab.Manifold;

/// <summary>PNG charts of the manifold measurements (ScottPlot 5, rendered off-screen by SkiaSharp).</summary>
public static class ManifoldPlots
{
    /// <summary>rho_1(sigma) and rho_2 against sigma on a log axis (Theorem 1: they meet as sigma -> 0).</summary>
    public static void Theorem1(string path, IReadOnlyList<Theorem1Row> rows, string title)
    {
        var plot = new ScottPlot.Plot();
        double[] logSigma = rows.Select(r => Math.Log10(r.Sigma)).ToArray();
        var rho1 = plot.Add.Scatter(logSigma, rows.Select(r => r.Rho1Mean).ToArray());
        rho1.LegendText = "rho_1(sigma), Definition 1 (Monte Carlo)";
        rho1.MarkerSize = 7;
        var rho2 = plot.Add.Scatter(logSigma, rows.Select(r => r.Rho2Mean).ToArray());
        rho2.LegendText = "rho_2, Definition 2 (gradient)";
        rho2.LinePattern = ScottPlot.LinePattern.Dashed;
        rho2.MarkerSize = 0;
        var linear = plot.Add.Scatter(logSigma, rows.Select(r => r.Rho1LinearMean).ToArray());
        linear.LegendText = "sigma -> 0 limit of the estimate on these draws";
        linear.LinePattern = ScottPlot.LinePattern.Dotted;
        linear.MarkerSize = 0;
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        for (int e = (int)Math.Floor(logSigma.Min()); e <= (int)Math.Ceiling(logSigma.Max()); e++)
            ticks.AddMajor(e, $"1e{e}");
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.XLabel("sigma (noise standard deviation per pixel)");
        plot.YLabel("relative off-manifold share");
        plot.Title(title);
        plot.ShowLegend(ScottPlot.Alignment.UpperLeft);
        Save(plot, path, 800, 500);
    }

    /// <summary>
    /// Mean output change against epsilon, on and off the manifold, with 95% bootstrap interval bars
    /// over images (compare PAGs, Suppl. Figure 9).
    /// </summary>
    public static void OnOff(string path, IReadOnlyList<EpsilonResult> results, string title)
    {
        var plot = new ScottPlot.Plot();
        double[] eps = results.Select(r => r.Epsilon).ToArray();
        foreach (var (name, colour, perImage) in new (string, string, Func<EpsilonResult, double[]>)[]
                 { ("on-manifold", "#2ca02c", r => r.OnPerImage), ("off-manifold", "#d62728", r => r.OffPerImage) })
        {
            var estimates = results.Select(r => Bootstrap.Mean(Bootstrap.Sample.One(perImage(r)))).ToList();
            var line = plot.Add.Scatter(eps, estimates.Select(e => e.Mean).ToArray());
            line.LegendText = name;
            line.Color = ScottPlot.Color.FromHex(colour);
            for (int i = 0; i < eps.Length; i++)
                if (estimates[i].Bounded)
                    plot.Add.Line(eps[i], estimates[i].Lower, eps[i], estimates[i].Upper).Color = line.Color;
        }
        plot.XLabel("epsilon (L2 norm of the perturbation)");
        plot.YLabel("mean ||f(x) - f(x+u)|| (see title)");
        plot.Title(title);
        plot.ShowLegend(ScottPlot.Alignment.UpperLeft);
        Save(plot, path, 800, 500);
    }

    static void Save(ScottPlot.Plot plot, string path, int width, int height)
    {
        byte[] png = plot.GetImage(width, height).GetImageBytes(ScottPlot.ImageFormat.Png);
        AtomicFile.WriteAllBytes(path, png);
    }
}
