using System.Diagnostics;
using System.Globalization;
using PagLab.Common;

namespace PagLab.Experiments;

/// <summary>
/// Runs a sweep on this machine: in this process with one worker, else N child processes each running
/// `sweep run --workers 1` (job locks keep them off each other's jobs), each logging to logs/worker&lt;n&gt;.log.
/// </summary>
public static class LocalWorkers
{
    /// <summary>Runs every job not yet done; returns when all workers have finished.</summary>
    /// <param name="specPath">The spec file the child processes read.</param>
    /// <param name="threads">Torch threads per worker.</param>
    /// <param name="progress">Receives the sweep's progress (every job's with one worker).</param>
    /// <param name="tensorboard">TensorBoard scalars of each job's training in DIR/&lt;job id&gt;.</param>
    public static void Run(SweepSpec spec, string specPath, SweepFolder sweep, int workers, int threads,
        IProgressSink progress, string? tensorboard = null)
    {
        Require.InRange(workers, 1, 64, nameof(workers));
        spec = sweep.Prepare(spec);
        if (workers == 1)
        {
            TorchSharp.torch.set_num_threads(threads);
            string file = sweep.ProgressFile(Environment.ProcessId);
            try
            {
                using var session = new SweepSession(spec, sweep, tensorboard);
                SweepRunner.RunAll(session, new WorkerProgressFile(file, progress));
            }
            finally { File.Delete(file); }
        }
        else RunProcesses(spec, specPath, sweep, workers, threads, progress, tensorboard);
    }

