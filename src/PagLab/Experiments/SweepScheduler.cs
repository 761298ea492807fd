using PagLab.Common;
using PagLab.IO;

namespace PagLab.Experiments;

/// <summary>
/// Which job a worker runs next, and when. Jobs come in <see cref="SweepRunner.RunOrder"/>; each runs under its
/// lock (JobLock), so two workers or processes never run one job twice; a job another live process holds is
/// waited for (and run if its process abandons it); a trained job whose shared artefacts another process is still
/// building is deferred while this worker has other jobs of the dataset to train. The job itself is
/// <see cref="JobPipeline"/>'s.
/// </summary>
public sealed class SweepScheduler
{
    /// <summary>What this worker knows of one job.</summary>
    sealed class Slot(SweepJob job)
    {
        public SweepJob Job { get; } = job;
        /// <summary>Completed or diverged, here or by any worker (a result file, once there, stays).</summary>
        public bool Done { get; set; }
        /// <summary>Failed in this call: not retried before the next.</summary>
        public bool FailedHere { get; set; }
        /// <summary>Trained here, waiting for shared artefacts another process builds; measured once they are there.
        /// </summary>
        public bool Deferred { get; set; }
        /// <summary>Held by another live process when last looked at.</summary>
        public bool HeldElsewhere { get; set; }
    }

    readonly SweepSession session;
    readonly JobPipeline pipeline;
    readonly IProgressSink progress;
    readonly IReadOnlyList<Slot> slots;

    public SweepScheduler(SweepSession session, IProgressSink progress)
    {
        this.session = session;
        this.progress = progress;
        pipeline = new JobPipeline(session, progress);
        slots = SweepRunner.RunOrder(session.Spec.Jobs()).Select(j => new Slot(j)).ToList();
    }

    /// <summary>
    /// Runs every job not yet done, skipping ones another live process holds; then waits for those and runs any
    /// that their process abandoned (killed mid-job), so the sweep is finished when this returns unless a job
    /// failed. A job that fails here is not retried in the same call; with <paramref name="retryFailed"/> false,
    /// one that failed in an earlier call is not retried either.
    /// </summary>
    public void RunAll(bool retryFailed)
    {
        bool saidWaiting = false;
        while (true)
        {
            var (ranAny, heldElsewhere) = Pass(retryFailed);
            if (ranAny) continue;
            if (heldElsewhere == 0) return;
            if (!saidWaiting) progress.Line($"waiting for {heldElsewhere} job(s) held by other processes");
            saidWaiting = true;
            Thread.Sleep(1000);
        }
    }

    /// <summary>One pass over the jobs not done: whether any ran here, and how many other processes hold.</summary>
    (bool RanAny, int HeldElsewhere) Pass(bool retryFailed)
    {
        int heldElsewhere = 0;
        bool ranAny = false;
        foreach (var slot in slots)
        {
            if (slot.Done || slot.FailedHere) continue;
            bool mayDefer = slot.Job.Imported is null && OtherToTrain(slot);
            if (slot.Deferred && mayDefer && !session.Open(slot.Job.Dataset).Built) continue;
            var state = SweepRunner.State(session.Folder, slot.Job);
            slot.HeldElsewhere = state == JobState.Running;
            if (state is JobState.Completed or JobState.Diverged) { MarkDone(slot); continue; }
            if (slot.HeldElsewhere) { heldElsewhere++; continue; }
            if (state == JobState.Failed && !retryFailed) continue;
            var outcome = Run(slot.Job, mayDefer);
            slot.FailedHere = outcome == JobState.Failed;
            slot.Deferred |= outcome == JobState.Partial;
            slot.HeldElsewhere = outcome == JobState.Running;
            if (slot.HeldElsewhere) heldElsewhere++;
            else ranAny = true;
            // Jobs other workers finished count too.
            foreach (var other in slots.Where(s => !s.Done && SweepRunner.IsDone(session.Folder, s.Job)))
                MarkDone(other);
            progress.Line($"sweep {session.Spec.Name}: {slots.Count(s => s.Done)}/{slots.Count} jobs done");
        }
        return (ranAny, heldElsewhere);
    }

    /// <summary>A job done here or by another worker: a model this worker kept for it, deferred, is freed.</summary>
    void MarkDone(Slot slot)
    {
        slot.Done = true;
        session.DropDeferred(slot.Job);
    }

    /// <summary>Whether another job of the same dataset is left for this worker to train instead of waiting (not
    /// one held elsewhere).</summary>
    bool OtherToTrain(Slot slot) => slots.Any(s => s != slot && s.Job.Imported is null
        && s.Job.Dataset == slot.Job.Dataset && !s.Done && !s.FailedHere && !s.Deferred && !s.HeldElsewhere);

    /// <summary>
    /// Runs one job through the pipeline under its lock, unless it is done or held by a live process
    /// (<see cref="JobState.Running"/>); an error fails the job (jobs/&lt;id&gt;/error.txt), not the sweep.
    /// </summary>
    public JobState Run(SweepJob job, bool mayDefer = false)
    {
        var sweep = session.Folder;
        var folder = sweep.Job(job);
        var state = SweepRunner.State(sweep, job);
        if (state is JobState.Completed or JobState.Diverged) return state;
        using var jobLock = JobLock.TryAcquire(folder.Lock);
        if (jobLock is null) return JobState.Running;
        if (File.Exists(folder.Result)) return SweepRunner.State(sweep, job); // finished while we waited
        File.Delete(folder.Error);
        try
        {
            return pipeline.Run(job, mayDefer);
        }
        catch (Exception e) when (e is PagLabException or IOException or InvalidOperationException
                                      or ArgumentException or System.Runtime.InteropServices.ExternalException)
        {
            AtomicFile.WriteAllText(folder.Error, e.ToString());
            progress.Line($"job {job.Id} failed: {e.Message.Split('\n')[0]}");
            return JobState.Failed;
        }
    }
}
