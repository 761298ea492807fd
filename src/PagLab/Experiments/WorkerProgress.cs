using System.Diagnostics;
using System.Text.Json;
using PagLab.Common;
using PagLab.IO;

namespace PagLab.Experiments;

/// <summary>
/// A worker's latest progress as it writes it (progress/&lt;process id&gt;.json in the sweep folder): the stage
/// ("shared" artefacts of a dataset, or "job ID"), the task within it, done of total, and when the task began, so the
/// parent and `sweep status` show each stage with an ETA from the worker's own rate, not from the jobs finished so
/// far.
/// </summary>
public sealed record WorkerProgress
{
    public int ProcessId { get; init; }
    public required string Task { get; init; }
    public long Done { get; init; }
    public long Total { get; init; }
    public string Status { get; init; } = "";
    public DateTime TaskStarted { get; init; }
    public DateTime Updated { get; init; }

    /// <summary>Time left at the task's rate so far; null before any progress or once done.</summary>
    public TimeSpan? Eta => Done <= 0 || Done >= Total ? null
        : TimeSpan.FromSeconds((Updated - TaskStarted).TotalSeconds * (Total - Done) / Done);

    /// <summary>"shared shapes: denoiser epoch 1/2 40% (12/30) ETA 01:10".</summary>
    public string Describe() => $"{Task} {(Total > 0 ? 100.0 * Done / Total : 0):0}% ({Done}/{Total})"
        + (Eta is { } eta ? $" ETA {Format(eta)}" : "");

    public static string Format(TimeSpan t) => t.TotalHours >= 1 ? t.ToString(@"h\:mm\:ss") : t.ToString(@"mm\:ss");

    /// <summary>The progress files of live workers (a file whose process has ended is left out).</summary>
    public static List<WorkerProgress> ReadLive(SweepFolder sweep)
    {
        var live = new List<WorkerProgress>();
        if (!Directory.Exists(sweep.Progress)) return live;
        foreach (var path in Directory.GetFiles(sweep.Progress, "*.json").Order(StringComparer.Ordinal))
        {
            WorkerProgress? read;
            try { read = JsonSerializer.Deserialize<WorkerProgress>(File.ReadAllText(path), JsonFiles.Options); }
            catch (Exception e) when (e is JsonException or IOException) { continue; }   // being replaced
            if (read is not null && IsAlive(read.ProcessId)) live.Add(read);
        }
        return live;
    }

    static bool IsAlive(int pid)
    {
        try { using var p = Process.GetProcessById(pid); return !p.HasExited; }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }
}

/// <summary>Forwards progress and keeps this process's <see cref="WorkerProgress"/> file current (at most once a
/// second, and at every new task), written atomically.</summary>
public sealed class WorkerProgressFile(string path, IProgressSink inner) : IProgressSink
{
    readonly Stopwatch sinceWrite = Stopwatch.StartNew();
    string task = "";
    DateTime taskStarted;

    public void Update(string task, long done, long total, string status = "")
    {
        inner.Update(task, done, total, status);
        bool newTask = task != this.task;
        if (newTask) (this.task, taskStarted) = (task, DateTime.UtcNow);
        if (!newTask && sinceWrite.Elapsed < TimeSpan.FromSeconds(1) && done < total) return;
        sinceWrite.Restart();
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        JsonFiles.Write(path, new WorkerProgress
        {
            ProcessId = Environment.ProcessId, Task = task, Done = done, Total = total, Status = status,
            TaskStarted = taskStarted, Updated = DateTime.UtcNow,
        });
    }

    public void Line(string message) => inner.Line(message);
}

/// <summary>Progress of one stage: its tasks named "STAGE: task" (e.g. "shared shapes: denoiser epoch 1/2").</summary>
public sealed class StageProgress(IProgressSink inner, string stage) : IProgressSink
{
    public void Update(string task, long done, long total, string status = "") =>
        inner.Update($"{stage}: {task}", done, total, status);

    public void Line(string message) => inner.Line(message);
}
