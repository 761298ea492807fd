using System.Text.Json;
using PagLab.Common;
using PagLab.IO;

namespace PagLab.Training;

/// <summary>The state of a run folder, as run.json spells it.</summary>
public enum RunStatus
{
    [Name("running", "training, or stopped before it finished (resumable)")] Running,
    [Name("completed", "trained for every epoch; the final model is saved")] Completed,
    [Name("diverged", "stopped at a non-finite loss; no final model")] Diverged,
    [Name("failed", "stopped by an error")] Failed,
}

/// <summary>run.json: the full config, the environment and the state of a run.</summary>
public sealed record RunInfo
{
    /// <summary>1: before the shared training loop (no formatVersion key); 2: adds threads and named sums.</summary>
    public int FormatVersion { get; init; } = 1;
    public required string Kind { get; init; }                  // train | autoencoder | denoiser
    public required RunStatus Status { get; init; }
    public required JsonElement Config { get; init; }
    public string? Dataset { get; init; }
    public long Seed { get; init; }
    /// <summary>Torch CPU threads of the last session: results depend on it, bit for bit.</summary>
    public int? Threads { get; init; }
    public Dictionary<string, string> Versions { get; init; } = RunFiles.Versions();
    public DateTime Started { get; init; }
    public DateTime? Finished { get; init; }
    public string? Message { get; init; }
    public string Host { get; init; } = Environment.MachineName;
}

/// <summary>A line of metrics.jsonl: one per finished epoch, counted from 1.</summary>
public interface IEpochRecord
{
    int Epoch { get; }
}

/// <summary>One line of metrics.jsonl (one per epoch).</summary>
public sealed record EpochMetrics : IEpochRecord
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

/// <summary>File names of a run folder, in one place, and readers for code that only looks.</summary>
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

    /// <summary>The classifier's metrics.</summary>
    public static List<EpochMetrics> ReadMetrics(string dir) => ReadMetrics<EpochMetrics>(dir);

    public static List<T> ReadMetrics<T>(string dir)
    {
        string path = Path.Combine(dir, Metrics);
        // a run writes an empty metrics.jsonl before its first epoch ends
        if (!File.Exists(path) || new FileInfo(path).Length == 0) return new();
        var lines = UserFile.ReadText(path).Split('\n');
        var records = new List<T>();
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].Trim().Length == 0) continue;
            try { records.Add(JsonSerializer.Deserialize<T>(lines[i], JsonFiles.Lines)!); }
            catch (JsonException e)
            {
                throw new DataFormatException(path, $"line {i + 1}: {e.Message.Split('\n')[0]}");
            }
        }
        return records;
    }

    public static void WriteMetrics<T>(string dir, IEnumerable<T> metrics) =>
        AtomicFile.WriteAllText(Path.Combine(dir, Metrics),
            string.Concat(metrics.Select(m => JsonSerializer.Serialize(m, JsonFiles.Lines) + "\n")));
}
