using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using PagLab.Common;
using PagLab.IO;

namespace PagLab.Probe;

/// <summary>
/// Runs imported code first in a child process (`paglab internal probe REQUEST`), so that a forward that never
/// returns is killed after a time limit and a libtorch abort (SIGABRT from a c10::Error thrown where TorchSharp
/// does not catch it) ends the child, not the command: each becomes one line naming the file and the operation.
/// Only code that passed the probe runs in the PagLab process, and every later call is guarded
/// (<see cref="IO.Torch.ScriptCall"/>, <see cref="GuardedAutograd"/>).
/// </summary>
public static class ProbeProcess
{
    public const string StepMarker = "PAGLAB-PROBE-STEP ", ReportMarker = "PAGLAB-PROBE-REPORT ";
    public const string TimeoutVariable = "PAGLAB_PROBE_TIMEOUT";
    /// <summary>The CLI's name for the child's subcommand: `paglab internal probe`.</summary>
    public static readonly string[] Command = { "internal", "probe" };

    /// <summary>60 s, or $PAGLAB_PROBE_TIMEOUT seconds, for each step of the probe (start-up and loading, each
    /// forward or backward).</summary>
    public static TimeSpan DefaultTimeout
    {
        get
        {
            var text = Environment.GetEnvironmentVariable(TimeoutVariable);
            if (string.IsNullOrWhiteSpace(text)) return TimeSpan.FromSeconds(60);
            Require.That(double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double s)
                && s > 0 && s <= 86_400, $"{TimeoutVariable} must be seconds in (0, 86400], got '{text}'");
            return TimeSpan.FromSeconds(s);
        }
    }

    /// <summary>Runs the probe; returns its report when the code passed, else throws one line. The limit bounds
    /// each step (loading, each forward or backward), so a slow machine or a large model is not cut short while it
    /// makes progress.</summary>
    public static ProbeReport Run(ProbeRequest request, TimeSpan? timeout = null)
    {
        var limit = timeout ?? DefaultTimeout;
        Require.That(limit > TimeSpan.Zero, "the probe's time limit must be positive");
        var info = StartInfo(JsonSerializer.Serialize(request, JsonFiles.Lines));
        using var process = Process.Start(info) ?? throw new PagLabException("cannot start the probe process");
        var stdout = new List<string>();
        var sinceStep = Stopwatch.StartNew();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (stdout) stdout.Add(e.Data);
            if (e.Data.StartsWith(StepMarker, StringComparison.Ordinal)) sinceStep.Restart();
        };
        process.BeginOutputReadLine();
        var stderr = process.StandardError.ReadToEndAsync();
        while (!process.WaitForExit(200))
        {
            if (sinceStep.Elapsed <= limit) continue;
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            throw new PagLabException($"{request.Archive}: the model's forward did not return within "
                + $"{limit.TotalSeconds:0.#} s ({LastStep(stdout) ?? "loading"}; the probe was stopped; "
                + $"{TimeoutVariable} sets the limit in seconds)");
        }
        process.WaitForExit();   // drains the redirected output
        string errors = stderr.Result;
        var reportLine = stdout.LastOrDefault(l => l.StartsWith(ReportMarker, StringComparison.Ordinal));
        if (reportLine is null)
            throw new PagLabException($"{request.Archive}: libtorch crashed ({Exit(process.ExitCode)}) during "
                + $"{LastStep(stdout) ?? "loading"}: {CrashLine(errors)}");
        var report = JsonSerializer.Deserialize<ProbeReport>(reportLine[ReportMarker.Length..], JsonFiles.Lines)
                     ?? throw new PagLabException($"{request.Archive}: the probe gave no report");
        if (report.Problem is not null) throw new DataFormatException(report.File ?? request.Archive, report.Problem);
        return report;
    }

    /// <summary>The same PagLab CLI as this process: its apphost, or paglab.dll through the dotnet host.</summary>
    static ProcessStartInfo StartInfo(string requestJson)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "paglab.dll");
        string? self = Environment.ProcessPath;
        bool apphost = self is not null && Path.GetFileNameWithoutExtension(self) == "paglab";
        if (!apphost && !File.Exists(dll))
            throw new PagLabException($"cannot probe imported code: {dll} not found (PagLab runs a first forward of "
                + "imported code in a child paglab process)");
        string host = apphost ? self! : self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet"
            ? self : Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h ? h : "dotnet";
        var info = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true,
            UseShellExecute = false };
        if (!apphost) info.ArgumentList.Add(dll);
        foreach (var word in Command) info.ArgumentList.Add(word);
        info.ArgumentList.Add(requestJson);
        return info;
    }

    static string? LastStep(List<string> stdout)
    {
        lock (stdout)
            return stdout.LastOrDefault(l => l.StartsWith(StepMarker, StringComparison.Ordinal))?[StepMarker.Length..];
    }

    static string Exit(int code) => code switch
    {
        134 => "SIGABRT",
        137 => "SIGKILL, out of memory?",
        139 => "SIGSEGV",
        _ => $"exit code {code}",
    };

    /// <summary>The interpreter's message: the line after "what():" of a C++ abort, else the first line.</summary>
    static string CrashLine(string stderr)
    {
        var lines = stderr.Split('\n', StringSplitOptions.TrimEntries);
        int what = Array.FindIndex(lines, l => l.StartsWith("what():", StringComparison.Ordinal));
        if (what >= 0) lines[what] = lines[what]["what():".Length..].Trim();
        // the message may start on the line after what() (a TorchScript ErrorReport does)
        return lines.Skip(Math.Max(what, 0)).FirstOrDefault(l => l.Length > 0) ?? "no message";
    }
}