    /// <summary>
    /// Each child is started from an argument list (no shell), so no path or name is ever read as a command.
    /// </summary>
    static void RunProcesses(SweepSpec spec, string specPath, SweepFolder sweep, int n, int threads,
        IProgressSink progress, string? tensorboard)
    {
        string logs = Directory.CreateDirectory(sweep.Logs).FullName;
        var (program, prefix) = SlurmScript.CurrentProgram();
        var children = new List<(Process Process, StreamWriter Log)>();
        for (int w = 0; w < n; w++)
        {
            var info = new ProcessStartInfo(program)
                { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var arg in prefix.Concat(WorkerArguments(specPath, sweep, threads, tensorboard)))
                info.ArgumentList.Add(arg);
            var log = new StreamWriter(sweep.WorkerLog(w)) { AutoFlush = true };
            var child = Process.Start(info)!;
            DataReceivedEventHandler write = (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
            child.OutputDataReceived += write;
            child.ErrorDataReceived += write;
            child.BeginOutputReadLine();
            child.BeginErrorReadLine();
            children.Add((child, log));
            Thread.Sleep(300); // stagger, so the first worker claims the shared artefacts
        }
        var jobs = spec.Jobs();
        var done = new HashSet<int>();
        var clock = Stopwatch.StartNew();
        var eta = new CountdownEstimate();
        while (children.Any(c => !c.Process.HasExited))
        {
            // A result file, once there, stays: only the jobs not yet done are looked at again.
            done.UnionWith(jobs.Where(j => !done.Contains(j.Index) && SweepRunner.IsDone(sweep, j))
                .Select(j => j.Index));
            var states = jobs.Where(j => !done.Contains(j.Index)).Select(j => SweepRunner.State(sweep, j)).ToList();
            var workers = WorkerProgress.ReadLive(sweep);
            // The shared artefacts are a stage of their own: shown with the building worker's bar and ETA (the
            // jobs' ETA would otherwise count their minutes as jobs' time).
            if (done.Count == 0 && workers.FirstOrDefault(w => w.Task.StartsWith("shared", StringComparison.Ordinal))
                is { } building)
                progress.Update(building.Task, building.Done, building.Total, "");
            else
                progress.Update($"sweep {spec.Name} jobs", done.Count, jobs.Count,
                    $"running {states.Count(s => s == JobState.Running)}, "
                    + $"failed {states.Count(s => s == JobState.Failed)}, {clock.Elapsed:hh\\:mm\\:ss}",
                    eta.Next(done.Count, () => JobsEta(sweep, jobs.Count, workers.Count)));
            Thread.Sleep(1000);
        }
        foreach (var (child, log) in children)
        {
            child.WaitForExit(); // drains the output still buffered
            using (log) lock (log) log.Flush();
            child.Dispose();
        }
        progress.Line($"workers finished (logs in {logs})");
    }

    // The CLI's command line each worker runs (its flags, not the library's property names).
    static IEnumerable<string> WorkerArguments(string specPath, SweepFolder sweep, int threads, string? tensorboard)
    {
        var args = new List<string>
        {
            "sweep", "run", Path.GetFullPath(specPath), "--out", Path.GetFullPath(sweep.Root),
            "--workers", "1", "--threads", threads.ToString(CultureInfo.InvariantCulture),
        };
        if (tensorboard is not null) args.AddRange(new[] { "--tensorboard", Path.GetFullPath(tensorboard) });
        return args;
    }

    /// <summary>Torch threads per worker when the user gave none: the cores shared out.</summary>
    public static int DefaultThreads(int workers) => Math.Max(1, Environment.ProcessorCount / workers);

    /// <summary>
    /// One line per stage in progress: each live worker's task with its own ETA ("worker 1234: shared shapes:
    /// denoiser epoch 1/2 40% (12/30) ETA 01:10"), then the jobs with an ETA from the finished jobs' own time
    /// (their stages' seconds, spread over the live workers), so time spent on shared artefacts is not counted.
    /// </summary>
    public static List<string> Stages(SweepSpec spec, SweepFolder sweep)
    {
        var workers = WorkerProgress.ReadLive(sweep);
        var lines = workers.Select(w => $"worker {w.ProcessId}: {w.Describe()}").ToList();
        int total = spec.Jobs().Count, finished = sweep.FinishedJobs().Count();
        var (eta, perJob) = JobsEstimate(sweep, total, workers.Count);
        int running = Math.Max(1, workers.Count);
        lines.Add($"jobs: {finished}/{total} done" + (eta is { } e
            ? $", ETA {WorkerProgress.Format(e)} ({perJob:F0} s per job over {running} worker(s))" : ""));
        return lines;
    }

    /// <summary>The jobs' ETA from the finished jobs' own time (their stages but the shared artefacts), spread over
    /// the live workers; null before a job has finished or after all have.</summary>
    static TimeSpan? JobsEta(SweepFolder sweep, int total, int workers) => JobsEstimate(sweep, total, workers).Eta;

    static (TimeSpan? Eta, double PerJob) JobsEstimate(SweepFolder sweep, int total, int workers)
    {
        var finished = sweep.FinishedJobs().Select(j => JobResult.Read(j.Result)).ToList();
        var perJob = finished.Select(r => r.StageSeconds.Where(s => s.Key != JobStage.Shared).Sum(s => s.Value))
            .Where(s => s > 0).ToList();
        int left = total - finished.Count;
        if (left <= 0 || perJob.Count == 0) return (null, 0);
        return (TimeSpan.FromSeconds(perJob.Average() * left / Math.Max(1, workers)), perJob.Average());
    }

    /// <summary>"sweep NAME: 3 completed, 1 failed".</summary>
    public static string Summary(SweepSpec spec, SweepFolder sweep) =>
        $"sweep {spec.Name}: " + string.Join(", ", SweepRunner.Status(spec, sweep).GroupBy(s => s.State)
            .Select(g => $"{g.Count()} {Vocabulary.Name(g.Key)}"));
}

/// <summary>An estimate made when a count changes (reading the finished jobs' results once per job, not once a
/// second), then counted down by the time since.</summary>
sealed class CountdownEstimate
{
    readonly Stopwatch since = new();
    int madeAt = -1;
    TimeSpan? estimate;

    public TimeSpan? Next(int count, Func<TimeSpan?> make)
    {
        if (count != madeAt) { estimate = make(); madeAt = count; since.Restart(); }
        return estimate is { } e ? TimeSpan.FromTicks(Math.Max(0, (e - since.Elapsed).Ticks)) : null;
    }
}
