using System.Text.Json;
using PagLab.Common;
using PagLab.IO;
using TorchSharp;

namespace PagLab.Training;

/// <summary>What every training config has: run.json records dataset and seed; threads apply while it trains.</summary>
public interface IRunConfig
{
    string Dataset { get; }
    long Seed { get; }
    int? Threads { get; }
    void Validate();
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
        "threads", "device", "checkpointEveryBatches", "checkpointEverySeconds", "dataRoot", "channelsLast",
    };

    readonly JsonElement config;
    readonly string? dataset;
    readonly long seed;
    readonly DateTime started;
    readonly int? threads;

    public string Dir { get; }
    public string Kind { get; }
    /// <summary>run.json as found, or null for a new run.</summary>
    public RunInfo? Existing { get; }
    public bool Completed => Existing is { Status: RunStatus.Completed };
    /// <summary>The run's config as run.json stores it (indented JSON), for TensorBoard's text tab.</summary>
    public string ConfigJson => JsonSerializer.Serialize(config, new JsonSerializerOptions { WriteIndented = true });

    RunFolder(string dir, string kind, JsonElement config, string? dataset, long seed, int? threads,
        RunInfo? existing)
    {
        Dir = dir; Kind = kind; this.config = config; this.dataset = dataset; this.seed = seed; this.threads = threads;
        Existing = existing;
        started = existing?.Started ?? DateTime.UtcNow;
    }

    /// <summary>Validates the config, decides refuse-or-resume and sets this session's torch threads.</summary>
    public static RunFolder Open<TConfig>(string dir, string kind, TConfig config, bool resume)
        where TConfig : IRunConfig
    {
        config.Validate();
        var existing = RunFiles.ReadInfo(dir);
        if (existing is not null)
        {
            string info = Path.Combine(dir, RunFiles.Info);
            if (!resume)
                throw new PagLabException($"{dir} already holds a run (status {Name(existing.Status)}); " +
                                          "pass `resume` to continue it or choose another `out`");
            if (existing.FormatVersion > CurrentFormat)
                throw new DataFormatException(info,
                    $"run format {existing.FormatVersion} is newer than this PagLab reads ({CurrentFormat})");
            if (existing.Kind != kind)
                throw new DataFormatException(info, $"holds a {existing.Kind} run, not a {kind} run");
            RefuseOtherConfig(info, existing.Config, config);
        }
        var json = JsonSerializer.SerializeToElement(config, JsonFiles.Options);
        return new RunFolder(dir, kind, json, config.Dataset, config.Seed, config.Threads, existing);
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

    /// <summary>Torch uses the run's thread count until the result is disposed. The count is process-wide: a run
    /// must not leave it changed for its caller or for work beside it in the same process.</summary>
    public IDisposable UseThreads() => new TorchThreads(threads);

    sealed class TorchThreads : IDisposable
    {
        readonly int before = torch.get_num_threads();
        readonly bool changed;

        public TorchThreads(int? count)
        {
            changed = count is int n && n != before;
            if (changed) torch.set_num_threads(count!.Value);
        }

        public void Dispose()
        {
            if (changed) torch.set_num_threads(before);
        }
    }

    /// <summary>Creates the folder and records the run as running (this session's threads included).</summary>
    public void Start() => Write(RunStatus.Running, null);

    public void Finish(RunStatus status, string? message) => Write(status, message);

    public List<T> ReadMetrics<T>() => RunFiles.ReadMetrics<T>(Dir);

    public void WriteMetrics<T>(IEnumerable<T> metrics) => RunFiles.WriteMetrics(Dir, metrics);

    void Write(RunStatus status, string? message)
    {
        OutputFolder.Create(Dir);
        RunFiles.WriteInfo(Dir, new RunInfo
        {
            FormatVersion = CurrentFormat, Kind = Kind, Status = status, Config = config, Dataset = dataset,
            Seed = seed,
            Threads = torch.get_num_threads(), Started = started,
            Finished = status == RunStatus.Running ? null : DateTime.UtcNow, Message = message,
        });
    }

    static string Name(RunStatus status) => Vocabulary.Name(status);
}
