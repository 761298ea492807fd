using PagLab.Common;
using PagLab.Data;
using PagLab.IO;
using PagLab.Manifold;
using PagLab.Models;
using static TorchSharp.torch;

namespace PagLab.Experiments;

/// <summary>
/// The tangent-dimension scan of a sweep (`shared.tangentDimensions`, issue 24): per dataset, one autoencoder of
/// latent k per listed k (or local PCA of k directions, `shared.tangentScanEstimator`) and its tangent spaces of the
/// same test images as the shared tangents, built once under
/// shared/&lt;dataset&gt;/kscan/ (one lock for all k) with each k's fit (<see cref="LatentQuality"/>) in
/// latents.json, written last. The process that builds keeps the tangents it built; the others load them.
/// </summary>
public sealed class TangentScanArtefacts : IDisposable
{
    /// <summary>Under shared/&lt;dataset&gt;/: the scan's folder and its lock.</summary>
    public const string Folder = "kscan", LockFile = "kscan.lock", LatentsFile = "latents.json";

    readonly List<(int Latent, TangentSpaces Tangents)> latents;

    TangentScanArtefacts(List<(int, TangentSpaces)> latents, IReadOnlyList<LatentQuality> qualities)
    {
        this.latents = latents;
        Qualities = qualities;
    }

    /// <summary>Each k's tangent spaces, in the spec's order of k.</summary>
    public IReadOnlyList<(int Latent, TangentSpaces Tangents)> Latents => latents;
    /// <summary>Each k's autoencoder and PCA test error and angles to local PCA.</summary>
    public IReadOnlyList<LatentQuality> Qualities { get; }

    public static string Root(SharedFolder shared) => Path.Combine(shared.Root, Folder);
    public static string LatentsPath(SharedFolder shared) => Path.Combine(Root(shared), LatentsFile);
    static string TangentsPath(SharedFolder shared, int k) => Path.Combine(Root(shared), $"tangents-k{k}.safetensors");
    static string AutoencoderDir(SharedFolder shared, int k) =>
        Path.Combine(Root(shared), $"{TangentDimensionScan.AutoencoderPrefix}{k}");

    /// <summary>Whether the scan is on disk (built by any process), without loading it.</summary>
    public static bool Built(SharedFolder shared) => File.Exists(LatentsPath(shared));

    /// <summary>Each k's fit as saved beside the scan's tangents; null when the scan is not built.</summary>
    public static IReadOnlyList<LatentQuality>? ReadQualities(SharedFolder shared) =>
        Built(shared) ? JsonFiles.Read<List<LatentQuality>>(LatentsPath(shared)) : null;

    /// <summary>
    /// The scan of <paramref name="dataset"/>: built here under its lock (kept in memory) or loaded when another
    /// process built it; null when another process holds the lock and <paramref name="wait"/> is false.
    /// <paramref name="read"/> is told each file loaded from disk (the session's log, as for the other artefacts).
    /// </summary>
    public static TangentScanArtefacts? TryLoad(SweepSpec spec, SharedFolder shared, IDataset dataset,
        IProgressSink progress, bool wait, Action<string> read, string? tensorboard = null)
    {
        if (!Built(shared))
        {
            Directory.CreateDirectory(shared.Root);
            using var held = wait ? WaitForLock(Path.Combine(shared.Root, LockFile), progress)
                : JobLock.TryAcquire(Path.Combine(shared.Root, LockFile));
            if (held is null) return null;
            if (!Built(shared)) return Build(spec, shared, dataset, progress, tensorboard);
        }
        var ks = spec.Shared.TangentDimensions!;
        var loaded = new List<(int, TangentSpaces)>();
        try
        {
            foreach (int k in ks)
            {
                read(TangentsPath(shared, k));
                loaded.Add((k, TangentSpaces.Load(TangentsPath(shared, k))));
            }
        }
        catch
        {
            foreach (var (_, t) in loaded) t.Dispose();
            throw;
        }
        read(LatentsPath(shared));
        return new TangentScanArtefacts(loaded, ReadQualities(shared)!);
    }

