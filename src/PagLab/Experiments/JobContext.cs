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
    SharedArtefacts(string name, IDataset dataset, string tangentsPath)
    {
        Name = name;
        Dataset = dataset;
        TangentsPath = tangentsPath;
    }

    public string Name { get; }
    /// <summary>Where the tangent spaces are saved (reports name them by it).</summary>
    public string TangentsPath { get; }
    public IDataset Dataset { get; }
    /// <summary>Null unless the spec measures manifold robustness.</summary>
    public TangentSpaces? Tangents { get; private set; }
    /// <summary>Null unless the spec measures alignment.</summary>
    public IDenoiser? Denoiser { get; private set; }

    /// <summary>Loads the dataset, builds what is missing in folder, then loads it.</summary>
    public static SharedArtefacts Load(SweepSpec spec, SharedFolder folder, string name, IProgressSink progress)
    {
        var shared = new SharedArtefacts(name, LoadDataset(spec, name), folder.Tangents);
        try
        {
            // Building frees its tensors here; what is kept below is owned by this object.
            if (spec.Measure.Manifold)
            {
                using (NewDisposeScope()) BuildTangents(spec, folder, shared.Dataset, progress);
                shared.Tangents = TangentSpaces.Load(folder.Tangents);
                if (!File.Exists(folder.PerturbationFigure))
                    using (NewDisposeScope())
                        ManifoldExperiments.ShowPerturbations(shared.Tangents, folder.Tangents, shared.Dataset,
                            folder.PerturbationFigure, 6, 2.0, 0, 3);
            }
            if (spec.Measure.Alignment)
            {
                if (shared.Dataset is SubspaceGaussians exact) shared.Denoiser = new ExactDenoiser(exact);
                else
                {
                    using (NewDisposeScope()) BuildDenoiser(spec, folder, shared.Dataset, progress);
                    shared.Denoiser = SavedDenoiser.Load(folder.Denoiser);
                }
            }
            return shared;
        }
        catch
        {
            shared.Dispose();
            throw;
        }
    }

    /// <summary>The dataset every job of a sweep trains and measures on (data seed 0, the spec's sizes).</summary>
    public static IDataset LoadDataset(SweepSpec spec, string dataset) =>
        Datasets.Load(dataset, new DataOptions(spec.DataRoot, 0, spec.Train.TrainSize, spec.Train.TestSize));

    /// <summary>Builds tangents.safetensors once (the autoencoder first when that is the estimator).</summary>
    static void BuildTangents(SweepSpec spec, SharedFolder folder, IDataset dataset, IProgressSink progress)
    {
        if (File.Exists(folder.Tangents)) return;
        using var held = WaitForLock(folder.TangentsLock, progress, "tangent spaces");
        if (File.Exists(folder.Tangents)) return;
        var s = spec.Shared;
        var estimator = s.TangentEstimator;
        TangentSpaces spaces;
        if (estimator == TangentEstimator.Autoencoder)
        {
            using var autoencoder = AutoencoderTrainer.Run(spec.AutoencoderFor(dataset.Name), folder.Autoencoder,
                progress, resume: true);
            spaces = ManifoldExperiments.EstimateWithAutoencoder(autoencoder, folder.Autoencoder, dataset, Split.Test,
                s.TangentCount, s.TangentBatchSize, progress);
        }
        else if (estimator == TangentEstimator.LocalPca)
            spaces = ManifoldExperiments.EstimateWithLocalPca(dataset, Split.Test, s.TangentCount, s.LocalPcaNeighbours,
                s.LocalPcaDimension);
        else spaces = TangentCheck.TrueSpaces(dataset, Split.Test, s.TangentCount);
        using (spaces) spaces.Save(folder.Tangents);
    }

    /// <summary>Trains denoiser/ once.</summary>
    static void BuildDenoiser(SweepSpec spec, SharedFolder folder, IDataset dataset, IProgressSink progress)
    {
        if (File.Exists(folder.DenoiserInfo)) return;
        using var held = WaitForLock(folder.DenoiserLock, progress, "denoiser");
        if (File.Exists(folder.DenoiserInfo)) return;
        DenoiserTrainer.Run(spec.DenoiserFor(dataset.Name), folder.Denoiser, progress, resume: true,
            dataset: dataset);
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

    public SweepSession(SweepSpec spec, SweepFolder folder)
    {
        Spec = spec;
        Folder = folder;
    }

    public SweepSpec Spec { get; }
    public SweepFolder Folder { get; }
    /// <summary>LPIPS for the current dataset's jobs when the spec measures alignment and weights are found
    /// ($PAGLAB_LPIPS_WEIGHTS or the data root's weights/), else null (SSIM and cosine only).</summary>
    public Lpips? Lpips => lpips;

    /// <summary>The artefacts of one dataset (call between jobs); those of the previous dataset are freed.</summary>
    public SharedArtefacts Shared(string dataset, IProgressSink progress)
    {
        if (current?.Name == dataset) return current;
        Release();
        scope = NewDisposeScope();
        try
        {
            current = SharedArtefacts.Load(Spec, Folder.Shared(dataset), dataset, progress);
            if (Spec.Measure.Alignment) lpips = LoadLpips(Spec);
            return current;
        }
        catch
        {
            Release();
            throw;
        }
    }

    static Lpips? LoadLpips(SweepSpec spec)
    {
        string net = spec.Measure.LpipsNet ?? "squeeze";       // Prepare resolves an unset network
        string? path = Lpips.FindWeights(null, net, spec.DataRoot);
        return path is not null && File.Exists(path) ? Lpips.Load(net, path) : null;
    }

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
    public string ModelDir => Job.Imported?.Path ?? Folder.Train;
}
