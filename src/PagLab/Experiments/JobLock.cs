using System.Diagnostics;
using System.Text.Json;
using PagLab.IO;

namespace PagLab.Experiments;

/// <summary>
/// An exclusive lock on one folder that survives crashes: a file created with CreateNew holding the
/// owner's host, boot id, pid and process start time. A lock whose owner is dead (same host and boot,
/// and that pid is gone or is now another process) is stale and is taken over: it is first renamed
/// away (only one contender can win that rename), then created anew. Locks of other hosts are never
/// taken over (a cluster's nodes share the folder; their processes cannot be seen from here).
/// </summary>
public sealed class JobLock : IDisposable
{
    public sealed record Owner(string Host, string BootId, int Pid, long StartTicks, DateTime Since);

    readonly string path;
    JobLock(string path) => this.path = path;

    public static Owner Me() => new(Environment.MachineName, BootId(), Environment.ProcessId, StartTicks(Environment.ProcessId), DateTime.UtcNow);

    /// <summary>The lock, or null when a live process holds it.</summary>
    public static JobLock? TryAcquire(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        for (int attempt = 0; attempt < 5; attempt++)
        {
            try
            {
                using (var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None))
                {
                    JsonSerializer.Serialize(stream, Me(), JsonFiles.Options);
                    stream.Flush(flushToDisk: true);
                }
                return new JobLock(path);
            }
            catch (IOException) when (File.Exists(path))
            {
                var owner = ReadOwner(path);
                if (owner is not null && IsAlive(owner)) return null;
                if (owner is null && File.Exists(path) && DateTime.UtcNow - File.GetLastWriteTimeUtc(path) < TimeSpan.FromSeconds(10))
                {
                    Thread.Sleep(50); // being written right now
                    continue;
                }
                // Stale: move it aside; if another process moved it first, just try again.
                try { File.Move(path, $"{path}.stale-{Guid.NewGuid():N}"); } catch (IOException) { } catch (UnauthorizedAccessException) { }
                foreach (var old in Directory.GetFiles(Path.GetDirectoryName(Path.GetFullPath(path))!, Path.GetFileName(path) + ".stale-*"))
                    try { File.Delete(old); } catch (IOException) { }
            }
        }
        return null;
    }

    public static Owner? ReadOwner(string path)
    {
        try { return JsonSerializer.Deserialize<Owner>(File.ReadAllText(path), JsonFiles.Options); }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>Whether the owner still runs (always true for another host, which we cannot see).</summary>
    public static bool IsAlive(Owner owner)
    {
        if (owner.Host != Environment.MachineName || owner.BootId != BootId()) return owner.Host != Environment.MachineName;
        if (owner.Pid == Environment.ProcessId) return true;
        try
        {
            using var process = Process.GetProcessById(owner.Pid);
            return !process.HasExited && StartTicks(owner.Pid) == owner.StartTicks;
        }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    static string BootId()
    {
        try { return File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim(); }
        catch (IOException) { return "unknown"; }
        catch (UnauthorizedAccessException) { return "unknown"; }
    }

    /// <summary>The process start time in clock ticks since boot (field 22 of /proc/PID/stat); 0 where unknown.</summary>
    static long StartTicks(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return long.Parse(fields[19]);
        }
        catch (Exception e) when (e is IOException or FormatException or IndexOutOfRangeException or UnauthorizedAccessException) { return 0; }
    }

    public void Dispose()
    {
        try { if (ReadOwner(path) is { } o && o.Pid == Environment.ProcessId && o.Host == Environment.MachineName) File.Delete(path); }
        catch (IOException) { }
    }
}
