using PagLab.Common;
using PagLab.Data;
using PagLab.Manifold;
using PagLab.Metrics;
using PagLab.Models;
using PagLab.Score;
using PagLab.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Experiments;

/// <summary>
/// What the jobs of one dataset share, built once per sweep under shared/&lt;dataset&gt;/ (each under its own
/// lock) and loaded once per worker process: the dataset, its tangent spaces and its denoiser (the exact
/// one for subspace-gaussians).
/// </summary>
public sealed class SharedArtefacts : IDisposable
{
    readonly SweepSpec spec;
    readonly SharedFolder folder;
    readonly string? tensorboard;          // DIR/shared-<dataset>: autoencoder/ and denoiser/ TensorBoard logs

    SharedArtefacts(SweepSpec spec, SharedFolder folder, string name, string? tensorboard)
    {
        this.spec = spec;
        this.folder = folder;
        this.tensorboard = tensorboard;
        Name = name;
        Dataset = LoadDataset(spec, name);
    }

    public string Name { get; }
    /// <summary>Where the tangent spaces are saved (reports name them by it).</summary>
    public string TangentsPath => folder.Tangents;
    public IDataset Dataset { get; }
    /// <summary>Null unless the spec measures manifold robustness (and, before <see cref="TryComplete"/>).</summary>
    public TangentSpaces? Tangents { get; private set; }
    /// <summary>Null unless the spec measures alignment (and, before <see cref="TryComplete"/>).</summary>
    public IDenoiser? Denoiser { get; private set; }
    /// <summary>Null unless the spec scans tangent dimensions (and, before <see cref="TryComplete"/>).</summary>
    public TangentScanArtefacts? TangentScan { get; private set; }

    /// <summary>Loads the dataset, builds what is missing in folder, then loads it.</summary>
    public static SharedArtefacts Load(SweepSpec spec, SharedFolder folder, string name, IProgressSink progress,
        string? tensorboard = null)
    {
        var shared = Open(spec, folder, name, tensorboard);
        try
        {
            shared.TryComplete(progress, wait: true);
            return shared;
        }
        catch
        {
            shared.Dispose();
            throw;
        }
    }

    /// <summary>The dataset alone (all that training needs); <see cref="TryComplete"/> adds the rest.</summary>
    public static SharedArtefacts Open(SweepSpec spec, SharedFolder folder, string name, string? tensorboard = null) =>
        new(spec, folder, name, tensorboard);

    /// <summary>Whether everything the measurements need is loaded.</summary>
    public bool Complete => (!spec.Measure.Manifold || Tangents is not null)
                            && (!spec.Measure.Alignment || Denoiser is not null)
                            && (spec.Shared.TangentDimensions is null || TangentScan is not null);

    /// <summary>Whether every artefact is on disk (built by any process), without loading anything.</summary>
    public bool Built => (!spec.Measure.Manifold || File.Exists(folder.Tangents))
                         && (!spec.Measure.Alignment || Dataset is SubspaceGaussians
                             || File.Exists(folder.DenoiserInfo))
                         && (spec.Shared.TangentDimensions is null || TangentScanArtefacts.Built(folder));

