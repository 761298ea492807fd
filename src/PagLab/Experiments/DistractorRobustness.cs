using System.Globalization;
using System.Text;
using PagLab.Common;
using PagLab.Data;
using PagLab.IO;
using PagLab.Manifold;
using PagLab.Models;
using PagLab.Uncertainty;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Experiments;

/// <summary>
/// One noise level: accuracy and output change with noise on the signal or on the distractor, each
/// with its 95% interval, and the per-image changes the intervals come from.
/// </summary>
public sealed record DistractorPoint
{
    public double Sigma { get; init; }
    public required Estimate SignalAccuracy { get; init; }
    public required Estimate DistractorAccuracy { get; init; }
    public required Estimate SignalChange { get; init; }
    public required Estimate DistractorChange { get; init; }
    /// <summary>
    /// Relative noise robustness (PAGs Section 4.3, Figure 5): robustness to distractor noise over
    /// robustness to signal noise = signal change / distractor change. Above 1: more robust on the
    /// distractor; infinite when distractor noise does not move the output; undefined at sigma 0.
    /// </summary>
    public required Estimate RelativeRobustness { get; init; }
    public required double[] SignalPerImage { get; init; }
    public required double[] DistractorPerImage { get; init; }
}

public sealed record DistractorReport
{
    public required string Model { get; init; }
    public required string Dataset { get; init; }
    /// <summary>The output measure of the changes (<see cref="OutputMeasure"/> name, e.g. softmax-l1).</summary>
    public required string Outputs { get; init; }
    public int Images { get; init; }
    public required Estimate CleanAccuracy { get; init; }
    public required List<DistractorPoint> Points { get; init; }
    /// <summary>Relative noise robustness of the changes averaged over the noise levels above 0 (paired per
    /// image).</summary>
    public required Estimate OverSigmas { get; init; }
}

/// <summary>
/// Signal vs distractor (PAGs, Section 4.3, Figure 5, Suppl. B.9): Gaussian noise of std sigma added
/// only inside the signal mask or only inside the distractor mask (the same draw for both), and the
/// change of the model output (<see cref="OutputMeasure"/>, default the L1 change of the softmax
/// output) and the accuracy under both. Batched over images.
/// </summary>
public static class DistractorRobustness
{
    public static DistractorReport Measure(Module<Tensor, Tensor> model, DataSplit split, double[] sigmas,
        string modelName,
        string datasetName, long seed = 0, OutputMeasure? measure = null, int batchSize = 500)
    {
        Require.That(split.SignalMask is not null && split.DistractorMask is not null,
            $"{datasetName} has no signal/distractor masks (use a *-distractor dataset)");
        measure ??= OutputMeasure.Default;
        using var eval = EvalModel.For(model);
        model = eval.Model;                                          // eval mode, batch norm folded
        long n = split.Count;
        var points = new List<DistractorPoint>();
        long clean = 0;
        using var generator = new Generator(unchecked((ulong)seed + 31), device: CPU);
        using var outputs = NewDisposeScope();
        // The clean outputs, once per batch (not once per noise level): a third of the forward passes.
        var cleanOutputs = new List<Tensor>();
        using (no_grad())
            foreach (var batch in split.Batches(batchSize, shuffle: false))
                using (batch)
                {
                    var f0 = measure.Of(model.call, batch.Images).detach();
                    clean += f0.argmax(1).eq(batch.Labels).sum().item<long>();
                    cleanOutputs.Add(f0);
                }
        foreach (var sigma in sigmas)
        {
            long accS = 0, accD = 0;
            var signal = new List<double>();
            var distractor = new List<double>();
            int b = 0;
            foreach (var batch in split.Batches(batchSize, shuffle: false))
            {
                using var scope = NewDisposeScope();
                using var _ = batch;
                using var noGrad = no_grad();
                var x = batch.Images;
                var noise = randn(x.shape, generator: generator) * sigma;
                var f0 = cleanOutputs[b++];
                var fs = measure.Of(model.call, x + noise * batch.SignalMask!);
                var fd = measure.Of(model.call, x + noise * batch.DistractorMask!);
                accS += fs.argmax(1).eq(batch.Labels).sum().item<long>();
                accD += fd.argmax(1).eq(batch.Labels).sum().item<long>();
                signal.AddRange(measure.Change(fs, f0).to_type(ScalarType.Float64).data<double>().ToArray());
                distractor.AddRange(measure.Change(fd, f0).to_type(ScalarType.Float64).data<double>().ToArray());
            }
            points.Add(Point(sigma, signal.ToArray(), distractor.ToArray(), accS, accD, n));
        }
        return new DistractorReport
        {
            Model = modelName, Dataset = datasetName, Outputs = measure.Name, Images = (int)n,
            CleanAccuracy = Estimate.Binomial(clean, n), Points = points, OverSigmas = OverSigmas(points),
        };
    }

