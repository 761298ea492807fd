using PagLab.Common;
using PagLab.Metrics;
using PagLab.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Experiments;

/// <summary>
/// One worker process's view of a sweep: the shared artefacts of the dataset whose jobs run now (jobs come
/// dataset by dataset, so one set is kept; their tensors live in a dispose scope of their own, opened between
/// jobs and freed on this thread when the dataset changes or the session ends) and LPIPS, loaded once for every
/// job this worker runs.
/// </summary>
public sealed class SweepSession : IDisposable
{
    readonly string? tensorboard;
    readonly List<string> filesRead = new();
    readonly Dictionary<string, ImageClassifier> deferred = new();     // by job id: trained here, not yet measured
    SharedArtefacts? current;
    DisposeScope? scope;
    Lpips? lpips;
    bool lpipsLooked;                    // LPIPS is looked for once: without weights it stays null

    /// <param name="spec">The sweep's spec as <see cref="SweepFolder.Prepare"/> gave it.</param>
    /// <param name="tensorboard">TensorBoard logs of the shared trainings: DIR/shared-&lt;dataset&gt;/autoencoder and
    /// /denoiser (the jobs' own go to DIR/&lt;job id&gt;).</param>
    public SweepSession(SweepSpec spec, SweepFolder folder, string? tensorboard = null)
    {
        Spec = spec;
        Folder = folder;
        this.tensorboard = tensorboard;
    }

    public SweepSpec Spec { get; }
    public SweepFolder Folder { get; }
    /// <summary>TensorBoard folder of the trainings, or null: DIR/&lt;job id&gt; and DIR/shared-&lt;dataset&gt;.
    /// </summary>
    public string? Tensorboard => tensorboard;
    /// <summary>Seconds spent building or waiting for shared artefacts in calls that deferred their job; the next
    /// job this worker finishes reports them in its "shared" stage.</summary>
    public double UnreportedSharedSeconds { get; set; }
    /// <summary>LPIPS when the spec measures alignment and weights are found ($PAGLAB_LPIPS_WEIGHTS or the data
    /// root's weights/), else null (SSIM and cosine only).</summary>
    public Lpips? Lpips => lpips;

    /// <summary>
    /// Every artefact or model file this session read from disk, in order (datasets aside): shared artefacts another
    /// process (or an earlier call) built, models trained or imported elsewhere, LPIPS weights. What it built or
    /// trained itself is never here: that stays in memory.
    /// </summary>
    public IReadOnlyList<string> FilesRead => filesRead;

    /// <summary>The dataset's artefacts with only the dataset loaded for sure (all that training needs); those of
    /// the previous dataset are freed. Call between jobs, outside a job's dispose scope.</summary>
    public SharedArtefacts Open(string dataset)
    {
        if (current?.Name == dataset) return current;
        ReleaseDataset();
        scope = NewDisposeScope();
        try
        {
            return current = SharedArtefacts.Open(Spec, Folder.Shared(dataset), dataset,
                tensorboard is null ? null : Path.Combine(tensorboard, $"shared-{dataset}"), filesRead.Add);
        }
        catch
        {
            ReleaseDataset();
            throw;
        }
    }

    /// <summary>
    /// Builds (or loads) the rest of <see cref="Open"/>'s artefacts, and LPIPS (same scope rule as
    /// <see cref="Open"/>); without <paramref name="wait"/>, false when another process is still building one.
    /// </summary>
    public bool TryComplete(string dataset, IProgressSink progress, bool wait)
    {
        var shared = Open(dataset);
        try
        {
            bool complete = shared.TryComplete(progress, wait);
            if (complete && Spec.Measure.Alignment && !lpipsLooked) LoadLpips();
            return complete;
        }
        catch
        {
            ReleaseDataset();
            throw;
        }
    }

    /// <summary>Keeps the model of a job this worker trained and deferred, until the job is measured here
    /// (<see cref="TakeDeferred"/>) or elsewhere (<see cref="DropDeferred"/>): it is never read back from disk.
    /// </summary>
    public void KeepDeferred(SweepJob job, ImageClassifier model)
    {
        DropDeferred(job);
        deferred[job.Id] = model;
    }

    /// <summary>The kept model of a deferred job, which the caller now owns; null when none is kept.</summary>
    public ImageClassifier? TakeDeferred(SweepJob job) => deferred.Remove(job.Id, out var model) ? model : null;

    /// <summary>Frees the kept model of a deferred job another worker measured.</summary>
    public void DropDeferred(SweepJob job) => TakeDeferred(job)?.Dispose();

    /// <summary>A model trained or imported outside this session, loaded as the sweep measures models.</summary>
    public ImageClassifier LoadModel(string dir)
    {
        filesRead.Add(dir);
        return SavedModel.Load(dir, channelsLast: Spec.Train.UsesChannelsLast);
    }

    // Prepare resolves an unset network; an LPIPS module's weights outlive the dataset's dispose scope
    void LoadLpips()
    {
        var choice = LpipsChoice.Find(null, Spec.DataRoot, Spec.Measure.LpipsNet);
        if (choice.Weights is not null)
        {
            filesRead.Add(choice.Weights);
            lpips = choice.Load();
        }
        lpipsLooked = true;
    }

    void ReleaseDataset()
    {
        current?.Dispose();
        scope?.Dispose();
        (current, scope) = (null, null);
    }

    public void Dispose()
    {
        foreach (var model in deferred.Values) model.Dispose();
        deferred.Clear();
        ReleaseDataset();
        lpips?.Dispose();
        lpips = null;
    }
}
