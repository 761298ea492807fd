using System.Text.Json;
using PagLab.Common;
using PagLab.IO;

namespace PagLab.Training;

public enum RunStatus { Running, Completed, Diverged, Failed }

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
        if (!File.Exists(path)) return new();
        var lines = File.ReadAllLines(path);
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

/// <summary>
/// A run folder opened for training: run.json (config, status, threads), metrics.jsonl, checkpoint/
/// and the final artefact. Opening decides refuse-or-resume: an existing run needs resume, the same
/// kind, a format this version reads and the same config, except the keys in MayChangeOnResume.
/// </summary>
public sealed class RunFolder
{
    public const int CurrentFormat = 2;

    /// <summary>Config keys a resume may change: they do not change what is trained (docs/training.md).</summary>
    public static readonly IReadOnlySet<string> MayChangeOnResume = new HashSet<string>
    {
        "threads", "device", "checkpointEveryBatches", "checkpointEverySeconds", "dataRoot",
    };

    readonly JsonElement config;
    readonly string? dataset;
    readonly long seed;
    readonly DateTime started;

    public string Dir { get; }
    public string Kind { get; }
    /// <summary>run.json as found, or null for a new run.</summary>
    public RunInfo? Existing { get; }
    public bool Completed => Existing is { Status: RunStatus.Completed };

    RunFolder(string dir, string kind, JsonElement config, string? dataset, long seed, RunInfo? existing)
    {
        Dir = dir; Kind = kind; this.config = config; this.dataset = dataset; this.seed = seed; Existing = existing;
        started = existing?.Started ?? DateTime.UtcNow;
    }

    public static RunFolder Open<TConfig>(string dir, string kind, TConfig config, string? dataset, long seed,
                                          bool resume)
    {
        var existing = RunFiles.ReadInfo(dir);
        if (existing is not null)
        {
            string info = Path.Combine(dir, RunFiles.Info);
            if (!resume)
                throw new PagLabException($"{dir} already holds a run (status {Name(existing.Status)}); " +
                                          "pass --resume to continue it or choose another --out");
            if (existing.FormatVersion > CurrentFormat)
                throw new DataFormatException(info,
                    $"run format {existing.FormatVersion} is newer than this PagLab reads ({CurrentFormat})");
            if (existing.Kind != kind)
                throw new DataFormatException(info, $"holds a {existing.Kind} run, not a {kind} run");
            RefuseOtherConfig(info, existing.Config, config);
        }
        var json = JsonSerializer.SerializeToElement(config, JsonFiles.Options);
        return new RunFolder(dir, kind, json, dataset, seed, existing);
    }

    /// <summary>One line naming every key whose stored value differs from the requested one.</summary>
    static void RefuseOtherConfig<TConfig>(string info, JsonElement storedJson, TConfig requested)
    {
        TConfig stored;
        try { stored = storedJson.Deserialize<TConfig>(JsonFiles.Options)!; }
        catch (JsonException e) { throw new DataFormatException(info, $"config: {e.Message.Split('\n')[0]}"); }
        // Both sides through the same record, so keys an older run.json lacks compare as their defaults.
        var before = Flatten(JsonSerializer.SerializeToElement(stored, JsonFiles.Options));
        var after = Flatten(JsonSerializer.SerializeToElement(requested, JsonFiles.Options));
        var differing = before.Keys.Union(after.Keys)
            .Where(key => !MayChangeOnResume.Contains(key)
                          && before.GetValueOrDefault(key) != after.GetValueOrDefault(key))
            .Select(key => $"{key} {before.GetValueOrDefault(key, "unset")} -> {after.GetValueOrDefault(key, "unset")}")
            .ToList();
        if (differing.Count > 0)
            throw new PagLabException($"{info}: the run was started with other options " +
                                      $"({string.Join(", ", differing)}); " +
                                      "resume with the stored options or start a new run folder");
    }

    /// <summary>Leaves of a JSON object by dotted path (objective.pgd.steps), arrays as their JSON text.</summary>
    static Dictionary<string, string> Flatten(JsonElement element, string prefix = "",
                                              Dictionary<string, string>? into = null)
    {
        into ??= new();
        if (element.ValueKind == JsonValueKind.Object)
            foreach (var property in element.EnumerateObject())
                Flatten(property.Value, prefix.Length == 0 ? property.Name : $"{prefix}.{property.Name}", into);
        else if (element.ValueKind == JsonValueKind.Array)
            into[prefix] = element.GetRawText().Replace(" ", "").Replace("\n", "");
        else into[prefix] = element.ToString();
        return into;
    }

    /// <summary>Creates the folder and records the run as running (this session's threads included).</summary>
    public void Start() => Write(RunStatus.Running, null);

    public void Finish(RunStatus status, string? message) => Write(status, message);

    public List<T> ReadMetrics<T>() => RunFiles.ReadMetrics<T>(Dir);

    public void WriteMetrics<T>(IEnumerable<T> metrics) => RunFiles.WriteMetrics(Dir, metrics);

    void Write(RunStatus status, string? message)
    {
        Directory.CreateDirectory(Dir);
        RunFiles.WriteInfo(Dir, new RunInfo
        {
            FormatVersion = CurrentFormat, Kind = Kind, Status = status, Config = config, Dataset = dataset,
            Seed = seed,
            Threads = TorchSharp.torch.get_num_threads(), Started = started,
            Finished = status == RunStatus.Running ? null : DateTime.UtcNow, Message = message,
        });
    }

    static string Name(RunStatus status) => status.ToString().ToLowerInvariant();
}
