using System.Globalization;
using System.Text;
using PagLab.IO;

namespace PagLab.Experiments;

/// <summary>result.json of one sweep job: everything the results table and the report need.</summary>
public sealed record JobResult
{
    public required string Id { get; init; }
    public int Index { get; init; }
    public required string Dataset { get; init; }
    public required string Objective { get; init; }
    public double Strength { get; init; }
    public long Seed { get; init; }
    public required string Status { get; init; }                   // completed | diverged
    public double TestAccuracy { get; init; } = double.NaN;
    public Dictionary<string, double> OnSensitivity { get; init; } = new();   // by epsilon
    public Dictionary<string, double> OffSensitivity { get; init; } = new();
    public double? Rho2 { get; init; }
    public double? OneMinusLpips { get; init; }
    public double? Ssim { get; init; }
    public double? Cosine { get; init; }
    public double? BayesCosine { get; init; }
    public double? DistractorRatio { get; init; }
    public Dictionary<string, double> StageSeconds { get; init; } = new();
    public string? Message { get; init; }
}

/// <summary>A results row: a job's result plus its regime.</summary>
public sealed record ResultRow(JobResult Result, string Regime);

public static class SweepResults
{
    public static List<JobResult> Read(string sweepDir) =>
        Directory.Exists(Path.Combine(sweepDir, "jobs"))
            ? Directory.GetDirectories(Path.Combine(sweepDir, "jobs")).Order(StringComparer.Ordinal)
                .Select(d => Path.Combine(d, "result.json")).Where(File.Exists)
                .Select(JsonFiles.Read<JobResult>).ToList()
            : new();

    /// <summary>The epsilon the regime rule looks at: the rule's, or the middle measured one.</summary>
    public static string RegimeEpsilon(IEnumerable<JobResult> results, RegimeRule rule)
    {
        var eps = results.SelectMany(r => r.OnSensitivity.Keys).Distinct()
                         .OrderBy(k => double.Parse(k, CultureInfo.InvariantCulture)).ToList();
        if (rule.Epsilon is double e) return e.ToString("G6", CultureInfo.InvariantCulture);
        return eps.Count == 0 ? "" : eps[(eps.Count - 1) / 2];
    }

    public static List<ResultRow> Classify(IReadOnlyList<JobResult> results, RegimeRule rule)
    {
        string eps = RegimeEpsilon(results, rule);
        var rows = new List<ResultRow>();
        foreach (var r in results)
        {
            var reference = results.Where(s => s.Dataset == r.Dataset && s.Objective == "standard" && s.Status == "completed").ToList();
            double refAcc = reference.Count > 0 ? reference.Average(s => s.TestAccuracy) : double.NaN;
            double refOn = reference.Count > 0 && reference.All(s => s.OnSensitivity.ContainsKey(eps)) ? reference.Average(s => s.OnSensitivity[eps]) : double.NaN;
            string regime = r.Status != "completed" ? r.Status
                : !r.OnSensitivity.ContainsKey(eps) || double.IsNaN(refAcc) ? RegimeRule.Unknown
                : rule.Classify(r.TestAccuracy, r.OnSensitivity[eps], r.OffSensitivity[eps], refAcc, refOn);
            rows.Add(new ResultRow(r, regime));
        }
        return rows;
    }

    public static string Csv(IReadOnlyList<ResultRow> rows)
    {
        var eps = rows.SelectMany(r => r.Result.OnSensitivity.Keys).Distinct().OrderBy(k => double.Parse(k, CultureInfo.InvariantCulture)).ToList();
        var sb = new StringBuilder("id,dataset,objective,strength,seed,status,test_accuracy");
        foreach (var e in eps) sb.Append($",on_eps{e},off_eps{e},ratio_eps{e}");
        sb.AppendLine(",rho2,one_minus_lpips,ssim,cosine,bayes_cosine,distractor_ratio,regime");
        string F(double? v) => v is double d && double.IsFinite(d) ? d.ToString("G6", CultureInfo.InvariantCulture) : "";
        foreach (var row in rows)
        {
            var r = row.Result;
            sb.Append($"{r.Id},{r.Dataset},{r.Objective},{F(r.Strength)},{r.Seed},{r.Status},{F(r.TestAccuracy)}");
            foreach (var e in eps)
            {
                double? on = r.OnSensitivity.TryGetValue(e, out var a) ? a : null, off = r.OffSensitivity.TryGetValue(e, out var b) ? b : null;
                sb.Append($",{F(on)},{F(off)},{F(on is > 0 && off is not null ? off / on : null)}");
            }
            sb.AppendLine($",{F(r.Rho2)},{F(r.OneMinusLpips)},{F(r.Ssim)},{F(r.Cosine)},{F(r.BayesCosine)},{F(r.DistractorRatio)},{row.Regime}");
        }
        return sb.ToString();
    }
}
