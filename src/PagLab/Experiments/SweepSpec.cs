using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using PagLab.Common;
using PagLab.IO;
using PagLab.Manifold;
using PagLab.Models;
using PagLab.Objectives;
using PagLab.Training;

namespace PagLab.Experiments;

/// <summary>A sweep's denoiser: the template of `paglab denoiser train`, plus whether it is class-conditional.
/// </summary>
public sealed record SharedDenoiserSettings : DenoiserSettings
{
    /// <summary>Null: conditional unless measure.mode is sum (which compares with the unconditional score).</summary>
    public bool? Conditional { get; init; }
}

/// <summary>
/// What the jobs of one dataset share: the autoencoder (template of `paglab autoencoder train`), the tangent
/// spaces (as `paglab tangents`) and the denoiser (template of `paglab denoiser train`), with their defaults.
/// </summary>
public sealed record SharedSettings
{
    public AutoencoderSettings Autoencoder { get; init; } = new();
    public SharedDenoiserSettings Denoiser { get; init; } = new();
    /// <summary>Images the autoencoder and the denoiser train on; null: train.trainSize.</summary>
    public int? TrainSize { get; init; }
    public TangentEstimator TangentEstimator { get; init; } = TangentEstimator.Autoencoder; // true: subspace-gaussians
    public int TangentCount { get; init; } = 64;
    public int TangentBatchSize { get; init; } = 16;                 // autoencoder: images per batched Jacobian
    public int LocalPcaNeighbours { get; init; } = 64;                // local-pca estimator: neighbourhood size
    public int LocalPcaDimension { get; init; } = 16;                 // local-pca estimator: tangent dimension kept
    /// <summary>The tangent-dimension scan (issue 24): one autoencoder of latent k per listed k, built once per
    /// dataset under shared/&lt;dataset&gt;/kscan/, and every job's on/off measured on each one's tangents; null
    /// (the default): no scan.</summary>
    public int[]? TangentDimensions { get; init; }
    /// <summary>How the scan estimates the tangents of each k: autoencoder (the default, as the paper's), or
    /// local-pca (the k principal directions of each image's localPcaNeighbours nearest training images; for data
    /// the autoencoder cannot represent, such as subspace-gaussians-weak, whose pixels are centred at 0).</summary>
    public TangentEstimator TangentScanEstimator { get; init; } = TangentEstimator.Autoencoder;

    /// <summary>Keys of `shared` before it held the templates, and where each one lives now.</summary>
    public static readonly IReadOnlyDictionary<string, string> OldKeys = new Dictionary<string, string>
    {
        ["autoencoderEpochs"] = "autoencoder.epochs", ["autoencoderLatent"] = "autoencoder.latent",
        ["denoiserEpochs"] = "denoiser.epochs", ["denoiserBatchSize"] = "denoiser.batchSize",
        ["denoiserArch"] = "denoiser.arch", ["conditionalDenoiser"] = "denoiser.conditional",
        ["sharedTrainSize"] = "trainSize",
    };

    /// <summary>
    /// Moves the old flat keys of a spec's `shared` section (OldKeys) to their place, so specs and sweep folders
    /// written before still load with the same meaning; returns the keys moved (old, new) for messages.
    /// </summary>
    public static IReadOnlyList<(string Old, string New)> UpgradeOldKeys(JsonNode? spec, string path)
    {
        // JsonObject throws ArgumentException on a key given twice (StrictJson says the same)
        try { return Upgrade(spec, path); }
        catch (ArgumentException e) { throw new DataFormatException(path,
            $"duplicate key ({e.Message.Split('\n')[0]})"); }
    }

    static List<(string, string)> Upgrade(JsonNode? spec, string path)
    {
        var moved = new List<(string, string)>();
        if (spec is not JsonObject root || root["shared"] is not JsonObject shared) return moved;
        foreach (var (old, now) in OldKeys)
        {
            if (!shared.ContainsKey(old)) continue;
            var value = shared[old];
            shared.Remove(old);
            var target = shared;
            var parts = now.Split('.');
            foreach (var part in parts[..^1])
            {
                if (target[part] is null) target[part] = new JsonObject();
                target = target[part] as JsonObject ?? throw new DataFormatException(path,
                    $"'shared.{part}' must be a mapping of keys");
            }
            if (target.ContainsKey(parts[^1]))
                throw new DataFormatException(path, $"'shared.{old}' and 'shared.{now}' are the same setting; "
                    + "keep one");
            target[parts[^1]] = value;
            moved.Add(($"shared.{old}", $"shared.{now}"));
        }
        return moved;
    }
}

