using PagLab.IO;

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
        for (int e = (int)Math.Floor(logSigma.Min()); e <= (int)Math.Ceiling(logSigma.Max()); e++) ticks.AddMajor(e, $"1e{e}");
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.XLabel("sigma (noise standard deviation per pixel)");
        plot.YLabel("relative off-manifold share");
        plot.Title(title);
        plot.ShowLegend(ScottPlot.Alignment.UpperLeft);
        Save(plot, path, 800, 500);
    }

    /// <summary>Mean output change against epsilon, on and off the manifold (compare PAGs, Suppl. Figure 9).</summary>
    public static void OnOff(string path, IReadOnlyList<EpsilonResult> results, string title)
    {
        var plot = new ScottPlot.Plot();
        double[] eps = results.Select(r => r.Epsilon).ToArray();
        var on = plot.Add.Scatter(eps, results.Select(r => r.On.Mean).ToArray());
        on.LegendText = "on-manifold";
        on.Color = ScottPlot.Color.FromHex("#2ca02c");
        var off = plot.Add.Scatter(eps, results.Select(r => r.Off.Mean).ToArray());
        off.LegendText = "off-manifold";
        off.Color = ScottPlot.Color.FromHex("#d62728");
        plot.XLabel("epsilon (L2 norm of the perturbation)");
        plot.YLabel("mean ||f(x) - f(x+u)||_2");
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
