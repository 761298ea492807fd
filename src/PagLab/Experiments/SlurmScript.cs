using System.Text;
using System.Text.RegularExpressions;
using PagLab.Common;
using PagLab.IO;

namespace PagLab.Experiments;

/// <summary>
/// A Slurm job-array script for a sweep: task i runs `paglab sweep run-one SPEC --out DIR --index i`.
/// --requeue lets Slurm restart preempted tasks; a restarted task resumes from its checkpoint and a
/// finished one returns at once, so requeueing is always safe.
/// No value reaches the script unchecked: names, partition and time must match a safe character set,
/// paths in #SBATCH lines (which sbatch splits on its own rules) must be plain, and every value in a
/// shell command line goes through <see cref="Quote"/>.
/// </summary>
public static partial class SlurmScript
{
    /// <summary>
    /// `paglab sweep slurm`: writes the script (default sweep.sbatch in the sweep folder), spec.json and the
    /// log folder Slurm opens before the script runs; every value is checked before anything is written.
    /// Returns the script's path.
    /// </summary>
    public static string Write(SweepSpec spec, string specPath, SweepFolder sweep, string? scriptPath, int cpusPerTask,
        string? partition, string? time)
    {
        string path = scriptPath ?? sweep.SlurmScript;
        string text = Build(spec, specPath, sweep, CurrentCommand(), cpusPerTask, partition, time);
        sweep.Prepare(spec);
        Directory.CreateDirectory(sweep.SlurmLogs);
        AtomicFile.WriteAllText(path, text);
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        return path;
    }

    public static string Build(SweepSpec spec, string specPath, SweepFolder sweep, string paglabCommand,
        int cpusPerTask = 2, string? partition = null, string? time = null)
    {
        int n = spec.Jobs().Count;
        string logs = Path.GetFullPath(sweep.SlurmLogs), outDir = sweep.Root;
        Require.That(SweepSpec.IsSafeName(spec.Name),
            $"sweep name '{Printable(spec.Name)}' may hold only letters, digits, '.', '_' and '-'");
        Require.InRange(cpusPerTask, 1, 4096, "cpusPerTask");
        Require.That(partition is null || PartitionPattern().IsMatch(partition),
            $"partition '{Printable(partition)}' may hold only letters, digits, '.', '_', '-' and ','");
        Require.That(time is null || TimePattern().IsMatch(time),
            $"time '{Printable(time)}' must look like [D-]HH:MM:SS or minutes");
        Require.That(DirectivePathPattern().IsMatch(logs), $"{outDir}: a Slurm #SBATCH --output path may hold only "
            + "letters, digits and . _ - + / @ = , (no spaces, quotes or %); use another `out`");
        // From here on: the script's text, Slurm directives and the CLI command line each array task runs.
        var sb = new StringBuilder();
        sb.AppendLine("#!/bin/bash");
        sb.AppendLine($"#SBATCH --job-name=paglab-{spec.Name}");
        sb.AppendLine($"#SBATCH --array=0-{n - 1}");
        sb.AppendLine("#SBATCH --requeue");
        sb.AppendLine($"#SBATCH --cpus-per-task={cpusPerTask}");
        sb.AppendLine($"#SBATCH --output={logs}/%A_%a.out");
        if (partition is not null) sb.AppendLine($"#SBATCH --partition={partition}");
        if (time is not null) sb.AppendLine($"#SBATCH --time={time}");
        sb.AppendLine("set -euo pipefail");
        sb.AppendLine($"mkdir -p {Quote(logs)}");
        sb.AppendLine("# On preemption Slurm sends SIGTERM, then requeues; the task resumes from its last checkpoint.");
        sb.AppendLine($"exec {paglabCommand} sweep run-one {Quote(Path.GetFullPath(specPath))} --out "
            + $"{Quote(Path.GetFullPath(outDir))} --index \"$SLURM_ARRAY_TASK_ID\" --threads "
            + $"\"${{SLURM_CPUS_PER_TASK:-{cpusPerTask}}}\"");
        return sb.ToString();
    }

    /// <summary>
    /// One word for a POSIX shell, whatever it holds: single quotes, with each ' written as '\''.
    /// Inside single quotes the shell expands nothing ($, `, \, newlines stay literal). NUL cannot be passed.
    /// </summary>
    public static string Quote(string s)
    {
        Require.That(!s.Contains('\0'), "a command-line value holds a NUL character");
        return "'" + s.Replace("'", "'\\''") + "'";
    }

    /// <summary>How to start this very paglab again: the program and the arguments before the command's own.</summary>
    public static (string Program, string[] Prefix) CurrentProgram()
    {
        string process = Environment.ProcessPath ?? "paglab";
        string? entry = System.Reflection.Assembly.GetEntryAssembly()?.Location;
        return Path.GetFileNameWithoutExtension(process) == "dotnet" && entry is not null ? (process,
            new[] { entry }) : (process, Array.Empty<string>());
    }

    /// <summary><see cref="CurrentProgram"/> as shell words.</summary>
    public static string CurrentCommand()
    {
        var (program, prefix) = CurrentProgram();
        return string.Join(' ', prefix.Prepend(program).Select(Quote));
    }

    /// <summary>A value shown in an error message on one line (control characters escaped).</summary>
    public static string Printable(string? s) => s is null ? "" : Regex.Replace(s, @"\p{Cc}",
        m => $"\\x{(int)m.Value[0]:x2}");

    [GeneratedRegex(@"^[A-Za-z0-9._,-]{1,128}$")] private static partial Regex PartitionPattern();
    [GeneratedRegex(@"^(\d{1,4}-)?\d{1,6}(:\d{1,2}){0,2}$")] private static partial Regex TimePattern();
    [GeneratedRegex(@"^[A-Za-z0-9._/+@=,-]+$")] private static partial Regex DirectivePathPattern();
}
