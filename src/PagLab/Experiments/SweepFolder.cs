using System.Text.Json;
using PagLab.Common;
using PagLab.IO;

namespace PagLab.Experiments;

/// <summary>
/// A sweep's folder and every path in it; no other code builds a path inside a sweep.
/// <code>
/// spec.json                     the sweep (written once; a different spec is refused)
/// jobs/&lt;id&gt;/                    one job: train/, manifold.json, alignment.json, distractor.json, fig6.png,
///                               result.json, error.txt, job.lock
/// shared/&lt;dataset&gt;/             built once per dataset: autoencoder/, tangents.safetensors, fig7.png, denoiser/
/// logs/worker&lt;n&gt;.log           local worker processes; slurm/ and sweep.sbatch for a Slurm array
/// report.html, results.csv      what `paglab demo` writes (with report-figures/)
/// </code>
/// </summary>
public sealed class SweepFolder
{
    public const string SpecFile = "spec.json";

    public SweepFolder(string root) => Root = root;

    /// <summary>The folder as given (relative paths stay relative, as the user typed them).</summary>
    public string Root { get; }
    public string Spec => Path.Combine(Root, SpecFile);
    public string JobsRoot => Path.Combine(Root, "jobs");
    public string Logs => Path.Combine(Root, "logs");
    public string WorkerLog(int worker) => Path.Combine(Logs, $"worker{worker}.log");
    /// <summary>progress/: each worker process's <see cref="WorkerProgress"/> file.</summary>
    public string Progress => Path.Combine(Root, "progress");
    public string ProgressFile(int processId) => Path.Combine(Progress, $"{processId}.json");
    public string SlurmLogs => Path.Combine(Root, "slurm");
    public string SlurmScript => Path.Combine(Root, "sweep.sbatch");
    public string Report => Path.Combine(Root, "report.html");
    public string ResultsCsv => Path.Combine(Root, "results.csv");
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

    /// <summary>The sweep's spec (the sweep ran, so its size was accepted).</summary>
    public SweepSpec ReadSpec() => SweepSpec.Load(Spec, allowLarge: true);

    /// <summary>Writes spec.json on first use; refuses a folder that holds a different sweep.</summary>
    public SweepSpec Prepare(SweepSpec spec)
    {
        Manifold.OutputMeasure.Parse(spec.Measure.Output, "measure.output");
        Directory.CreateDirectory(Root);
        if (File.Exists(Spec))
        {
            // read through today's record, so keys an older spec.json lacks compare as their defaults
            var stored = SweepSpec.ReadStored(Spec);
            spec = WithLpipsNet(spec, stored.Measure.LpipsNet ?? "squeeze");   // sweeps before the key measured squeeze
            stored = WithLpipsNet(stored, stored.Measure.LpipsNet ?? "squeeze");
            // an unset alignmentSigma keeps the folder's (0.25 in sweeps begun when that was the default)
            spec = spec with { Measure = spec.Measure with
                { AlignmentSigma = spec.Measure.AlignmentSigma ?? stored.Measure.AlignmentSigma } };
            if (JsonSerializer.Serialize(stored, JsonFiles.Options).Trim()
                != JsonSerializer.Serialize(spec, JsonFiles.Options).Trim())
                throw new PagLabException($"{Root} holds a different sweep (its {SpecFile} differs); use another `out` "
                    + "or the same spec");
            return spec;
        }
        spec = WithLpipsNet(spec, Metrics.Lpips.DefaultNet(Environment.GetEnvironmentVariable("PAGLAB_LPIPS_WEIGHTS"),
            spec.DataRoot));
        AtomicFile.WriteAllText(Spec, JsonSerializer.Serialize(spec, JsonFiles.Options) + "\n");
        return spec;
    }

    /// <summary>The spec with its LPIPS network set to <paramref name="net"/> unless the spec names one.</summary>
    static SweepSpec WithLpipsNet(SweepSpec spec, string net) =>
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
