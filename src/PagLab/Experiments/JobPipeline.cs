using PagLab.Common;
using PagLab.Data;
using PagLab.IO;
using PagLab.Manifold;
using PagLab.Models;
using PagLab.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Experiments;

/// <summary>
/// One sweep job, one way through typed stages: train (the config -> <see cref="TrainedClassifier"/>, the model in
/// memory), shared artefacts (-> <see cref="SharedArtefacts"/>, or the job is deferred), measure (the model and the
/// artefacts -> <see cref="JobResult"/>), write (result.json). Each object is loaded once and passed on: the model
/// trained here is measured as it is, never read back from its run folder.
/// </summary>
public sealed class JobPipeline(SweepSession session, IProgressSink progress)
{
    SweepSpec Spec => session.Spec;

    /// <summary>
    /// Runs the job's stages (the caller holds its lock). With <paramref name="mayDefer"/> (the worker has other jobs
    /// to train), a trained job whose shared artefacts another process is still building is left partial (returns
    /// <see cref="JobState.Partial"/>) instead of waiting: measured later, here or by any worker, without training
    /// again (training resumes as completed).
    /// </summary>
    public JobState Run(SweepJob job, bool mayDefer)
    {
        var times = new StageTimes();
        // Kept for this worker's next job of the dataset, so opened outside the job's scope.
        var dataset = session.Open(job.Dataset).Dataset;
        var jobProgress = new StageProgress(progress, $"job {job.Id}");
        if (job.Imported is not null) times.Skip();                  // nothing trains; the dataset is not its time
        using var trained = job.Imported is null ? Train(job, dataset, times, jobProgress) : null;
        if (trained?.Result.Status == RunStatus.Diverged)
            return Write(job, ReportOf(job, dataset, trained.Result) with { StageSeconds = times.ToDictionary() },
                jobProgress);
        var shared = Share(job, mayDefer, times);
        if (shared is null)
        {
            if (trained?.Release() is { } model) session.KeepDeferred(job, model);
            jobProgress.Line($"job {job.Id}: trained; measured once the shared artefacts another process builds "
                + "are there");
            return JobState.Partial;
        }
        JobResult result;
        using (NewDisposeScope())
            result = trained is null ? MeasureImported(job, shared, times)
                : MeasureTrained(job, shared, trained, times);
        return Write(job, result, jobProgress);
    }

    /// <summary>Train stage: the job's model, trained (or resumed) in jobs/&lt;id&gt;/train.</summary>
    TrainedClassifier Train(SweepJob job, IDataset dataset, StageTimes times, IProgressSink jobProgress)
    {
        TrainedClassifier trained;
        // The job's tensors are freed here, on this thread, when training ends (not by the GC finalizer thread
        // while the next job runs libtorch, which can corrupt the native heap); the model is a module and stays.
        using (NewDisposeScope())
            trained = Trainer.Train(SweepRunner.JobConfig(Spec, job), session.Folder.Job(job).Train, jobProgress,
                resume: true, dataset, session.Tensorboard is { } board ? Path.Combine(board, job.Id) : null);
        var training = trained.Result;
        bool earlier = training.Message == TrainResult.AlreadyCompleted;
        // A job trained in an earlier call (deferred, or killed after training) keeps its training time.
        times.Record(JobStage.Train, earlier ? training.Metrics.Sum(m => m.Seconds) : times.Elapsed);
        if (trained.Model is { } model) AsSavedModelLoads(model);
        // deferred by this worker: its model is still in memory
        return earlier && session.TakeDeferred(job) is { } kept ? new TrainedClassifier(training, kept) : trained;
    }

    /// <summary>The trained model as <see cref="SavedModel.Load"/> gives it to a sweep: on the CPU, channels-last
    /// when the spec says so (training may have run NCHW), in eval mode (the trainer left it so), without the
    /// last batch's weight gradients (a deferred model is kept a while).</summary>
    void AsSavedModelLoads(ImageClassifier model)
    {
        model.zero_grad(set_to_none: true);
        model.to(CPU);
        if (Spec.Train.UsesChannelsLast) model.ToChannelsLast();
    }

    /// <summary>Shared-artefacts stage: null when another process still builds one and the job may wait.</summary>
    SharedArtefacts? Share(SweepJob job, bool mayDefer, StageTimes times)
    {
        var sharedProgress = new StageProgress(progress, $"shared {job.Dataset}");
        if (!session.TryComplete(job.Dataset, sharedProgress, wait: !mayDefer))
        {
            session.UnreportedSharedSeconds += times.Elapsed; // e.g. it built the tangents
            return null;
        }
        // This worker's time on shared artefacts since its last finished job (stage sums stay whole).
        times.Record(JobStage.Shared, times.Elapsed + session.UnreportedSharedSeconds);
        session.UnreportedSharedSeconds = 0;
        return session.Open(job.Dataset);
    }