    /// <summary>
    /// Builds what is missing (each artefact under its own lock) and loads it. With <paramref name="wait"/> false,
    /// an artefact another process is building is skipped, not waited for: the others are still built, so two
    /// workers build the tangents and the denoiser side by side, and a worker with jobs left to train goes on
    /// training. Returns <see cref="Complete"/>.
    /// </summary>
    public bool TryComplete(IProgressSink progress, bool wait)
    {
        // Building frees its tensors (Ensure's scope); what is loaded here is owned by this object.
        if (spec.Measure.Manifold && Tangents is null
            && Ensure(folder.Tangents, folder.TangentsLock, "tangent spaces", wait, progress,
                () => BuildTangents(spec, folder, Dataset, progress, Board("autoencoder"))))
        {
            Tangents = TangentSpaces.Load(folder.Tangents);
            if (!File.Exists(folder.PerturbationFigure))
                using (NewDisposeScope())
                    ManifoldExperiments.ShowPerturbations(Tangents, folder.Tangents, Dataset,
                        folder.PerturbationFigure, 6, 2.0, 0, 3);
        }
        if (spec.Measure.Alignment && Denoiser is null)
        {
            if (Dataset is SubspaceGaussians exact) Denoiser = new ExactDenoiser(exact);
            else if (Ensure(folder.DenoiserInfo, folder.DenoiserLock, "denoiser", wait, progress,
                         () => BuildDenoiser(spec, folder, Dataset, progress, Board("denoiser"))))
                Denoiser = SavedDenoiser.Load(folder.Denoiser);
        }
        if (spec.Shared.TangentDimensions is not null && TangentScan is null)
            TangentScan = TangentScanArtefacts.TryLoad(spec, folder, Dataset, progress, wait, Board("kscan"));
        return Complete;
    }

    string? Board(string training) => tensorboard is null ? null : Path.Combine(tensorboard, training);

    /// <summary>
    /// Builds the artefact whose file is <paramref name="built"/> unless it is there, under its lock; false when
    /// another process holds the lock and we do not wait.
    /// </summary>
    static bool Ensure(string built, string lockPath, string what, bool wait, IProgressSink progress, Action build)
    {
        if (File.Exists(built)) return true;
        using var held = wait ? WaitForLock(lockPath, progress, what) : JobLock.TryAcquire(lockPath);
        if (held is null) return false;
        if (!File.Exists(built))
            using (NewDisposeScope()) build();
        return true;
    }

    /// <summary>The dataset every job of a sweep trains and measures on (data seed 0, the spec's sizes).</summary>
    public static IDataset LoadDataset(SweepSpec spec, string dataset) =>
        Datasets.Load(dataset, new DataOptions(spec.DataRoot, 0, spec.Train.TrainSize, spec.Train.TestSize));

    /// <summary>Builds tangents.safetensors (the autoencoder first when that is the estimator).</summary>
    static void BuildTangents(SweepSpec spec, SharedFolder folder, IDataset dataset, IProgressSink progress,
        string? tensorboard)
    {
        var s = spec.Shared;
        var request = new TangentRequest(s.TangentEstimator, Split.Test, s.TangentCount, s.TangentBatchSize,
            s.LocalPcaNeighbours, s.LocalPcaDimension);
        var autoencoder = spec.AutoencoderFor(dataset.Name);
        using var spaces = ManifoldExperiments.Estimate(request, dataset, () => (AutoencoderTrainer.Run(autoencoder,
            folder.Autoencoder, progress, resume: true, tensorboard: tensorboard), folder.Autoencoder), progress);
        spaces.Save(folder.Tangents);
    }

    /// <summary>Trains denoiser/.</summary>
    static void BuildDenoiser(SweepSpec spec, SharedFolder folder, IDataset dataset, IProgressSink progress,
        string? tensorboard)
    {
        DenoiserTrainer.Run(spec.DenoiserFor(dataset.Name), folder.Denoiser, progress, resume: true,
            dataset: dataset, tensorboard: tensorboard);
    }

    static JobLock WaitForLock(string path, IProgressSink progress, string what)
    {
        bool said = false;
        while (true)
        {
            var held = JobLock.TryAcquire(path);
            if (held is not null) return held;
            if (!said) { progress.Line($"waiting for another process building the shared {what}"); said = true; }
            Thread.Sleep(1000);
        }
    }

    public void Dispose()
    {
        Denoiser?.Dispose();
        Tangents?.Dispose();
        TangentScan?.Dispose();
        (Dataset as IDisposable)?.Dispose();
    }
}