public sealed record MeasureSettings
{
    public bool Manifold { get; init; } = true;
    public bool Alignment { get; init; } = true;
    public bool Distractor { get; init; } = true;
    /// <summary>Output change measured (OutputMeasure); softmax-l1, the authors' plots, by default.</summary>
    public OutputChange Output { get; init; } = OutputMeasure.Default.Kind;
    public double[] Epsilons { get; init; } = { 0.5, 1, 2, 4 };
    public int Draws { get; init; } = 16;
    public int AlignmentCount { get; init; } = 64;
    /// <summary>[0,1]-pixel units; unset: the paper's per dataset (Data/Datasets).</summary>
    public double? AlignmentSigma { get; init; }
    public GradientMode Mode { get; init; } = GradientMode.Predicted;  // with a conditional score (docs/score.md)
    /// <summary>Images per batch of the manifold measurement (`paglab measure manifold --batch-images`).</summary>
    public int BatchImages { get; init; } = 16;
    public SigmaGrid DistractorSigmas { get; init; } = new("0,logspace(-2,0.5,10)");
    public int DistractorCount { get; init; } = 500;
    /// <summary>Also measure an untrained model of the sweep's architecture per dataset (same tangents, images and
    /// draws as the first seed's models): the control that says what off/on the architecture and the noise give
    /// before any training (issue 24). Off by default, so older specs run the same jobs.</summary>
    public bool UntrainedControl { get; init; }
    /// <summary>Also measure isotropic noise of the same norm as the on/off perturbations, in the same batch (the
    /// control for how much of off/on is the manifold's and how much any direction's; issue 24). Off by default.
    /// </summary>
    public bool IsotropicControl { get; init; }
    /// <summary>Unset: alex if its weights are found, else squeeze (kept in spec.json)</summary>
    public Metrics.LpipsNet? LpipsNet { get; init; }
    /// <summary>Attributions measured against the score beside the gradient (smoothgrad, integrated-gradients, with
    /// AttributionSettings' defaults); each job writes alignment-NAME.json and results.csv gains their columns.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition =
        System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public Attributions.AttributionKind[]? Attributions { get; init; }
}

/// <summary>
/// A sweep: datasets x objectives x strengths x seeds, plus the settings of training, of the shared
/// artefacts (one autoencoder + tangent file and one denoiser per dataset, built once) and of the
/// measurements. Read from JSON (docs/experiments.md, examples/).
/// </summary>
public sealed record SweepSpec
{
    public string Name { get; init; } = "sweep";
    public required string[] Datasets { get; init; }
    /// <summary>Each objective with the strengths it is trained at (ObjectiveConfig.Strengths).</summary>
    public required ObjectiveConfig[] Objectives { get; init; }
    public long[] Seeds { get; init; } = { 0 };
    public TrainSettings Train { get; init; } = new();
    public SharedSettings Shared { get; init; } = new();
    public MeasureSettings Measure { get; init; } = new();
    public RegimeRule Regimes { get; init; } = new();
    public string? DataRoot { get; init; }
    /// <summary>Models measured beside the trained ones without training (ImportedModels); null: none.</summary>
    public ImportedModel[]? Models { get; init; }

    /// <summary>The most jobs a sweep may have unless forced (allowLarge): each job is a trained model and a folder.
    /// </summary>
    public const int MaxJobs = 10_000;

    /// <summary>Reads and validates the whole spec, every job's configuration included, before anything runs or is
    /// written.</summary>
    public static SweepSpec Load(string path, bool allowLarge = false)
    {
        IReadOnlyList<(string Old, string New)> moved = Array.Empty<(string, string)>();
        try
        {
            var read = YamlFiles.ReadSpec<SweepSpec>(path, json => moved = Upgrade(json, path));
            var spec = ImportedModels.Resolve(read, path);
            spec.Validate(path, allowLarge);
            return spec;
        }
        catch (PagLabException e) when (moved.Count > 0)
        {
            // name the keys as the spec wrote them
            string message = moved.Aggregate(e.Message, (m, key) =>
                Regex.Replace(m, Regex.Escape(key.New) + "(?![A-Za-z0-9])", key.Old));
            throw new PagLabException(message, e);
        }
    }

