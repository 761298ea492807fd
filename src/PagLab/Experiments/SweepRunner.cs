using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using System.Diagnostics;
using System.Text.Json;
using PagLab.Attributions;
using PagLab.Common;
using PagLab.Data;
using PagLab.IO;
using PagLab.Manifold;
using PagLab.Models;
using PagLab.Objectives;
using PagLab.Score;
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
/// denoiser) are built once per dataset under their own locks in shared/&lt;dataset&gt;/.
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
    /// Runs every job not yet done, in order, skipping ones another live process holds; then waits for
    /// those and runs any that their process abandoned (killed mid-job), so the sweep is finished when this
    /// returns unless a job failed. A job that fails here is not retried in the same call.
    /// Returns the number of jobs not done (see <see cref="Unfinished"/>).
    /// </summary>
    public static int RunAll(SweepSpec spec, SweepFolder sweep, IProgressSink progress, bool retryFailed = true,
        string? tensorboard = null)
    {
        spec = sweep.Prepare(spec);
        var jobs = RunOrder(spec.Jobs());
        var failedHere = new HashSet<int>();
        var done = new HashSet<int>();
        // Trained here, waiting for shared artefacts another process builds; measured once those are there.
        var deferred = new HashSet<int>();
        var heldNow = new HashSet<int>();                   // held by another process when last looked at
        bool saidWaiting = false;
        using var session = new SweepSession(spec, sweep, tensorboard);
        while (true)
        {
            int heldElsewhere = 0;
            bool ranAny = false;
            // Another job of the same dataset this worker could train instead of waiting (not one held elsewhere).
            bool OtherToTrain(SweepJob job) => jobs.Any(j => j.Index != job.Index && j.Imported is null
                && j.Dataset == job.Dataset
                && !done.Contains(j.Index) && !failedHere.Contains(j.Index) && !deferred.Contains(j.Index)
                && !heldNow.Contains(j.Index));
            foreach (var job in jobs)
            {
                if (done.Contains(job.Index) || failedHere.Contains(job.Index)) continue;
                bool mayDefer = job.Imported is null && OtherToTrain(job);
                if (deferred.Contains(job.Index) && mayDefer && !session.Open(job.Dataset).Built) continue;
                var state = State(sweep, job);
                if (state is JobState.Completed or JobState.Diverged) { done.Add(job.Index); continue; }
                if (state == JobState.Running) { heldElsewhere++; heldNow.Add(job.Index); continue; }
                heldNow.Remove(job.Index);
                if (state == JobState.Failed && !retryFailed) continue;
                var outcome = RunOne(session, spec, job, progress, tensorboard, mayDefer);
                if (outcome == JobState.Failed) failedHere.Add(job.Index);
                if (outcome == JobState.Partial) deferred.Add(job.Index);
                if (outcome == JobState.Running) { heldElsewhere++; heldNow.Add(job.Index); }
                else ranAny = true;
                // Jobs other workers finished count too; a result file, once there, stays.
                done.UnionWith(jobs.Where(j => !done.Contains(j.Index) && IsDone(sweep, j)).Select(j => j.Index));
                progress.Line($"sweep {spec.Name}: {done.Count}/{jobs.Count} jobs done");
            }
            if (heldElsewhere == 0 && !ranAny) break;
            if (heldElsewhere > 0 && !ranAny)
            {
                if (!saidWaiting) progress.Line($"waiting for {heldElsewhere} job(s) held by other processes");
                saidWaiting = true;
                Thread.Sleep(1000);
            }
        }
        return Unfinished(spec, sweep).Count;
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
        return RunOne(session, spec, jobs[index], progress, tensorboard);
    }

    /// <summary>
    /// Trains the job, then measures it. With <paramref name="mayDefer"/> (the worker has other jobs to train), a
    /// trained job whose shared artefacts another process is still building is left partial (returns
    /// <see cref="JobState.Partial"/>) instead of waiting: the worker trains its next job, and the deferred one
    /// is measured later, here or by any worker, without training again (training resumes as completed).
    /// </summary>
    static JobState RunOne(SweepSession session, SweepSpec spec, SweepJob job, IProgressSink progress,
        string? tensorboard, bool mayDefer = false)
    {
        var sweep = session.Folder;
        var folder = sweep.Job(job);
        var state = State(sweep, job);
        if (state is JobState.Completed or JobState.Diverged) return state;
        using var jobLock = JobLock.TryAcquire(folder.Lock);
        if (jobLock is null) return JobState.Running;
        if (File.Exists(folder.Result)) return State(sweep, job); // finished while we waited
        File.Delete(folder.Error);
        try
        {
            var stages = new Dictionary<string, double>();
            var clock = Stopwatch.StartNew();
            // Kept for this worker's next job of the dataset, so opened outside the job's scope.
            var shared = session.Open(job.Dataset);
            var sharedProgress = new StageProgress(progress, $"shared {job.Dataset}");
            progress = new StageProgress(progress, $"job {job.Id}");
            TrainResult? training = null;
            if (job.Imported is null)
            {
                // The job's tensors are freed here, on this thread, when it ends (not by the GC finalizer thread
                // while the next job runs libtorch, which can corrupt the native heap).
                using (torch.NewDisposeScope())
                    training = Trainer.Run(JobConfig(spec, job), folder.Train, progress, resume: true, shared.Dataset,
                        tensorboard is null ? null : Path.Combine(tensorboard, job.Id));
                // A job trained in an earlier call (deferred, or killed after training) keeps its training time.
                stages["train"] = training.Message == TrainResult.AlreadyCompleted
                    ? training.Metrics.Sum(m => m.Seconds) : clock.Elapsed.TotalSeconds;
                if (training.Status == RunStatus.Diverged)
                    return Finish(folder, job, TrainedResult(spec, job, shared.Dataset, training)
                        with { StageSeconds = stages }, progress);
            }
            clock.Restart();
            if (!session.TryComplete(job.Dataset, sharedProgress, wait: !mayDefer))
            {
                session.UnreportedSharedSeconds += clock.Elapsed.TotalSeconds; // e.g. it built the tangents
                progress.Line($"job {job.Id}: trained; measured once the shared artefacts another process builds "
                    + "are there");
                return JobState.Partial;
            }
            // This worker's time on shared artefacts since its last finished job (stage sums stay whole).
            stages["shared"] = clock.Elapsed.TotalSeconds + session.UnreportedSharedSeconds;
            session.UnreportedSharedSeconds = 0;
            JobResult result;
            using (torch.NewDisposeScope())
                result = training is null ? ExecuteImported(session, job, shared, stages)
                    : MeasureTrained(session, job, shared, training, stages);
            return Finish(folder, job, result, progress);
        }
        catch (Exception e) when (e is PagLabException or IOException or InvalidOperationException
                                      or ArgumentException or System.Runtime.InteropServices.ExternalException)
        {
            AtomicFile.WriteAllText(folder.Error, e.ToString());
            progress.Line($"job {job.Id} failed: {e.Message.Split('\n')[0]}");
            return JobState.Failed;
        }
    }

    static JobState Finish(JobFolder folder, SweepJob job, JobResult result, IProgressSink progress)
    {
        JsonFiles.Write(folder.Result, result);
        progress.Line($"job {job.Id}: {Vocabulary.Name(result.Status)}, "
            + $"test accuracy {result.TestAccuracy.Text("F4")}");
        return result.Status;
    }

    /// <summary>Each measurement the spec asks for, on the job's trained model.</summary>
    static JobResult MeasureTrained(SweepSession session, SweepJob job, SharedArtefacts shared, TrainResult training,
        Dictionary<string, double> stages)
    {
        var result = TrainedResult(session.Spec, job, shared.Dataset, training);
        using var model = SavedModel.Load(session.Folder.Job(job).Train,
            channelsLast: session.Spec.Train.UsesChannelsLast);
        return Measure(session, job, shared, model, result, stages);
    }

    /// <summary>Each measurement the spec asks for, on a trained or imported model.</summary>
    static JobResult Measure(SweepSession session, SweepJob job, SharedArtefacts shared, ImageClassifier model,
        JobResult result, Dictionary<string, double> stages)
    {
        var spec = session.Spec;
        var clock = Stopwatch.StartNew();
        void Stage(string name) { stages[name] = clock.Elapsed.TotalSeconds; clock.Restart(); }
        var context = new JobContext(spec, job, session.Folder.Job(job), shared, model, null,
            new OutputMeasure(spec.Measure.Output));
        // per-image outcomes, so the regime rule can pair this model's accuracy with the standard's
        result = result with { TestCorrectPerImage = Evaluation.CorrectPerImage(model, shared.Dataset.Test) };
        if (spec.Measure.Manifold)
        {
            result = MeasureManifold(context, result);
            Stage("manifold");
        }
        if (spec.Measure.Alignment)
        {
            result = MeasureAlignment(context with { Lpips = session.Lpips }, result);
            Stage("alignment");
        }
        if (spec.Measure.Distractor && shared.Dataset.Test.SignalMask is not null)
        {
            result = MeasureDistractor(context, result);
            Stage("distractor");
        }
        return result with { StageSeconds = stages };
    }

    /// <summary>A job's training config: the spec's `train` section, its grid point, the preset per dataset.</summary>
    public static TrainConfig JobConfig(SweepSpec spec, SweepJob job) => TrainingPresets.ApplyToSweepJob(
        new TrainConfig(spec.Train)
        {
            Dataset = job.Dataset, Seed = job.Seed, DataSeed = 0, DataRoot = spec.DataRoot,
            Objective = job.Config,
        }, spec.Train);

    /// <summary>What every job reports once trained: accuracy with its binomial interval, or the divergence.</summary>
    static JobResult TrainedResult(SweepSpec spec, SweepJob job, IDataset dataset, TrainResult training)
    {
        double accuracy = training.Metrics.LastOrDefault()?.TestAccuracy ?? double.NaN;
        return ResultOf(spec, job, dataset, accuracy,
            training.Status == RunStatus.Diverged ? JobState.Diverged : JobState.Completed, training.Message);
    }

    /// <summary>A job's result before measuring: test accuracy with its exact binomial interval.</summary>
    static JobResult ResultOf(SweepSpec spec, SweepJob job, IDataset dataset, double accuracy, JobState status,
        string? message)
    {
        long testImages = dataset.Test.Count;
        long correct = double.IsFinite(accuracy) ? (long)Math.Round(accuracy * testImages) : 0;
        return new JobResult
        {
            Format = JobResult.CurrentFormat, Id = job.Id, Index = job.Index, Dataset = job.Dataset,
            Objective = Vocabulary.Name(job.Objective.Kind), Strength = job.Strength, Seed = job.Seed,
            Classes = dataset.Classes,
            OutputMeasure = spec.Measure.Output,
            Status = status,
            TestCorrect = correct, TestImages = testImages,
            TestAccuracy = double.IsFinite(accuracy) ? Uncertainty.Estimate.Binomial(correct, testImages)
                : Uncertainty.Estimate.Empty,
            Message = message,
        };
    }

    /// <summary>
    /// An imported model: nothing is trained; its test accuracy on the sweep's test split (the images every job is
    /// tested on), then the same measurements as a trained job's.
    /// </summary>
    static JobResult ExecuteImported(SweepSession session, SweepJob job, SharedArtefacts shared,
        Dictionary<string, double> stages)
    {
        var imported = job.Imported!;
        var clock = Stopwatch.StartNew();
        // Imported code runs first in the probe child: a hang or an abort fails this job, not the sweep.
        if (!imported.Untrained
            && SavedModel.ReadSpec(imported.Path) is { Arch: ModelFactory.TorchScriptArch } scripted)
            TorchScriptClassifier.ProbeSpec(Path.Combine(imported.Path, SavedModel.ScriptFile), scripted, job.Dataset,
                tryContracts: false);
        var dataset = shared.Dataset;
        using var model = imported.Untrained ? Untrained(session.Spec, dataset, job.Seed)
            : SavedModel.Load(imported.Path, channelsLast: session.Spec.Train.UsesChannelsLast);
        Require.That(model.Spec.Shape == dataset.Shape && model.Spec.Classes == dataset.Classes,
            $"model '{imported.Name}' ({imported.Path}) takes {model.Spec.Shape} images into {model.Spec.Classes} "
            + $"classes; {dataset.Name} has {dataset.Shape} images and {dataset.Classes} classes");
        double accuracy = Evaluation.Accuracy(model, dataset.Test);
        stages["evaluate"] = clock.Elapsed.TotalSeconds;
        var result = ResultOf(session.Spec, job, dataset, accuracy, JobState.Completed,
                imported.Untrained ? "untrained control" : "imported, not trained")
            with { Objective = ImportedModel.Objective, Model = imported.Name, Untrained = imported.Untrained };
        return Measure(session, job, shared, model, result, stages);
    }

    /// <summary>The sweep's architecture as the trainer would build it for this seed, before any step.</summary>
    static ImageClassifier Untrained(SweepSpec spec, IDataset dataset, long seed)
    {
        var model = ModelFactory.Create(ModelSpec.For(spec.Train.Arch, dataset) with
            { Activation = spec.Train.Activation, WidthMultiplier = spec.Train.WidthMultiplier }, seed);
        model.eval();
        return spec.Train.UsesChannelsLast ? model.ToChannelsLast() : model;
    }

    /// <summary>On- and off-manifold sensitivity and rho_2 (manifold.json).</summary>
    static JobResult MeasureManifold(JobContext c, JobResult result)
    {
        var spec = c.Spec;
        var request = new ManifoldRequest(c.ModelDir, c.Shared.TangentsPath, c.Dataset)
        {
            Epsilons = spec.Measure.Epsilons, Draws = spec.Measure.Draws, Measure = c.Measure, Seed = c.Job.Seed,
            BatchImages = spec.Measure.BatchImages, Rho1Modes = new[] { spec.Measure.Mode }, // the mode reported
        };
        var report = ManifoldExperiments.MeasureManifold(request, c.Model, c.Shared.Tangents!, NullProgress.Instance);
        ManifoldReportFiles.Write(c.Folder.Manifold, report);
        var rho2 = report.Rho2PerImage.GetValueOrDefault(Vocabulary.Name(spec.Measure.Mode));
        return result with
        {
            Sensitivity = report.Results.Select(SensitivityResult.From).ToList(),
            Rho2Mode = rho2 is null ? null : spec.Measure.Mode,
            Rho2 = rho2 is null ? null : Uncertainty.Bootstrap.Mean(Uncertainty.Bootstrap.Sample.One(rho2)),
            Rho2PerImage = rho2,
        };
    }

    /// <summary>Perceptual alignment with the score (alignment.json) and this model's Figure 6 panel.</summary>
    static JobResult MeasureAlignment(JobContext c, JobResult result)
    {
        var m = c.Spec.Measure;
        var denoiser = c.Shared.Denoiser!;
        double sigma = m.AlignmentSigma ?? Datasets.AlignmentSigma(c.Job.Dataset);
        var report = AlignmentMeasurement.Measure(c.Model, denoiser, c.Dataset, sigma, m.Mode,
            m.AlignmentCount, c.Lpips);
        AlignmentMeasurement.Write(c.Folder.Alignment, report);
        // This model's column of Figure 6 (image, score, its gradient), drawn now so the report only renders.
        string objective = Vocabulary.Name(c.Job.Objective.Kind);
        string label = c.Job.Imported is { } imported ? $"{ImportedModel.Objective} {imported.Name}"
            : c.Job.Objective.Kind == ObjectiveKind.Standard ? objective : $"{objective} {c.Job.Strength:G3}";
        AlignmentMeasurement.Figure(c.Folder.GradientFigure, new[] { (label, (Module<Tensor, Tensor>)c.Model) },
            denoiser, c.Dataset, sigma, m.Mode, GradientFigureImages, c.Lpips);
        return result with { Alignment = AlignmentResult.From(report), Attributions = MeasureAttributions(c, sigma) };
    }

    /// <summary>The further attributions of measure.attributions against the same score (alignment-NAME.json each);
    /// null when the spec lists none beside the gradient.</summary>
    static List<AlignmentResult>? MeasureAttributions(JobContext c, double sigma)
    {
        var m = c.Spec.Measure;
        var kinds = (m.Attributions ?? Array.Empty<AttributionKind>()).Where(k => k != AttributionKind.Gradient)
            .ToList();
        if (kinds.Count == 0) return null;
        var results = new List<AlignmentResult>();
        foreach (var kind in kinds)
        {
            var report = AlignmentMeasurement.Measure(c.Model, c.Shared.Denoiser!, c.Dataset, sigma, m.Mode,
                m.AlignmentCount, c.Lpips, attribution: new AttributionSettings { Method = kind, Seed = c.Job.Seed });
            AlignmentMeasurement.Write(c.Folder.AttributionAlignment(kind), report);
            results.Add(AlignmentResult.From(report) with { Attribution = kind });
        }
        return results;
    }

    /// <summary>Relative noise robustness on a distractor dataset (distractor.json).</summary>
    static JobResult MeasureDistractor(JobContext c, JobResult result)
    {
        var m = c.Spec.Measure;
        var split = c.Dataset.Test.Take(m.DistractorCount);
        var report = DistractorRobustness.Measure(c.Model, split, m.DistractorSigmas.Values.ToArray(), c.Job.Id,
            c.Job.Dataset, c.Job.Seed, c.Measure);
        DistractorRobustness.Write(c.Folder.Distractor, report);
        return result with { Distractor = report.Points, DistractorOverSigmas = report.OverSigmas };
    }

    /// <summary>Test images in each job's Figure 6 panel.</summary>
    public const int GradientFigureImages = 5;

    /// <summary>One line per job for `paglab sweep status`.</summary>
    public static IReadOnlyList<(SweepJob Job, JobState State)> Status(SweepSpec spec, SweepFolder sweep) =>
        spec.Jobs().Select(j => (j, State(sweep, j))).ToList();
}