/// <summary>
/// One worker process's view of a sweep: the shared artefacts of the dataset whose jobs run now (jobs come
/// dataset by dataset, so one set is kept) and LPIPS, loaded once for all the jobs of that dataset this
/// worker runs. Their tensors live in a dispose scope of their own, opened between jobs and freed on this
/// thread when the dataset changes or the session ends.
/// </summary>
public sealed class SweepSession : IDisposable
{
    SharedArtefacts? current;
    Lpips? lpips;
    DisposeScope? scope;

    /// <param name="tensorboard">TensorBoard logs of the shared trainings: DIR/shared-&lt;dataset&gt;/autoencoder and
    /// /denoiser (the jobs' own go to DIR/&lt;job id&gt;).</param>
    public SweepSession(SweepSpec spec, SweepFolder folder, string? tensorboard = null)
    {
        Spec = spec;
        Folder = folder;
        this.tensorboard = tensorboard;
    }

    readonly string? tensorboard;

    public SweepSpec Spec { get; }
    public SweepFolder Folder { get; }
    /// <summary>Seconds spent building or waiting for shared artefacts in calls that deferred their job; the next
    /// job this worker finishes reports them in its "shared" stage.</summary>
    public double UnreportedSharedSeconds { get; set; }
    /// <summary>LPIPS for the current dataset's jobs when the spec measures alignment and weights are found
    /// ($PAGLAB_LPIPS_WEIGHTS or the data root's weights/), else null (SSIM and cosine only).</summary>
    public Lpips? Lpips => lpips;

    /// <summary>
    /// The artefacts of one dataset, all built and loaded (call between jobs, outside a job's dispose scope: what
    /// is loaded belongs to the session); those of the previous dataset are freed.
    /// </summary>
    public SharedArtefacts Shared(string dataset, IProgressSink progress)
    {
        var shared = Open(dataset);
        TryComplete(dataset, progress, wait: true);
        return shared;
    }

    /// <summary>The dataset's artefacts with only the dataset loaded for sure (all that training needs).</summary>
    public SharedArtefacts Open(string dataset)
    {
        if (current?.Name == dataset) return current;
        Release();
        scope = NewDisposeScope();
        try
        {
            return current = SharedArtefacts.Open(Spec, Folder.Shared(dataset), dataset,
                tensorboard is null ? null : Path.Combine(tensorboard, $"shared-{dataset}"));
        }
        catch
        {
            Release();
            throw;
        }
    }

    /// <summary>
    /// Builds and loads the rest of <see cref="Open"/>'s artefacts, and LPIPS (same scope rule as
    /// <see cref="Shared"/>); without <paramref name="wait"/>, false when another process is still building one.
    /// </summary>
    public bool TryComplete(string dataset, IProgressSink progress, bool wait)
    {
        var shared = Open(dataset);
        try
        {
            bool complete = shared.TryComplete(progress, wait);
            if (complete && Spec.Measure.Alignment) lpips ??= LoadLpips(Spec);
            return complete;
        }
        catch
        {
            Release();
            throw;
        }
    }

    // Prepare resolves an unset network
    static Lpips? LoadLpips(SweepSpec spec) => LpipsChoice.Find(null, spec.DataRoot, spec.Measure.LpipsNet).Load();

    void Release()
    {
        current?.Dispose();
        lpips?.Dispose();
        scope?.Dispose();
        (current, lpips, scope) = (null, null, null);
    }

    public void Dispose() => Release();
}

/// <summary>The objects one job measures with: its folder, the shared artefacts, its trained model, LPIPS.</summary>
public sealed record JobContext(SweepSpec Spec, SweepJob Job, JobFolder Folder, SharedArtefacts Shared,
    ImageClassifier Model, Lpips? Lpips, OutputMeasure Measure)
{
    public IDataset Dataset => Shared.Dataset;
    /// <summary>The measured model's folder: the job's training run, or the imported model's folder.</summary>
    public string ModelDir => Job.Imported is { Untrained: false } imported ? imported.Path : Folder.Train;
}