    /// <summary>A sweep folder's spec.json as any version wrote it (old keys moved; not strict, not validated).
    /// </summary>
    public static SweepSpec ReadStored(string path) => JsonFiles.Read<SweepSpec>(path, json => Upgrade(json, path));

    /// <summary>Old keys of `shared` moved (SharedSettings.UpgradeOldKeys), and each objective's `steps`, the
    /// specs' shorthand for pgd's steps, moved to `pgd.steps` of its ObjectiveConfig.</summary>
    static IReadOnlyList<(string Old, string New)> Upgrade(JsonNode? spec, string path)
    {
        var moved = SharedSettings.UpgradeOldKeys(spec, path);
        if (spec is not JsonObject root || root["objectives"] is not JsonArray objectives) return moved;
        string pgdKey = JsonFiles.Options.PropertyNamingPolicy!.ConvertName(nameof(ObjectiveConfig.Pgd)),
            stepsKey = JsonFiles.Options.PropertyNamingPolicy.ConvertName(nameof(Attacks.PgdConfig.Steps));
        foreach (var objective in objectives.OfType<JsonObject>())
        {
            if (!objective.TryGetPropertyValue(stepsKey, out var steps)) continue;
            objective.Remove(stepsKey);
            if (objective[pgdKey] is null) objective[pgdKey] = new JsonObject();
            var pgd = objective[pgdKey] as JsonObject
                ?? throw new DataFormatException(path, $"an objective's '{pgdKey}' must be a mapping of keys");
            if (pgd.ContainsKey(stepsKey))
                throw new DataFormatException(path, $"an objective's '{stepsKey}' and '{pgdKey}.{stepsKey}' are the "
                    + "same setting; keep one");
            pgd[stepsKey] = steps;
        }
        return moved;
    }

    public void Validate(string where, bool allowLarge = false)
    {
        Require.That(IsSafeName(Name),
            $"{where}: 'name' '{SlurmScript.Printable(Name)}' may hold only letters, digits, '.', '_' and '-' (at "
            + $"most 64)");
        Require.That(Datasets is { Length: > 0 }, $"{where}: 'datasets' is empty");
        Require.That(Objectives is { Length: > 0 }, $"{where}: 'objectives' is empty");
        Require.That(Seeds is { Length: > 0 }, $"{where}: 'seeds' is empty");
        foreach (var d in Datasets)
            Require.That(Data.Datasets.Names.Contains(d), $"{where}: unknown dataset '{d}'");
        foreach (var o in Objectives)
        {
            string objective = $"{where}: objective '{Vocabulary.Name(o.Kind)}'";
            Require.That(o.Strengths is not { Length: 0 }, $"{objective} needs strengths >= 0");
            foreach (var s in o.Strengths ?? [])
            {
                // a literal like 1e400 reads as infinity: say so, not "negative"
                Require.That(double.IsFinite(s), $"{objective}: strength {s} is not a finite number");
                Require.That(s >= 0, $"{objective}: strength {s} is negative; strengths must be >= 0");
            }
        }
        try { new TrainConfig(Train) { Dataset = Datasets[0] }.Validate(); }
        catch (PagLabException e) { throw new PagLabException($"{where}: train.{e.Message}"); }
        try { TrainingPresets.Validate(Train.Preset, Datasets); }
        catch (PagLabException e) { throw new PagLabException($"{where}: train.{e.Message}"); }
        ValidateShared(where);
        ImportedModels.Validate(this, where);
        Regimes.Validate(where);
        ValidateGrid(where, allowLarge);
        ValidateJobs(where);
    }

