using System.Diagnostics;
using System.Text.Json;
using PagLab.IO;

namespace PagLab.Experiments;

/// <summary>
/// An exclusive lock on one folder that survives crashes: a file holding the owner's host, boot id, pid
/// and process start time, created atomically with its content (written aside, then hard-linked into
/// place, which fails when the name exists). A lock whose owner is dead (same host and boot, and that
/// pid is gone or is now another process) is stale and is taken over, one contender at a time: the
/// takeover holds a kernel lock (flock) on a guard file beside the lock, re-reads the owner under it,
/// and only then replaces the file, so any number of racers yield one winner. The kernel drops the guard
/// when its holder dies. Locks of other hosts are never taken over (a cluster's nodes share the folder;
/// their processes cannot be seen from here).
/// </summary>
public sealed class JobLock : IDisposable
{
    public sealed record Owner(string Host, string BootId, int Pid, long StartTicks, DateTime Since);

    readonly string path;
    JobLock(string path) => this.path = path;

    public static Owner Me() => new(Environment.MachineName, BootId(), Environment.ProcessId,
        StartTicks(Environment.ProcessId), DateTime.UtcNow);

    /// <summary>The lock, or null when a live process holds it.</summary>
    public static JobLock? TryAcquire(string path)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        // Every create, takeover and delete happens under the guard, so no claimant's create can fall between
        // another's reading of a dead owner and its delete (a lock-free first try raced with takeovers).
        using var guard = Guard(full);
        if (TryCreate(full)) return new JobLock(full);
        var owner = ReadOwner(full);
        if (owner is not null && IsAlive(owner)) return null;
        // An unreadable lock younger than a few seconds may come from an older PagLab still writing it.
        if (owner is null && File.Exists(full) && DateTime.UtcNow
            - File.GetLastWriteTimeUtc(full) < TimeSpan.FromSeconds(10)) return null;
        try { File.Delete(full); } catch (IOException) { return null; }
        return TryCreate(full) ? new JobLock(full) : null;
    }

    /// <summary>Creates the lock file with this process as owner, unless the name exists (atomic: link(2) fails
    /// then).</summary>
    static bool TryCreate(string full)
    {
        string temp = $"{full}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                // No fsync: after a reboot the boot id differs, so a lock lost to a crash is stale anyway.
                JsonSerializer.Serialize(stream, Me(), JsonFiles.Options);
            }
            try
            {
                File.Move(temp, full, overwrite: false);
                return true;
            }
            // The temp file was just written beside the lock, so the folder is writable: the move failed because
            // the name exists. (Asking File.Exists here would race with a takeover that has just deleted it.)
            catch (IOException) { return false; }
        }
        finally { File.Delete(temp); }
    }

    /// <summary>The takeover guard: an flock on LOCK.guard (FileShare.None), waited for briefly; released on dispose or
    /// death.</summary>
    static FileStream Guard(string full)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try { return new FileStream(full + ".guard", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
            catch (IOException) when (clock.Elapsed < TimeSpan.FromSeconds(30)) { Thread.Sleep(2); }
            catch (IOException e) { throw new Common.PagLabException($"{full}.guard: held for 30 s by another "
                + $"process ({e.Message})"); }
        }
    }

    public static Owner? ReadOwner(string path)
    {
        try { return JsonSerializer.Deserialize<Owner>(UserFile.ReadText(path), JsonFiles.Options); }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException
            or Common.PagLabException) { return null; }
    }

    /// <summary>Whether the owner still runs (always true for another host, which we cannot see).</summary>
    public static bool IsAlive(Owner owner)
    {
        if (owner.Host != Environment.MachineName
            || owner.BootId != BootId()) return owner.Host != Environment.MachineName;
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

    /// <summary>The process start time in clock ticks since boot (field 22 of /proc/PID/stat); 0 where
    /// unknown.</summary>
    static long StartTicks(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return long.Parse(fields[19]);
        }
        catch (Exception e) when (e is IOException or FormatException or IndexOutOfRangeException or
            UnauthorizedAccessException) { return 0; }
    }

    public void Dispose()
    {
        try { if (ReadOwner(path) is { } o && o.Pid == Environment.ProcessId
            && o.Host == Environment.MachineName) File.Delete(path); }
        catch (IOException) { }
    }
}
