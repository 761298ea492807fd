using PagLab.IO;
using PagLab.Models;

namespace PagLab.Manifold;

/// <summary>What `paglab measure manifold` writes (R.json; R.csv beside it).</summary>
public sealed record ManifoldReport
{
    public required string Model { get; init; }
    public required string Tangents { get; init; }
    public required string Dataset { get; init; }
    /// <summary>The output measure of Results (<see cref="OutputMeasure"/> name, e.g. softmax-l1).</summary>
    public required string Outputs { get; init; }
    public int Images { get; init; }
    public int Draws { get; init; }
    public long Seed { get; init; }
    public required IReadOnlyList<EpsilonResult> Results { get; init; }
    /// <summary>Definition 2 per class mode: mean, std and quantiles of rho_2 over the images.</summary>
    public required Dictionary<string, Distribution> Rho2 { get; init; }

    /// <summary>What `paglab measure manifold` prints: per epsilon the mean on- and off-manifold changes and their
    /// ratio, each with its 95% bootstrap interval over the images; rho_2 per class mode.</summary>
    public IEnumerable<string> SummaryLines()
    {
        foreach (var r in Results)
        {
            var on = Uncertainty.Bootstrap.Sample.One(r.OnPerImage);
            var off = Uncertainty.Bootstrap.Sample.One(r.OffPerImage);
            string ratio = Uncertainty.Bootstrap.Ratio(off, on).Text("G4");
            yield return $"eps {r.Epsilon,6:G4} ({Outputs}): on {Uncertainty.Bootstrap.Mean(on).Text("G4")}  off "
                + $"{Uncertainty.Bootstrap.Mean(off).Text("G4")}  off/on {ratio}";
        }
        yield return "rho_2 = ||grad f - P grad f||^2 / ||grad f||^2: the fraction of the gradient's squared norm off "
            + "the tangent space (Definition 2; 0: on the manifold, 1: off it)";
        foreach (var (mode, d) in Rho2)
        {
            var rho2 = Uncertainty.Bootstrap.Mean(Uncertainty.Bootstrap.Sample.Defined(Rho2PerImage[mode]));
            string undefined = d.Count < Rho2PerImage[mode].Length
                ? $" ({Rho2PerImage[mode].Length - d.Count} of {Rho2PerImage[mode].Length} images have a zero "
                  + "gradient, where rho_2 is undefined)" : "";
            yield return $"rho_2 ({mode} gradient): {rho2.Text("G4")}, median {d.Median:G4}{undefined}";
        }
    }

    /// <summary>rho_2 per class mode and image (the units its interval is bootstrapped over); NaN where the
    /// gradient is zero.</summary>
    public Dictionary<string, double[]> Rho2PerImage { get; init; } = new();
    /// <summary>Definition 1 per class mode and epsilon (sigma = epsilon / sqrt(d), so E||u|| ~ epsilon), from the same
    /// draws.</summary>
    public required Dictionary<string, Dictionary<string, Distribution>> Rho1 { get; init; }
}

/// <summary>What `paglab measure theorem1` writes.</summary>
public sealed record Theorem1Report
{
    public required string Model { get; init; }
    public required string Tangents { get; init; }
    public required string Dataset { get; init; }
    public required GradientMode ClassMode { get; init; }
    public int Images { get; init; }
    public int Draws { get; init; }
    public required IReadOnlyList<Theorem1Row> Rows { get; init; }
}

/// <summary>
/// The one writer of the manifold measurements' files: the JSON report, a CSV table (one row per epsilon and
/// direction, or per sigma) and a PNG figure beside it.
/// </summary>
public static class ManifoldReportFiles
{
    /// <summary>What `measure manifold --out R.json` writes: R.json, R.csv and R.png.</summary>
    public static (string Path, FileKind Kind)[] Of(string jsonPath) => Beside(jsonPath);

    /// <summary>What `measure theorem1 --out OUT` writes: out.json, out.csv and out.png.</summary>
    public static (string Path, FileKind Kind)[] OfTheorem1(string outPath) =>
        Beside(Path.ChangeExtension(outPath, ".json"));

    static (string Path, FileKind Kind)[] Beside(string jsonPath) =>
        [(jsonPath, FileKind.Json), (Path.ChangeExtension(jsonPath, ".csv"), FileKind.Csv),
            (Path.ChangeExtension(jsonPath, ".png"), FileKind.Png)];

    static readonly string[] ManifoldColumns = ["output_measure", "epsilon", "direction", "mean", "lower", "upper",
        "std", "q05", "q25", "median", "q75", "q95", "max", "count", "off_over_on"];

    static readonly string[] Theorem1Columns = ["sigma", "rho1_mean", "rho2_mean", "mean_abs_difference",
        "max_abs_difference", "rho1_linear_mean", "mean_abs_to_linear"];

    /// <summary>Writes R.json, R.csv (per epsilon and direction: the distribution over images and the mean's 95%
    /// bootstrap interval) and R.png.</summary>
    public static void Write(string jsonPath, ManifoldReport report)
    {
        var rows = report.Results.SelectMany(r => new[] { ("on", r.On, r.OnPerImage), ("off", r.Off, r.OffPerImage) }
            .Select(d => ManifoldRow(report.Outputs, r, d.Item1, d.Item2, d.Item3)));
        Write(jsonPath, report, ManifoldColumns, rows);
        ManifoldPlots.OnOff(Path.ChangeExtension(jsonPath, ".png"), report.Results,
            $"{report.Dataset}: on- vs off-manifold output change ({report.Outputs})");
    }

    /// <summary>Writes out.json, out.csv (one row per sigma) and out.png for `paglab measure theorem1`.</summary>
    public static void Write(string outPath, Theorem1Report report)
    {
        var rows = report.Rows.Select(r => new[] { r.Sigma, r.Rho1Mean, r.Rho2Mean, r.MeanAbsDifference,
            r.MaxAbsDifference, r.Rho1LinearMean, r.MeanAbsToLinear }.Select(Format));
        Write(Path.ChangeExtension(outPath, ".json"), report, Theorem1Columns, rows);
        ManifoldPlots.Theorem1(Path.ChangeExtension(outPath, ".png"), report.Rows,
            $"Theorem 1 on {report.Dataset} ({Common.Vocabulary.Name(report.ClassMode)} logit, {report.Images} "
            + "images)");
    }

    static IEnumerable<string> ManifoldRow(string outputs, EpsilonResult r, string direction, Distribution dist,
        double[] perImage)
    {
        var interval = Uncertainty.Bootstrap.Mean(Uncertainty.Bootstrap.Sample.One(perImage));
        return new[] { outputs, Format(r.Epsilon), direction }
            .Concat(new[] { dist.Mean, interval.Lower, interval.Upper, dist.Std, dist.Q05, dist.Q25, dist.Median,
                dist.Q75, dist.Q95, dist.Maximum }.Select(Format))
            .Append(dist.Count.ToString(System.Globalization.CultureInfo.InvariantCulture))
            .Append(Format(r.OffOverOn));
    }

    /// <summary>The JSON report and the CSV table beside it, each written atomically.</summary>
    static void Write<T>(string jsonPath, T report, string[] columns, IEnumerable<IEnumerable<string>> rows)
    {
        JsonFiles.Write(jsonPath, report);
        CsvTable.Write(Path.ChangeExtension(jsonPath, ".csv"), columns, rows);
    }

    static string Format(double v) => ManifoldExperiments.Format(v);
}