    /// <summary>The shared artefacts' settings, checked as their trainers will check them.</summary>
    void ValidateShared(string where)
    {
        var s = Shared;
        Require.That(s.TrainSize is not int n || n >= 1, $"{where}: shared.trainSize must be >= 1, got {s.TrainSize}");
        Require.That(s.TangentCount >= 1 && s.TangentBatchSize >= 1 && s.LocalPcaNeighbours >= 1
            && s.LocalPcaDimension >= 1,
            $"{where}: shared.tangentCount, tangentBatchSize, localPcaNeighbours and localPcaDimension must be at "
            + "least 1");
        Require.That(s.TangentDimensions is not { } ks || ks.Length > 0 && ks.All(k => k >= 1)
            && ks.Distinct().Count() == ks.Length,
            $"{where}: shared.tangentDimensions must list distinct latent dimensions k >= 1");
        // Local PCA of dimension r needs r + 1 neighbours; the scan compares every k with local-PCA tangents, so
        // this is checked here rather than when the scan reaches its largest k, after the jobs have trained.
        int widest = Math.Max(s.TangentEstimator == TangentEstimator.LocalPca ? s.LocalPcaDimension : 0,
            s.TangentDimensions?.Max() ?? 0);
        Require.That(widest < s.LocalPcaNeighbours,
            $"{where}: shared.localPcaNeighbours ({s.LocalPcaNeighbours}) must exceed the largest local-PCA tangent "
            + $"dimension ({widest}, from shared.tangentDimensions or localPcaDimension); "
            + $"set it to at least {widest + 1}");
        Require.That(s.TangentScanEstimator != TangentEstimator.True,
            $"{where}: shared.tangentScanEstimator must be autoencoder or local-pca (the exact tangent space has one "
            + "dimension; shared.tangentEstimator true measures on it)");
        Require.That(s.TangentDimensions is null || Measure.Manifold,
            $"{where}: shared.tangentDimensions scans the on/off measurement; set measure.manifold to true");
        try { AutoencoderFor(Datasets[0]).Validate(); }
        catch (PagLabException e) { throw new PagLabException($"{where}: shared.autoencoder.{e.Message}"); }
        try { DenoiserFor(Datasets[0]).Validate(); }
        catch (PagLabException e) { throw new PagLabException($"{where}: shared.denoiser.{e.Message}"); }
        Require.That(!(Measure.Mode == GradientMode.Sum && s.Denoiser.Conditional == true),
                     $"{where}: measure.mode sum compares with the unconditional score; "
                     + "set shared.denoiser.conditional to false");
    }

    /// <summary>No entry twice (it would run twice or share a folder), and at most <see cref="MaxJobs"/> jobs unless
    /// forced.</summary>
    void ValidateGrid(string where, bool allowLarge)
    {
        string? Twice<T>(IEnumerable<T> items) => items.GroupBy(x => x).FirstOrDefault(g =>
            g.Count() > 1)?.Key?.ToString();
        if (Twice(Datasets) is { } d) throw new PagLabException($"{where}: dataset '{d}' is listed twice");
        if (Twice(Seeds) is { } seed) throw new PagLabException($"{where}: seed {seed} is listed twice");
        foreach (var o in Objectives)
            if (Twice(o.Strengths ?? []) is { } strength)
                throw new PagLabException(
                    $"{where}: objective '{Vocabulary.Name(o.Kind)}' lists strength {strength} twice");
        long jobs = (long)Datasets.Length * Seeds.Length * Objectives.Sum(o => (long)StrengthsOf(o).Length);
        if (jobs > MaxJobs && !allowLarge)
            throw new PagLabException($"{where}: {jobs} jobs, more than {MaxJobs}; pass `allowLarge` if you mean it");
        // the same training: equal dataset, seed and objective config (as its run.json will hold it)
        var twice = Jobs().Where(j => j.Imported is null)
                          .GroupBy(j => (j.Dataset, JsonSerializer.Serialize(j.Config, JsonFiles.Options), j.Seed))
                          .FirstOrDefault(g => g.Count() > 1);
        if (twice is not null)
            throw new PagLabException($"{where}: jobs {string.Join(" and ", twice.Select(j => j.Id))} are the same "
                + $"training (an objective listed twice)");
    }

