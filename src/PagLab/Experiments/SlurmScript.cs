using System.Text;

namespace PagLab.Experiments;

/// <summary>
/// A Slurm job-array script for a sweep: task i runs `paglab sweep run-one SPEC --out DIR --index i`.
/// --requeue lets Slurm restart preempted tasks; a restarted task resumes from its checkpoint and a
/// finished one returns at once, so requeueing is always safe.
/// </summary>
public static class SlurmScript
{
    public static string Build(SweepSpec spec, string specPath, string outDir, string paglabCommand, int cpusPerTask = 2, string? partition = null, string? time = null)
    {
        int n = spec.Jobs().Count;
        string logs = Path.Combine(Path.GetFullPath(outDir), "slurm");
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
        sb.AppendLine($"exec {paglabCommand} sweep run-one {Quote(Path.GetFullPath(specPath))} --out {Quote(Path.GetFullPath(outDir))} --index \"$SLURM_ARRAY_TASK_ID\" --threads \"${{SLURM_CPUS_PER_TASK:-{cpusPerTask}}}\"");
        return sb.ToString();
    }

    static string Quote(string s) => "'" + s.Replace("'", "'\\''") + "'";

    /// <summary>How to start this very paglab again: the apphost, or `dotnet paglab.dll`.</summary>
    public static string CurrentCommand()
    {
        string process = Environment.ProcessPath ?? "paglab";
        string? entry = System.Reflection.Assembly.GetEntryAssembly()?.Location;
        return Path.GetFileNameWithoutExtension(process) == "dotnet" && entry is not null ? $"{Quote(process)} {Quote(entry)}" : Quote(process);
    }
}