    /// <summary>Trains each k's autoencoder (the sweep's shared.autoencoder with latent k), saves its tangents, and
    /// writes latents.json last.</summary>
    static TangentScanArtefacts Build(SweepSpec spec, SharedFolder shared, IDataset dataset, IProgressSink progress,
        string? tensorboard)
    {
        Directory.CreateDirectory(Root(shared));
        var built = new List<(int, TangentSpaces)>();
        var qualities = new List<LatentQuality>();
        try
        {
            using var pca = PcaBasis.Fit(dataset.Train.Images);
            foreach (int k in spec.Shared.TangentDimensions!)
            {
                var s = spec.Shared;
                LatentQuality quality;
                var tangents = s.TangentScanEstimator == TangentEstimator.LocalPca
                    ? TangentDimensionScan.BuildLocalPcaLatent(dataset, pca, k, s.TangentCount, s.LocalPcaNeighbours,
                        out quality)
                    : ReusesMain(spec, shared, dataset, k)
                        ? TangentDimensionScan.BuildLatent(spec.AutoencoderFor(dataset.Name), k, shared.Autoencoder,
                            dataset, pca, s.TangentCount, s.LocalPcaNeighbours, s.TangentBatchSize, progress,
                            out quality)
                        : TangentDimensionScan.BuildLatent(spec.AutoencoderFor(dataset.Name) with { Latent = k }, k,
                            AutoencoderDir(shared, k), dataset, pca, s.TangentCount, s.LocalPcaNeighbours,
                            s.TangentBatchSize, progress, out quality, tensorboard is null ? null
                                : Path.Combine(tensorboard, $"k{k}"));
                built.Add((k, tangents));
                tangents.Save(TangentsPath(shared, k));
                qualities.Add(quality with { MeanAngleToExactDegrees =
                    TangentDimensionScan.MeanAngleToExact(tangents, dataset) });
            }
            JsonFiles.Write(LatentsPath(shared), qualities);
            return new TangentScanArtefacts(built, qualities);
        }
        catch
        {
            foreach (var (_, t) in built) t.Dispose();
            throw;
        }
    }

    /// <summary>Whether k is the latent of the sweep's own autoencoder, already trained (its tangents are saved):
    /// then the scan takes it (same config, same run) instead of training its twin.</summary>
    static bool ReusesMain(SweepSpec spec, SharedFolder shared, IDataset dataset, int k) =>
        spec.Measure.Manifold && spec.Shared.TangentEstimator == TangentEstimator.Autoencoder
        && (spec.Shared.Autoencoder.Latent ?? AutoencoderSpec.DefaultLatent(dataset.Shape)) == k
        && File.Exists(shared.Tangents);

    static JobLock WaitForLock(string path, IProgressSink progress)
    {
        bool said = false;
        while (true)
        {
            if (JobLock.TryAcquire(path) is { } held) return held;
            if (said) { Thread.Sleep(1000); continue; }
            progress.Line("waiting for another process building the tangent-dimension scan");
            said = true;
        }
    }

    /// <summary>
    /// One model's on/off (with isotropic noise and the median per image) at every k and epsilon of the spec, on
    /// each k's tangents with the same images and draws (the job's seed) at every k.
    /// </summary>
    public List<SensitivityResult> Measure(ImageClassifier model, string label, IDataset dataset, SweepSpec spec,
        OutputMeasure measure, long seed, IProgressSink progress)
    {
        var cells = new List<SensitivityResult>();
        foreach (var (k, tangents) in latents)
        {
            using var _ = NewDisposeScope();
            var (images, _) = ManifoldExperiments.ImagesOf(tangents, dataset, $"the scan's tangents at k = {k}");
            var results = TangentDimensionScan.MeasureLatent(model, label, images, tangents, k, spec.Measure.Epsilons,
                spec.Measure.Draws, measure, seed, spec.Measure.BatchImages, progress);
            cells.AddRange(results.Select(r => SensitivityResult.ForLatent(r, k)));
        }
        return cells;
    }

    public void Dispose()
    {
        foreach (var (_, t) in latents) t.Dispose();
    }
}
