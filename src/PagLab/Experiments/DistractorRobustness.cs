using PagLab.Common;
using PagLab.Data;
using PagLab.IO;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Experiments;

/// <summary>One noise level: accuracy and mean output change with noise on the signal or on the distractor.</summary>
public sealed record DistractorPoint
{
    public double Sigma { get; init; }
    public double SignalAccuracy { get; init; }
    public double DistractorAccuracy { get; init; }
    public double SignalOutputChange { get; init; }
    public double DistractorOutputChange { get; init; }
    /// <summary>Relative noise robustness: output change from distractor noise over that from signal noise (below 1: more robust on the distractor).</summary>
    public double Ratio { get; init; }
}

public sealed record DistractorReport
{
    public required string Model { get; init; }
    public required string Dataset { get; init; }
    public int Images { get; init; }
    public double CleanAccuracy { get; init; }
    public required List<DistractorPoint> Points { get; init; }
    /// <summary>Mean of Ratio over the noise levels above 0: one number per model.</summary>
    public double MeanRatio { get; init; }
}

/// <summary>
/// Signal vs distractor (PAGs, Section 4.3, Figure 5, Suppl. B.9): Gaussian noise of std sigma added
/// only inside the signal mask or only inside the distractor mask; accuracy and the L2 change of the
/// logits for both. Batched over images; the same noise draw is used for both masks.
/// </summary>
public static class DistractorRobustness
{
    public static DistractorReport Measure(Module<Tensor, Tensor> model, DataSplit split, double[] sigmas, string modelName, string datasetName, long seed = 0, int batchSize = 500)
    {
        Require.That(split.SignalMask is not null && split.DistractorMask is not null, $"{datasetName} has no signal/distractor masks (use a *-distractor dataset)");
        model.eval();
        long n = split.Count;
        var points = new List<DistractorPoint>();
        double clean = 0;
        using var generator = new Generator(unchecked((ulong)seed + 31), device: CPU);
        foreach (var sigma in sigmas)
        {
            double accS = 0, accD = 0, chS = 0, chD = 0;
            foreach (var batch in split.Batches(batchSize, shuffle: false))
            {
                using var scope = NewDisposeScope();
                using var _ = batch;
                using var noGrad = no_grad();
                var x = batch.Images;
                var noise = randn(x.shape, generator: generator) * sigma;
                var f0 = model.call(x);
                var fs = model.call(x + noise * batch.SignalMask!);
                var fd = model.call(x + noise * batch.DistractorMask!);
                if (sigma == sigmas[0]) clean += f0.argmax(1).eq(batch.Labels).sum().item<long>();
                accS += fs.argmax(1).eq(batch.Labels).sum().item<long>();
                accD += fd.argmax(1).eq(batch.Labels).sum().item<long>();
                chS += (fs - f0).norm(1).sum().item<float>();
                chD += (fd - f0).norm(1).sum().item<float>();
            }
            points.Add(new DistractorPoint
            {
                Sigma = sigma, SignalAccuracy = accS / n, DistractorAccuracy = accD / n,
                SignalOutputChange = chS / n, DistractorOutputChange = chD / n,
                Ratio = chS > 0 ? chD / chS : sigma == 0 ? 1 : double.NaN,
            });
        }
        var positive = points.Where(p => p.Sigma > 0 && double.IsFinite(p.Ratio)).ToList();
        return new DistractorReport
        {
            Model = modelName, Dataset = datasetName, Images = (int)n, CleanAccuracy = clean / n, Points = points,
            MeanRatio = positive.Count > 0 ? positive.Average(p => p.Ratio) : double.NaN,
        };
    }

    public static void Write(string path, DistractorReport report)
    {
        JsonFiles.Write(path, report);
        var csv = new System.Text.StringBuilder("sigma,signal_accuracy,distractor_accuracy,signal_output_change,distractor_output_change,ratio\n");
        foreach (var p in report.Points)
            csv.AppendLine(string.Join(",", new[] { p.Sigma, p.SignalAccuracy, p.DistractorAccuracy, p.SignalOutputChange, p.DistractorOutputChange, p.Ratio }
                .Select(v => v.ToString("G6", System.Globalization.CultureInfo.InvariantCulture))));
        AtomicFile.WriteAllText(Path.ChangeExtension(path, ".csv"), csv.ToString());
    }
}
