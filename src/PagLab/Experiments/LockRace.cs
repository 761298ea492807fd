using System.Diagnostics;

namespace PagLab.Experiments;

/// <summary>
/// One racer of the lock tests (`paglab sweep try-lock`, hidden): takes job locks at fixed wall-clock times and
/// keeps the ones it wins until it exits. The tests start many racers, wait for each to say "ready", then write the
/// start time (Unix ms) into the go file, so all race for one stale lock per round at the same instant
/// (docs/reliability.md).
/// </summary>
public static class LockRace
{
    /// <param name="say">Receives "ready", then one line per round ("2 acquired", "3 refused late"); each line must
    /// reach the test at once (flushed).</param>
    /// <param name="doneFile">Hold the locks won until this file exists (at most 60 s); null: until a second after
    /// the last round.</param>
    public static void Run(IReadOnlyList<string> locks, string goFile, int intervalMs, string? doneFile,
        Action<string> say)
    {
        var held = new List<JobLock>();
        WarmUp();
        say("ready");
        long at;
        while (!File.Exists(goFile) || !long.TryParse(File.ReadAllText(goFile).Trim(), out at)) Thread.Sleep(1);
        for (int round = 0; round < locks.Count; round++)
        {
            long due = at + (long)round * intervalMs;
            bool late = Now() > due;
            while (Now() < due) Thread.Sleep(1);
            var won = JobLock.TryAcquire(locks[round]);
            if (won is not null) held.Add(won);
            say($"{round} {(won is not null ? "acquired" : "refused")}{(late ? " late" : "")}");
        }
        // Hold the locks won while slower racers may still try (then they stay on disk, their owner dead).
        if (doneFile is not null)
        {
            var clock = Stopwatch.StartNew();
            while (!File.Exists(doneFile) && clock.Elapsed < TimeSpan.FromSeconds(60)) Thread.Sleep(5);
        }
        else
        {
            long end = at + (long)locks.Count * intervalMs + 1000;
            Thread.Sleep((int)Math.Clamp(end - Now(), 0, 60_000));
        }
    }

    static long Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    /// <summary>JIT, JSON and /proc reads once, so that the first round is not slower than the others.</summary>
    static void WarmUp()
    {
        string warm = Path.Combine(Path.GetTempPath(), $"paglab-warm-{Environment.ProcessId}.lock");
        using (JobLock.TryAcquire(warm)) JobLock.IsAlive(JobLock.Me() with { Pid = int.MaxValue });
        File.Delete(warm + ".guard");
    }
}
