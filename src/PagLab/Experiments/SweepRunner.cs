using PagLab.Common;
using PagLab.Objectives;
using PagLab.Training;

namespace PagLab.Experiments;

/// <summary>The one status vocabulary of a sweep job (result.json stores completed or diverged).</summary>
public enum JobState
{
    [Name("pending", "not started")] Pending,
    [Name("partial", "started and stopped before it finished (resumes)")] Partial,
    [Name("running", "held by a live process")] Running,
    [Name("completed", "trained and measured; result.json written")] Completed,
    [Name("diverged", "training stopped at a non-finite loss; result.json written, nothing measured")] Diverged,
    [Name("failed", "stopped by an error (jobs/<id>/error.txt)")] Failed,
}

/// <summary>
/// Runs sweep jobs, each in its own folder jobs/&lt;id&gt;/: train (resumable), then measure manifold
/// robustness, perceptual alignment and signal/distractor robustness, then result.json. A job with a
/// result.json is never rerun; a partial one resumes; a job is locked (JobLock) while it runs, so two
/// workers or processes never run one job twice. Shared artefacts (autoencoder + tangent file,
/// denoiser) are built once per dataset under their own locks in shared/&lt;dataset&gt;/. Which job runs when is
/// <see cref="SweepScheduler"/>'s; a job's stages are <see cref="JobPipeline"/>'s.
/// </summary>
public static class SweepRunner
{
    public static JobState State(SweepFolder sweep, SweepJob job)
    {
        var folder = sweep.Job(job);
        if (File.Exists(folder.Result))
            return JobResult.Read(folder.Result).Status;
        if (JobLock.ReadOwner(folder.Lock) is { } owner && JobLock.IsAlive(owner)) return JobState.Running;
        if (File.Exists(folder.Error)) return JobState.Failed;
        return Directory.Exists(folder.Root) ? JobState.Partial : JobState.Pending;
    }

    /// <summary>Done (completed or diverged) without reading result.json: cheap enough to ask often.</summary>
    public static bool IsDone(SweepFolder sweep, SweepJob job) => File.Exists(sweep.Job(job).Result);

    /// <summary>
    /// Runs every job not yet done (<see cref="SweepScheduler.RunAll"/>) in one session: the shared artefacts of a
    /// dataset and LPIPS are loaded once for all its jobs. Returns the number of jobs not done
    /// (see <see cref="Unfinished"/>).
    /// </summary>
    public static int RunAll(SweepSpec spec, SweepFolder sweep, IProgressSink progress, bool retryFailed = true,
        string? tensorboard = null)
    {
        using var session = new SweepSession(sweep.Prepare(spec), sweep, tensorboard);
        return RunAll(session, progress, retryFailed);
    }

    /// <summary><see cref="RunAll(SweepSpec, SweepFolder, IProgressSink, bool, string?)"/> in a session whose spec
    /// is prepared already (the spec is prepared once per worker process).</summary>
    public static int RunAll(SweepSession session, IProgressSink progress, bool retryFailed = true)
    {
        new SweepScheduler(session, progress).RunAll(retryFailed);
        return Unfinished(session.Spec, session.Folder).Count;
    }

    /// <summary>
    /// The order a worker takes jobs in: dataset by dataset (each dataset's artefacts are loaded once), and within
    /// one, the costliest training first, so that parallel workers end together instead of one finishing a long
    /// PGD job alone (longest processing time first). Results do not depend on the order.
    /// </summary>
    public static IReadOnlyList<SweepJob> RunOrder(IReadOnlyList<SweepJob> jobs) =>
        jobs.GroupBy(j => j.Dataset).SelectMany(g => g.OrderByDescending(TrainingCost)).ToList();

    /// <summary>A training job's cost in standard steps, roughly: a PGD step attacks with `steps` gradients,
    /// the penalties back-propagate twice.</summary>
    static double TrainingCost(SweepJob job) => job.Imported is not null ? 0 : job.Objective.Kind switch
    {
        ObjectiveKind.Pgd => 1 + job.Objective.Pgd.Steps,
        ObjectiveKind.Gnorm or ObjectiveKind.Smooth => 3,
        _ => 1,
    };

    /// <summary>The jobs with neither a result nor a divergence, with their states.</summary>
    public static IReadOnlyList<(SweepJob Job, JobState State)> Unfinished(SweepSpec spec, SweepFolder sweep) =>
        Status(spec, sweep).Where(s => s.State is not (JobState.Completed or JobState.Diverged)).ToList();

    /// <summary>One line naming the jobs not done, e.g. "2 jobs not done: 001-... (failed), 002-...
    /// (partial)".</summary>
    public static string DescribeUnfinished(IReadOnlyList<(SweepJob Job, JobState State)> unfinished)
    {
        var named = unfinished.Take(10).Select(u => $"{u.Job.Id} ({Vocabulary.Name(u.State)})");
        string more = unfinished.Count > 10 ? $" and {unfinished.Count - 10} more" : "";
        return $"{unfinished.Count} job(s) not done: {string.Join(", ", named)}{more} "
            + $"(see jobs/<id>/{JobFolder.ErrorFile})";
    }

    /// <summary>
    /// Runs one job (the Slurm array task), unless it is done or held by a live process;
    /// <paramref name="tensorboard"/>: TensorBoard scalars of its training in DIR/&lt;job id&gt;.
    /// </summary>
    public static JobState RunOne(SweepSpec spec, SweepFolder sweep, int index, IProgressSink progress,
        string? tensorboard = null)
    {
        spec = sweep.Prepare(spec);
        var jobs = spec.Jobs();
        Require.That(index >= 0 && index < jobs.Count, $"index must be in 0..{jobs.Count - 1}, got {index}");
        using var session = new SweepSession(spec, sweep, tensorboard);
        return new SweepScheduler(session, progress).Run(jobs[index]);
    }

    /// <summary>A job's training config: the spec's `train` section, its grid point, the preset per dataset.</summary>
    public static TrainConfig JobConfig(SweepSpec spec, SweepJob job) => TrainingPresets.ApplyToSweepJob(
        new TrainConfig(spec.Train)
        {
            Dataset = job.Dataset, Seed = job.Seed, DataSeed = 0, DataRoot = spec.DataRoot,
            Objective = job.Config,
        }, spec.Train);

    /// <summary>Test images in each job's Figure 6 panel.</summary>
    public const int GradientFigureImages = 5;

    /// <summary>One line per job for `paglab sweep status`.</summary>
    public static IReadOnlyList<(SweepJob Job, JobState State)> Status(SweepSpec spec, SweepFolder sweep) =>
        spec.Jobs().Select(j => (j, State(sweep, j))).ToList();
}