    /// <summary>Each job's objective and training settings checked as the trainer will check them, so no job fails on
    /// its config.</summary>
    void ValidateJobs(string where)
    {
        Require.That(ModelFactory.Architectures.Contains(Train.Arch),
            $"{where}: train.arch '{Vocabulary.Name(Train.Arch)}' cannot be trained "
            + $"(trainable: {string.Join(", ", ModelFactory.Architectures.Select(Vocabulary.Name))})");
        Require.That(Measure.Epsilons is { Length: > 0 } && Measure.Epsilons.All(e => e > 0
            && e <= Attacks.PgdConfig.MaxEpsilon),
            $"{where}: measure.epsilons must be a non-empty list of numbers in (0, {Attacks.PgdConfig.MaxEpsilon}]");
        Require.That(Measure.Draws >= 1 && Measure.AlignmentCount >= 1 && Measure.DistractorCount >= 1
            && Measure.BatchImages >= 1,
            $"{where}: measure.draws, alignmentCount, distractorCount and batchImages must be at least 1");
        Require.That(Measure.AlignmentSigma is not double s || s > 0 && double.IsFinite(s),
                     $"{where}: measure.alignmentSigma must be a positive number");
        Require.That(Measure.Attributions is not { } listed || listed.Distinct().Count() == listed.Length,
            $"{where}: measure.attributions names an attribution twice");
        foreach (var job in Jobs().DistinctBy(j => (j.Objective, j.Strength)))
        {
            try
            {
                PagLab.Models.ActivationSpec.Parse(Train.Activation);
                var config = new TrainConfig(Train)
                    { Dataset = job.Dataset, Objective = job.Config };
                config.Validate();
                config.Objective.Create(config.BatchSize);
            }
            catch (PagLabException e) { throw new PagLabException($"{where}: job {job.Id}: {e.Message}"); }
        }
    }

    /// <summary>A name that is safe in file names, Slurm job names and shell lines.</summary>
    public static bool IsSafeName(string? name) =>
        name is { Length: >= 1 and <= 64 } && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-')
            && name[0] != '-';

    /// <summary>Every job, in a fixed order (the index a Slurm array task runs).</summary>
    public IReadOnlyList<SweepJob> Jobs()
    {
        var jobs = new List<SweepJob>();
        foreach (var dataset in Datasets)
            foreach (var objective in Objectives)
                foreach (var strength in StrengthsOf(objective))
                    foreach (var seed in Seeds)
                        jobs.Add(new SweepJob(jobs.Count, dataset, objective, strength, seed));
        jobs.AddRange(ImportedModels.Jobs(this, jobs.Count));
        return jobs;
    }

    /// <summary>The strengths an objective entry trains at: 0 alone for standard or when none are listed.</summary>
    static double[] StrengthsOf(ObjectiveConfig objective) =>
        objective.Kind == ObjectiveKind.Standard || objective.Strengths is null ? new[] { 0.0 } : objective.Strengths;

    /// <summary>The shared autoencoder's run for a dataset: `shared.autoencoder` on the sweep's data, seed 0.
    /// </summary>
    public AutoencoderConfig AutoencoderFor(string dataset) => new(Shared.Autoencoder)
    {
        Dataset = dataset, TrainSize = Shared.TrainSize ?? Train.TrainSize, TestSize = Train.TestSize,
        DataRoot = DataRoot, Seed = 0,
    };

    /// <summary>The shared denoiser's run for a dataset: `shared.denoiser` on the sweep's data, seed 0.</summary>
    public DenoiserConfig DenoiserFor(string dataset) => new(Shared.Denoiser)
    {
        Dataset = dataset, Conditional = Shared.Denoiser.Conditional ?? Measure.Mode != GradientMode.Sum,
        TrainSize = Shared.TrainSize ?? Train.TrainSize, DataRoot = DataRoot, Seed = 0,
    };

