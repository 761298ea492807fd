using PagLab.Common;
using PagLab.Data;
using PagLab.Manifold;
using PagLab.Score;
using PagLab.Training;
using static TorchSharp.torch;

namespace PagLab.Experiments;

/// <summary>
/// What the jobs of one dataset share, built once per sweep under shared/&lt;dataset&gt;/ (each under its own
/// lock): the dataset, its tangent spaces and its denoiser (the exact one for subspace-gaussians). What this
/// process builds it keeps in memory (and saves, for other processes and later calls); what another process
/// built it loads once.
/// </summary>
public sealed class SharedArtefacts : IDisposable
{
    readonly SweepSpec spec;
    readonly SharedFolder folder;
    readonly string? tensorboard;          // DIR/shared-<dataset>: autoencoder/ and denoiser/ TensorBoard logs
    readonly Action<string> read;          // told each file read from disk (the session's log)

    SharedArtefacts(SweepSpec spec, SharedFolder folder, string name, string? tensorboard, Action<string> read)
    {
        this.spec = spec;
        this.folder = folder;
        this.tensorboard = tensorboard;
        this.read = read;
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

    /// <summary>The dataset alone (all that training needs); <see cref="TryComplete"/> adds the rest.</summary>
    /// <param name="read">Told the path of each artefact read from disk.</param>
    public static SharedArtefacts Open(SweepSpec spec, SharedFolder folder, string name, string? tensorboard,
        Action<string> read) => new(spec, folder, name, tensorboard, read);

    /// <summary>Whether everything the measurements need is in memory.</summary>
    public bool Complete => (!spec.Measure.Manifold || Tangents is not null)
                            && (!spec.Measure.Alignment || Denoiser is not null)
                            && (spec.Shared.TangentDimensions is null || TangentScan is not null);

    /// <summary>Whether every artefact is on disk (built by any process), without loading anything.</summary>
    public bool Built => (!spec.Measure.Manifold || File.Exists(folder.Tangents))
                         && (!spec.Measure.Alignment || Dataset is SubspaceGaussians
                             || File.Exists(folder.DenoiserInfo))
                         && (spec.Shared.TangentDimensions is null || TangentScanArtefacts.Built(folder));

    /// <summary>
    /// Builds what is missing (each artefact under its own lock), or loads what another process built. With
    /// <paramref name="wait"/> false, an artefact another process is building is skipped, not waited for: the
    /// others are still built, so two workers build the tangents and the denoiser side by side, and a worker with
    /// jobs left to train goes on training. Returns <see cref="Complete"/>.
    /// </summary>
    public bool TryComplete(IProgressSink progress, bool wait)
    {
        if (spec.Measure.Manifold && Tangents is null)
        {
            Tangents = Obtain(folder.Tangents, folder.TangentsLock, "tangent spaces", wait, progress,
                () => BuildTangents(progress), TangentSpaces.Load);
            if (Tangents is not null && !File.Exists(folder.PerturbationFigure))
                using (NewDisposeScope())
                    ManifoldExperiments.ShowPerturbations(new PerturbationRequest(folder.Tangents, Dataset,
                        folder.PerturbationFigure) { Count = 6, Epsilon = 2.0, Seed = 0, Scale = 3 }, Tangents);
        }
        if (spec.Measure.Alignment && Denoiser is null)
            Denoiser = Dataset is SubspaceGaussians exact ? new ExactDenoiser(exact)
                : Obtain<IDenoiser>(folder.DenoiserInfo, folder.DenoiserLock, "denoiser", wait, progress,
                    () => BuildDenoiser(progress), _ => SavedDenoiser.Load(folder.Denoiser));
        if (spec.Shared.TangentDimensions is not null && TangentScan is null)
            TangentScan = TangentScanArtefacts.TryLoad(spec, folder, Dataset, progress, wait, read,
                Board("kscan"));
        return Complete;
    }

    string? Board(string training) => tensorboard is null ? null : Path.Combine(tensorboard, training);

    /// <summary>
    /// The artefact whose file is <paramref name="built"/>: built here under its lock when missing (the builder
    /// saves it and hands it over), else loaded once; null when another process holds the lock and we do not wait.
    /// </summary>
    T? Obtain<T>(string built, string lockPath, string what, bool wait, IProgressSink progress, Func<T?> build,
        Func<string, T> load) where T : class
    {
        if (!File.Exists(built))
        {
            using var held = wait ? WaitForLock(lockPath, progress, what) : JobLock.TryAcquire(lockPath);
            if (held is null) return null;
            // a builder that finds its run completed by an earlier call hands over nothing: that one is loaded
            if (!File.Exists(built) && build() is { } fresh) return fresh;
        }
        read(built);
        return load(built);
    }

    /// <summary>The dataset every job of a sweep trains and measures on (data seed 0, the spec's sizes).</summary>
    public static IDataset LoadDataset(SweepSpec spec, string dataset) =>
        Datasets.Load(dataset, new DataOptions(spec.DataRoot, 0, spec.Train.TrainSize, spec.Train.TestSize));

    /// <summary>Builds tangents.safetensors (the autoencoder first when that is the estimator) and keeps the spaces.
    /// </summary>
    TangentSpaces BuildTangents(IProgressSink progress)
    {
        using var scope = NewDisposeScope();     // the autoencoder's tensors end here; the spaces stay with this
        var s = spec.Shared;
        var request = new TangentRequest(s.TangentEstimator, Split.Test, s.TangentCount, s.TangentBatchSize,
            s.LocalPcaNeighbours, s.LocalPcaDimension);
        var autoencoder = spec.AutoencoderFor(Dataset.Name);
        var spaces = ManifoldExperiments.Estimate(request, Dataset, () => (AutoencoderTrainer.Run(autoencoder,
            folder.Autoencoder, progress, resume: true, tensorboard: Board("autoencoder")), folder.Autoencoder),
            progress);
        spaces.Save(folder.Tangents);
        scope.MoveToOuter(spaces.Indices, spaces.Bases, spaces.SingularValues);
        return spaces;
    }

    /// <summary>Trains denoiser/ and keeps the denoiser it saved (null when an earlier call trained it).</summary>
    EdmPreconditioner? BuildDenoiser(IProgressSink progress)
    {
        using var _ = NewDisposeScope();         // the training's tensors; the denoiser is a module and stays
        return DenoiserTrainer.Train(spec.DenoiserFor(Dataset.Name), folder.Denoiser, progress, resume: true,
            dataset: Dataset, tensorboard: Board("denoiser")).Denoiser;
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
