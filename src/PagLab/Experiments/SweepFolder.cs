using System.Text.Json;
using PagLab.Common;
using PagLab.IO;

namespace PagLab.Experiments;

/// <summary>
/// A sweep's folder and every path in it; no other code builds a path inside a sweep.
/// <code>
/// spec.json                     the sweep (written once; a different spec is refused)
/// spec-at-start.json            spec.json as the sweep began: an edited spec.json is refused (its jobs would be
///                               renumbered)
/// jobs/&lt;id&gt;/                    one job: train/, manifold.json, alignment.json, distractor.json, fig6.png,
///                               result.json, error.txt, job.lock
/// shared/&lt;dataset&gt;/             built once per dataset: autoencoder/, tangents.safetensors, fig7.png, denoiser/
/// logs/worker&lt;n&gt;.log           local worker processes; slurm/ and sweep.sbatch for a Slurm array
/// report.html, results.csv      what `paglab demo` writes (with report-figures/)
/// </code>
/// </summary>
public sealed class SweepFolder
{
    public const string SpecFile = "spec.json", StartedSpecFile = "spec-at-start.json";
    /// <summary>Where the demo writes the results table and the report (`results`/`report` may rewrite them).
    /// </summary>
    public const string ResultsFile = "results.csv", ReportFile = "report.html";

    public SweepFolder(string root) => Root = root;

    /// <summary>The folder as given (relative paths stay relative, as the user typed them).</summary>
    public string Root { get; }
    public string Spec => Path.Combine(Root, SpecFile);
    public string StartedSpec => Path.Combine(Root, StartedSpecFile);
    public string JobsRoot => Path.Combine(Root, "jobs");
    public string Logs => Path.Combine(Root, "logs");
    public string WorkerLog(int worker) => Path.Combine(Logs, $"worker{worker}.log");
    /// <summary>progress/: each worker process's <see cref="WorkerProgress"/> file.</summary>
    public string Progress => Path.Combine(Root, "progress");
    public string ProgressFile(int processId) => Path.Combine(Progress, $"{processId}.json");
    public string SlurmLogs => Path.Combine(Root, "slurm");
    public string SlurmScript => Path.Combine(Root, "sweep.sbatch");
    public string Report => Path.Combine(Root, ReportFile);
    public string ResultsCsv => Path.Combine(Root, ResultsFile);
    /// <summary>The spec `paglab demo` writes before it runs (spec.json is the sweep's own copy).</summary>
    public string DemoSpec => Path.Combine(Root, "demo-spec.json");

    public JobFolder Job(SweepJob job) => new(Path.Combine(JobsRoot, job.Id));
    public JobFolder Job(string id) => new(Path.Combine(JobsRoot, id));
    public SharedFolder Shared(string dataset) => new(Path.Combine(Root, "shared", dataset));

    /// <summary>An existing sweep folder; anything else is refused here, with one line.</summary>
    public static SweepFolder Open(string root)
    {
        var folder = new SweepFolder(root);
        if (!File.Exists(folder.Spec)) throw new PagLabException($"{root}: not a sweep folder (no {SpecFile})");
        return folder;
    }

    /// <summary>Whether <paramref name="dir"/> is a sweep folder: spec.json beside what a sweep writes.</summary>
    public static bool IsSweep(string dir)
    {
        var folder = new SweepFolder(dir);
        // spec-at-start.json is written first, so a folder a concurrent `sweep run` is preparing counts as one
        return File.Exists(folder.StartedSpec) || File.Exists(folder.DemoSpec) || File.Exists(folder.Spec)
            && (Directory.Exists(folder.JobsRoot) || Directory.Exists(Path.Combine(dir, "shared"))
                || File.Exists(folder.SlurmScript));
    }

    /// <summary>The sweep's spec (the sweep ran, so its size was accepted); refused when spec.json was edited.
    /// </summary>
    public SweepSpec ReadSpec()
    {
        RefuseEditedSpec(record: false);
        return SweepSpec.Load(Spec, allowLarge: true);
    }

    /// <summary>
    /// A sweep's jobs are numbered by their place in the spec, so spec.json must stay as the sweep began (issue 21.4:
    /// a seed added to it renumbered the jobs and `results` wrote old and new folders). spec-at-start.json keeps it
    /// as written; a folder from before that copy is checked by its job folders, which must all be jobs of its
    /// spec, and gets the copy when <paramref name="record"/> (a run, not a read).
    /// </summary>
    void RefuseEditedSpec(bool record)
    {
        if (!File.Exists(Spec)) return;
        var now = SweepSpec.ReadStored(Spec);
        if (File.Exists(StartedSpec))
        {
            var began = SweepSpec.ReadStored(StartedSpec);
            if (JsonSerializer.Serialize(now, JsonFiles.Options) == JsonSerializer.Serialize(began, JsonFiles.Options))
                return;
            int before = began.Jobs().Count, after = now.Jobs().Count;
            throw new PagLabException($"{Spec} was edited after the sweep began ("
                + (before == after ? "its settings differ" : $"it makes {after} jobs, the sweep began with {before}")
                + $"); a sweep folder's jobs never change: restore it from {StartedSpecFile}, or run the edited "
                + "spec into another `out`");
        }
        var ids = now.Jobs().Select(j => j.Id).ToHashSet(StringComparer.Ordinal);
        var foreign = Directory.Exists(JobsRoot) ? Directory.GetDirectories(JobsRoot).Select(Path.GetFileName)
            .Where(id => !ids.Contains(id!)).Order(StringComparer.Ordinal).ToList() : [];
        if (foreign.Count > 0)
            throw new PagLabException($"{Spec} was edited after the sweep began: {foreign.Count} job folder(s) are "
                + $"not jobs of it (e.g. jobs/{foreign[0]}); run the edited spec into another `out`");
        if (record) AtomicFile.WriteAllText(StartedSpec, UserFile.ReadText(Spec));
    }