    /// <summary>The demo: a small version of the whole study on the embedded shapes-distractor data.</summary>
    public static SweepSpec Demo() => new()
    {
        Name = "demo",
        Datasets = new[] { Data.Datasets.Name(Data.DatasetName.ShapesDistractor) },
        Objectives = new[]
        {
            new ObjectiveConfig { Kind = ObjectiveKind.Standard },
            new ObjectiveConfig { Kind = ObjectiveKind.Gnorm, Strengths = new[] { 0.01, 0.1, 1, 10 } },
            new ObjectiveConfig { Kind = ObjectiveKind.RandSmooth, Strengths = new[] { 0.05, 0.1, 0.2, 0.3 } },
            new ObjectiveConfig { Kind = ObjectiveKind.Pgd, Strengths = new[] { 0.1, 0.25, 0.5, 1 },
                Pgd = new() { Steps = 3 } },
        },
        Seeds = new long[] { 0 },
        // Sized to finish in under 15 minutes on 2 cores of an AVX2-only CPU (Zen 3), the slowest machine
        // measured; a Zen 5 with AVX-512 takes about half that (docs/experiments.md).
        // Batch 32 gives more Adam steps per image. 4,000 training images and 8 draws (from 5,000 and 10) brought
        // it under 15 minutes with the intervals and findings of docs/experiments.md.
        Train = new TrainSettings { Epochs = 3, TrainSize = 4000, TestSize = 1000, BatchSize = 32,
            LearningRate = 2e-3 },
        Shared = new SharedSettings
        {
            Autoencoder = new() { Epochs = 3 }, Denoiser = new() { Epochs = 2, BatchSize = 64 }, TrainSize = 4000,
            TangentCount = 32,
            // the tangent-dimension control (issue 24): three more 3-epoch autoencoders, small k set
            TangentDimensions = new[] { 8, 16, 32 },
        },
        // alignment at 0.25 as measured in docs/experiments.md (the paper names no level for such data); the
        // untrained control says what off/on the architecture and the noise give before training, isotropic noise
        // what any direction of the same norm does (issue 24)
        Measure = new MeasureSettings { AlignmentCount = 48, Draws = 8, DistractorCount = 300, AlignmentSigma = 0.25,
            UntrainedControl = true, IsotropicControl = true },
    };

    /// <summary>The paper-scale spec over the datasets present (what the demo runs at full scale).</summary>
    public static SweepSpec Full(IEnumerable<string> datasets) => Demo() with
    {
        Name = "full",
        Datasets = datasets.ToArray(),
        Objectives = new[]
        {
            new ObjectiveConfig { Kind = ObjectiveKind.Standard },
            new ObjectiveConfig { Kind = ObjectiveKind.Gnorm, Strengths = new[] { 0.001, 0.01, 0.1, 1, 10, 100 } },
            new ObjectiveConfig
                { Kind = ObjectiveKind.Smooth, Strengths = new[] { 0.01, 0.1, 1, 10, 100 }, Sigma = 0.1 },
            new ObjectiveConfig { Kind = ObjectiveKind.RandSmooth, Strengths = new[] { 0.05, 0.1, 0.25, 0.5, 1 } },
            new ObjectiveConfig { Kind = ObjectiveKind.Pgd, Strengths = new[] { 0.25, 0.5, 1, 2, 4, 8 },
                Pgd = new() { Steps = 10 } },
        },
        Seeds = new long[] { 0, 1, 2 },
        Train = new TrainSettings { Epochs = 10 },
        Shared = new SharedSettings
            { Autoencoder = new() { Epochs = 20 }, Denoiser = new() { Epochs = 30 }, TangentCount = 256 },
        Measure = new MeasureSettings { AlignmentCount = 256, Draws = 32, DistractorCount = 2000 },
    };
}

/// <summary>One job: the spec's <paramref name="Objective"/> entry trained at <paramref name="Strength"/>.</summary>
public sealed record SweepJob(int Index, string Dataset, ObjectiveConfig Objective, double Strength, long Seed)
{
    /// <summary>The objective the job trains (its run.json's).</summary>
    public ObjectiveConfig Config => Objective.At(Strength);

    /// <summary>Set for a model the sweep measures without training it.</summary>
    public ImportedModel? Imported { get; init; }

    /// <summary>The objective's name, or "imported" for a model the sweep does not train.</summary>
    public string ObjectiveName => Imported is null ? Vocabulary.Name(Objective.Kind) : ImportedModel.Objective;

    public string Id => Imported is { } m ? $"{Index:D3}-{Dataset}-{ImportedModel.Objective}-{m.Name}"
        : $"{Index:D3}-{Dataset}-{ObjectiveName}-"
            + $"{Strength.ToString("G4", CultureInfo.InvariantCulture)}-s{Seed}";
}