    static DistractorPoint Point(double sigma, double[] signal, double[] distractor, long accS, long accD, long n)
    {
        var s = Bootstrap.Sample.One(signal);
        var d = Bootstrap.Sample.One(distractor);
        return new DistractorPoint
        {
            Sigma = sigma, SignalAccuracy = Estimate.Binomial(accS, n), DistractorAccuracy = Estimate.Binomial(accD, n),
            SignalChange = Bootstrap.Mean(s), DistractorChange = Bootstrap.Mean(d),
                RelativeRobustness = Bootstrap.Ratio(s, d),
            SignalPerImage = signal, DistractorPerImage = distractor,
        };
    }

    /// <summary>Per image, the signal and distractor changes averaged over the noise levels above 0.</summary>
    public static (double[] Signal, double[] Distractor) MeanOverSigmas(IReadOnlyList<DistractorPoint> points)
    {
        var positive = points.Where(p => p.Sigma > 0).ToList();
        if (positive.Count == 0) return (Array.Empty<double>(), Array.Empty<double>());
        int n = positive[0].SignalPerImage.Length;
        double[] Mean(Func<DistractorPoint, double[]> pick) =>
            Enumerable.Range(0, n).Select(i => positive.Average(p => pick(p)[i])).ToArray();
        return (Mean(p => p.SignalPerImage), Mean(p => p.DistractorPerImage));
    }

    static Estimate OverSigmas(IReadOnlyList<DistractorPoint> points)
    {
        var (signal, distractor) = MeanOverSigmas(points);
        return Bootstrap.Ratio(Bootstrap.Sample.One(signal), Bootstrap.Sample.One(distractor));
    }

    public static void Write(string path, DistractorReport report)
    {
        JsonFiles.Write(path, report);
        var columns = new[]
            { "signal_accuracy", "distractor_accuracy", "signal_change", "distractor_change", "relative_robustness" };
        var csv = new StringBuilder("output_measure,sigma");
        foreach (var c in columns) csv.Append($",{c},{c}_lower,{c}_upper");
        csv.AppendLine();
        foreach (var p in report.Points)
        {
            var cells = new[] { p.SignalAccuracy, p.DistractorAccuracy, p.SignalChange, p.DistractorChange,
                p.RelativeRobustness }
                .SelectMany(e => new[] { e.Mean, e.Lower, e.Upper }).Prepend(p.Sigma).Select(Format);
            csv.AppendLine(report.Outputs + "," + string.Join(",", cells));
        }
        AtomicFile.WriteAllText(Path.ChangeExtension(path, ".csv"), csv.ToString());
    }

    /// <summary>CSV number: G6, "inf" for infinity, empty when undefined.</summary>
    public static string Format(double v) =>
        double.IsNaN(v) ? "" : double.IsPositiveInfinity(v) ? "inf" : double.IsNegativeInfinity(v) ? "-inf"
        : v.ToString("G6", CultureInfo.InvariantCulture);
}
