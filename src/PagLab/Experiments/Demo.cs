using System.Diagnostics;
using PagLab.Common;
using PagLab.Data;
using PagLab.IO;
using PagLab.Metrics;
using PagLab.Reporting;

namespace PagLab.Experiments;

/// <summary>What `paglab demo` did: the jobs not done, the report, the wall time, and the report's console summary
/// (each finding beside the paper's setting, and what the demo's scale cannot settle).</summary>
public sealed record DemoOutcome(int Unfinished, string Report, TimeSpan Elapsed, IReadOnlyList<string> Summary);

/// <summary>
/// The whole study, small: the demo sweep (or, full, the paper-scale one on the datasets present), run on
/// this machine, then report.html and results.csv in its folder.
/// </summary>
public static class Demo
{
    /// <summary>The datasets a full demo sweeps when present.</summary>
    static readonly string[] FullDatasets = new[]
    {
        DatasetName.MnistDistractor, DatasetName.FashionMnistDistractor, DatasetName.Cifar10,
        DatasetName.ShapesDistractor, DatasetName.SubspaceGaussians,
    }.Select(Datasets.Name).ToArray();

    /// <param name="lpipsNet">The LPIPS network; null: alex when its weights are found, else squeeze.</param>
    public static DemoOutcome Run(SweepFolder sweep, bool full, int workers, string? dataRoot, IProgressSink progress,
        LpipsNet? lpipsNet = null)
    {
        var clock = Stopwatch.StartNew();
        var spec = full
            ? SweepSpec.Full(Datasets.Describe(dataRoot).Where(d => d.Present && FullDatasets.Contains(d.Name))
                .Select(d => d.Name)) with { DataRoot = dataRoot }
            : SweepSpec.Demo() with { DataRoot = dataRoot };
        spec = spec with { Measure = spec.Measure with { LpipsNet = lpipsNet } };
        spec.Validate(nameof(lpipsNet));
        OutputFolder.Create(sweep.Root);
        if (!File.Exists(sweep.DemoSpec)) JsonFiles.Write(sweep.DemoSpec, spec);
        spec = sweep.Prepare(spec);
        progress.Line(LpipsChoice.Find(null, spec.DataRoot, spec.Measure.LpipsNet).Describe());
        LocalWorkers.Run(spec, sweep.DemoSpec, sweep, workers, LocalWorkers.DefaultThreads(workers), progress);
        int unfinished = SweepRunner.Unfinished(spec, sweep).Count;
        var (report, model) = ReportBuilder.Write(sweep, sweep.Report);
        SweepResults.WriteCsv(sweep, spec, sweep.ResultsCsv);
        return new DemoOutcome(unfinished, report, clock.Elapsed, ReportSummary.ConsoleLines(model));
    }
}