    /// <summary>Measure stage of a trained job: the model trained (or deferred) in this session, or, trained by an
    /// earlier call or another process, the model loaded once from its run folder.</summary>
    JobResult MeasureTrained(SweepJob job, SharedArtefacts shared, TrainedClassifier trained, StageTimes times)
    {
        using var earlier = trained.Model is null ? session.LoadModel(session.Folder.Job(job).Train) : null;
        var model = trained.Model ?? earlier!;
        return JobMeasurements.Measure(Context(job, shared, model), ReportOf(job, shared.Dataset, trained.Result),
            times);
    }

    /// <summary>
    /// Measure stage of an imported model: nothing is trained; its test accuracy on the sweep's test split (the
    /// images every job is tested on), then the same measurements as a trained job's.
    /// </summary>
    JobResult MeasureImported(SweepJob job, SharedArtefacts shared, StageTimes times)
    {
        var imported = job.Imported!;
        // Imported code runs first in the probe child: a hang or an abort fails this job, not the sweep.
        if (!imported.Untrained
            && SavedModel.ReadSpec(imported.Path) is { Arch: ModelFactory.TorchScriptArch } scripted)
            TorchScriptClassifier.ProbeSpec(Path.Combine(imported.Path, SavedModel.ScriptFile), scripted, job.Dataset,
                tryContracts: false);
        var dataset = shared.Dataset;
        using var model = imported.Untrained ? Untrained(dataset, job.Seed) : session.LoadModel(imported.Path);
        Require.That(model.Spec.Shape == dataset.Shape && model.Spec.Classes == dataset.Classes,
            $"model '{imported.Name}' ({imported.Path}) takes {model.Spec.Shape} images into {model.Spec.Classes} "
            + $"classes; {dataset.Name} has {dataset.Shape} images and {dataset.Classes} classes");
        double accuracy = Evaluation.Accuracy(model, dataset.Test);
        times.Lap(JobStage.Evaluate);
        var result = ResultOf(job, dataset, accuracy, JobState.Completed,
                imported.Untrained ? "untrained control" : "imported, not trained")
            with { Objective = ImportedModel.Objective, Model = imported.Name, Untrained = imported.Untrained };
        return JobMeasurements.Measure(Context(job, shared, model), result, times);
    }

    JobContext Context(SweepJob job, SharedArtefacts shared, ImageClassifier model) =>
        new(Spec, job, session.Folder.Job(job), shared, model, session.Lpips, new OutputMeasure(Spec.Measure.Output));

    /// <summary>The sweep's architecture as the trainer would build it for this seed, before any step.</summary>
    ImageClassifier Untrained(IDataset dataset, long seed)
    {
        var model = ModelFactory.Create(ModelSpec.For(Spec.Train.Arch, dataset) with
            { Activation = Spec.Train.Activation, WidthMultiplier = Spec.Train.WidthMultiplier }, seed);
        model.eval();
        return Spec.Train.UsesChannelsLast ? model.ToChannelsLast() : model;
    }

    /// <summary>What every job reports once trained: accuracy with its binomial interval, or the divergence.</summary>
    JobResult ReportOf(SweepJob job, IDataset dataset, TrainResult training)
    {
        double accuracy = training.Metrics.LastOrDefault()?.TestAccuracy ?? double.NaN;
        return ResultOf(job, dataset, accuracy,
            training.Status == RunStatus.Diverged ? JobState.Diverged : JobState.Completed, training.Message);
    }

    /// <summary>A job's result before measuring: test accuracy with its exact binomial interval.</summary>
    JobResult ResultOf(SweepJob job, IDataset dataset, double accuracy, JobState status, string? message)
    {
        long testImages = dataset.Test.Count;
        long correct = double.IsFinite(accuracy) ? (long)Math.Round(accuracy * testImages) : 0;
        return new JobResult
        {
            Format = JobResult.CurrentFormat, Id = job.Id, Index = job.Index, Dataset = job.Dataset,
            Objective = Vocabulary.Name(job.Objective.Kind), Strength = job.Strength, Seed = job.Seed,
            Classes = dataset.Classes,
            OutputMeasure = Spec.Measure.Output,
            Status = status,
            TestCorrect = correct, TestImages = testImages,
            TestAccuracy = double.IsFinite(accuracy) ? Uncertainty.Estimate.Binomial(correct, testImages)
                : Uncertainty.Estimate.Empty,
            Message = message,
        };
    }

    /// <summary>Write stage: result.json, and one line.</summary>
    JobState Write(SweepJob job, JobResult result, IProgressSink jobProgress)
    {
        JsonFiles.Write(session.Folder.Job(job).Result, result);
        jobProgress.Line($"job {job.Id}: {Vocabulary.Name(result.Status)}, "
            + $"test accuracy {result.TestAccuracy.Text("F4")}");
        return result.Status;
    }
}