    /// <summary>Writes spec.json on first use; refuses a folder that holds a different sweep.</summary>
    public SweepSpec Prepare(SweepSpec spec)
    {
        OutputFolder.Create(Root);
        if (File.Exists(Spec))
        {
            RefuseEditedSpec(record: true);
            // read through today's record, so keys an older spec.json lacks compare as their defaults
            var stored = SweepSpec.ReadStored(Spec);
            // sweeps before the key measured squeeze
            spec = WithLpipsNet(spec, stored.Measure.LpipsNet ?? Metrics.LpipsNet.Squeeze);
            stored = WithLpipsNet(stored, stored.Measure.LpipsNet ?? Metrics.LpipsNet.Squeeze);
            // an unset alignmentSigma keeps the folder's (0.25 in sweeps begun when that was the default)
            spec = spec with { Measure = spec.Measure with
                { AlignmentSigma = spec.Measure.AlignmentSigma ?? stored.Measure.AlignmentSigma } };
            if (JsonSerializer.Serialize(stored, JsonFiles.Options).Trim()
                != JsonSerializer.Serialize(spec, JsonFiles.Options).Trim())
                throw new PagLabException($"{Root} holds a different sweep (its {SpecFile} differs); use another `out` "
                    + "or the same spec");
            return spec;
        }
        string? weights = Environment.GetEnvironmentVariable("PAGLAB_LPIPS_WEIGHTS");
        spec = WithLpipsNet(spec, Metrics.Lpips.DefaultNet(weights, spec.DataRoot));
        string text = JsonSerializer.Serialize(spec, JsonFiles.Options) + "\n";
        AtomicFile.WriteAllText(StartedSpec, text);
        AtomicFile.WriteAllText(Spec, text);
        return spec;
    }

    /// <summary>The spec with its LPIPS network set to <paramref name="net"/> unless the spec names one.</summary>
    static SweepSpec WithLpipsNet(SweepSpec spec, Metrics.LpipsNet net) =>
        spec with { Measure = spec.Measure with { LpipsNet = spec.Measure.LpipsNet ?? net } };

    /// <summary>The job folders that hold a result, in id order.</summary>
    public IEnumerable<JobFolder> FinishedJobs() =>
        Directory.Exists(JobsRoot)
            ? Directory.GetDirectories(JobsRoot).Order(StringComparer.Ordinal).Select(d => new JobFolder(d))
                .Where(j => File.Exists(j.Result))
            : Enumerable.Empty<JobFolder>();
}

/// <summary>jobs/&lt;id&gt;/ of a sweep: the job's training run, measurements, figure and result.</summary>
public sealed record JobFolder(string Root)
{
    public const string ResultFile = "result.json", ErrorFile = "error.txt", LockFile = "job.lock";

    public string Train => Path.Combine(Root, "train");
    public string Manifold => Path.Combine(Root, "manifold.json");
    public string Alignment => Path.Combine(Root, "alignment.json");
    /// <summary>Alignment of a further attribution (measure.attributions): alignment-smoothgrad.json, ...</summary>
    public string AttributionAlignment(Attributions.AttributionKind kind) =>
        Path.Combine(Root, $"alignment-{Common.Vocabulary.Name(kind)}.json");
    public string Distractor => Path.Combine(Root, "distractor.json");
    /// <summary>Figure 6 panel: image, score and this model's gradient for the first test images.</summary>
    public string GradientFigure => Path.Combine(Root, "fig6.png");
    public string Result => Path.Combine(Root, ResultFile);
    public string Error => Path.Combine(Root, ErrorFile);
    public string Lock => Path.Combine(Root, LockFile);
}

/// <summary>shared/&lt;dataset&gt;/ of a sweep: what the jobs of one dataset share, each built once under a lock.
/// </summary>
public sealed record SharedFolder(string Root)
{
    public string Autoencoder => Path.Combine(Root, "autoencoder");
    public string Tangents => Path.Combine(Root, "tangents.safetensors");
    public string TangentsLock => Path.Combine(Root, "tangents.lock");
    /// <summary>Figure 7: test images with on- and off-manifold perturbations of one norm.</summary>
    public string PerturbationFigure => Path.Combine(Root, "fig7.png");
    public string Denoiser => Path.Combine(Root, "denoiser");
    /// <summary>Written last by the denoiser's training: its presence means the denoiser is built.</summary>
    public string DenoiserInfo => Path.Combine(Denoiser, Training.DenoiserTrainer.InfoFile);
    public string DenoiserLock => Path.Combine(Root, "denoiser.lock");
}
