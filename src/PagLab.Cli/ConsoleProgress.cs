using System.Diagnostics;
using PagLab.Common;

namespace PagLab.Cli;

/// <summary>
/// A one-line progress bar with ETA when stdout is a terminal; plain throttled lines when it is
/// redirected (logs, Slurm), so files do not fill with carriage returns.
/// </summary>
public sealed class ConsoleProgress : IProgressSink
{
    readonly bool interactive = !Console.IsOutputRedirected;
    readonly Stopwatch clock = Stopwatch.StartNew();
    readonly TimeSpan plainInterval;
    string currentTask = "";
    TimeSpan taskStart, lastPrint = TimeSpan.FromDays(-1);
    bool barShown;

    public ConsoleProgress(TimeSpan? plainInterval = null) =>
        this.plainInterval = plainInterval ?? TimeSpan.FromSeconds(10);

    public void Update(string task, long done, long total, string status = "") =>
        Update(task, done, total, status, null);

    public void Update(string task, long done, long total, string status, TimeSpan? knownEta)
    {
        var now = clock.Elapsed;
        if (task != currentTask) { currentTask = task; taskStart = now; lastPrint = TimeSpan.FromDays(-1); }
        double fraction = total > 0 ? Math.Clamp((double)done / total, 0, 1) : 0;
        var elapsed = now - taskStart;
        string eta = knownEta is { } given && done < total ? Format(given)
            : fraction > 0 && fraction < 1
                ? Format(TimeSpan.FromSeconds(elapsed.TotalSeconds * (1 - fraction) / fraction)) : "--:--";
        if (interactive)
        {
            if (now - lastPrint < TimeSpan.FromMilliseconds(100) && done < total) return;
            lastPrint = now;
            const int width = 24;
            int filled = (int)Math.Round(fraction * width);
            string bar = new string('#', filled) + new string('.', width - filled);
            string line = $"{task} [{bar}] {fraction * 100,3:0}% {done}/{total} {status} ETA {eta}";
            int max = Math.Max(20, SafeWidth() - 1);
            if (line.Length > max) line = line[..max];
            Console.Write("\r" + line.PadRight(max));
            barShown = true;
        }
        else if (now - lastPrint >= plainInterval || done >= total)
        {
            lastPrint = now;
            Console.WriteLine($"{task}: {done}/{total} ({fraction * 100:0}%) {status} ETA {eta}".TrimEnd());
        }
    }

    public void Line(string message)
    {
        if (interactive && barShown)
        {
            Console.Write("\r" + new string(' ', Math.Max(20, SafeWidth() - 1)) + "\r");
            barShown = false;
        }
        Console.WriteLine(message);
    }

    static int SafeWidth()
    {
        try { return Console.WindowWidth > 0 ? Console.WindowWidth : 100; } catch (IOException) { return 100; }
    }

    static string Format(TimeSpan t) => t.TotalHours >= 1 ? t.ToString(@"h\:mm\:ss") : t.ToString(@"mm\:ss");
}
