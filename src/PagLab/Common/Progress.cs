namespace PagLab.Common;

/// <summary>Where long work reports progress. The library never writes to the console directly.</summary>
public interface IProgressSink
{
    /// <summary>done of total units finished; status is a short free text (loss, accuracy, ...).</summary>
    void Update(string task, long done, long total, string status = "");
    /// <summary>The same with an ETA the caller knows better than the sink's own rate (a sweep's jobs: from the
    /// finished jobs' own times); sinks that show no ETA need not implement it.</summary>
    void Update(string task, long done, long total, string status, TimeSpan? eta) => Update(task, done, total, status);
    /// <summary>A line that should stay on screen (epoch summary, warnings).</summary>
    void Line(string message);
}

public sealed class NullProgress : IProgressSink
{
    public static readonly NullProgress Instance = new();
    public void Update(string task, long done, long total, string status = "") { }
    public void Line(string message) { }
}
