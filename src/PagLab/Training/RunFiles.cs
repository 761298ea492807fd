using System.Text.Json;
using PagLab.IO;

namespace PagLab.Training;

public enum RunStatus { Running, Completed, Diverged, Failed }

/// <summary>run.json: the full config, the environment and the state of a run.</summary>
public sealed record RunInfo
{
    public required string Kind { get; init; }                  // train | autoencoder | denoiser
    public required RunStatus Status { get; init; }
    public required JsonElement Config { get; init; }
    public string? Dataset { get; init; }
    public long Seed { get; init; }
    public Dictionary<string, string> Versions { get; init; } = RunFiles.Versions();
    public DateTime Started { get; init; }
    public DateTime? Finished { get; init; }
    public string? Message { get; init; }
    public string Host { get; init; } = Environment.MachineName;
}

/// <summary>One line of metrics.jsonl (one per epoch).</summary>
public sealed record EpochMetrics
{
    public int Epoch { get; init; }
    public double LearningRate { get; init; }
    public double TrainLoss { get; init; }
    public double CrossEntropy { get; init; }
    public double Penalty { get; init; }
    public double TrainAccuracy { get; init; }
    public double TestAccuracy { get; init; }
    public double ImagesPerSecond { get; init; }
    public double Seconds { get; init; }
}

/// <summary>File names of a run folder, in one place.</summary>
public static class RunFiles
{
    public const string Info = "run.json", Metrics = "metrics.jsonl", Checkpoint = "checkpoint";

    public static Dictionary<string, string> Versions() => new()
    {
        ["paglab"] = typeof(RunFiles).Assembly.GetName().Version?.ToString() ?? "?",
        ["torchsharp"] = typeof(TorchSharp.torch).Assembly.GetName().Version?.ToString() ?? "?",
        ["dotnet"] = Environment.Version.ToString(),
        ["os"] = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
    };

    public static RunInfo? ReadInfo(string dir)
    {
        string path = Path.Combine(dir, Info);
        return File.Exists(path) ? JsonFiles.Read<RunInfo>(path) : null;
    }

    public static void WriteInfo(string dir, RunInfo info) => JsonFiles.Write(Path.Combine(dir, Info), info);

    public static List<EpochMetrics> ReadMetrics(string dir)
    {
        string path = Path.Combine(dir, Metrics);
        if (!File.Exists(path)) return new();
        return File.ReadAllLines(path).Where(l => l.Trim().Length > 0)
                   .Select(l => JsonSerializer.Deserialize<EpochMetrics>(l, JsonFiles.Lines)!).ToList();
    }

    public static void WriteMetrics(string dir, IEnumerable<EpochMetrics> metrics) =>
        AtomicFile.WriteAllText(Path.Combine(dir, Metrics),
            string.Concat(metrics.Select(m => JsonSerializer.Serialize(m, JsonFiles.Lines) + "\n")));
}
