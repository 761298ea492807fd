using PagLab.Common;
using PagLab.Data;
using PagLab.IO;
using PagLab.Reporting;
using PagLab.Manifold;
using PagLab.Models;

namespace PagLab.Experiments;

/// <summary>
/// `paglab measure distractor`: relative noise robustness of one or more saved models on the first test
/// images of a distractor dataset (PAGs Figure 5), written as JSON (one report, or a list for several
/// models; the CSV beside a single one) and the figure as PNG beside it.
/// </summary>
public static class DistractorStudy
{
    /// <summary>What `measure distractor --out` writes: the JSON report and its figure beside it.</summary>
    public static (string Path, IO.FileKind Kind)[] Files(string outPath) =>
        [(outPath, IO.FileKind.Json), (Path.ChangeExtension(outPath, ".png"), IO.FileKind.Png)];

    /// <param name="measured">Called with each model's report as soon as it is measured.</param>
    /// <returns>The figure's path.</returns>
    public static string Run(IReadOnlyList<string> modelDirs, IDataset data, int count, double[] sigmas, long seed,
        OutputMeasure measure, string outPath, Action<DistractorReport> measured, bool channelsLast = false)
    {
        Require.That(count >= 1, $"count must be >= 1, got {count}");
        var reports = new List<DistractorReport>();
        foreach (var dir in modelDirs)
        {
            using var net = SavedModel.Load(dir, channelsLast: channelsLast);
            Require.That(net.Spec.Shape == data.Shape,
                $"{dir}: the model expects {net.Spec.Shape} images, {data.Name} has {data.Shape}");
            var report = DistractorRobustness.Measure(net, data.Test.Take(count), sigmas, dir, data.Name, seed,
                measure);
            reports.Add(report);
            measured(report);
        }
        if (reports.Count == 1) DistractorRobustness.Write(outPath, reports[0]);
        else JsonFiles.Write(outPath, reports);
        string figure = Path.ChangeExtension(outPath, ".png");
        Plots.Figure5(figure, reports.Select(r => (Path.GetFileName(r.Model), r)).ToList());
        return figure;
    }
}
