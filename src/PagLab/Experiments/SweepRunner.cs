using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using System.Diagnostics;
using System.Text.Json;
using PagLab.Common;
using PagLab.Data;
using PagLab.IO;
using PagLab.Manifold;
using PagLab.Models;
using PagLab.Score;
using PagLab.Training;

namespace PagLab.Experiments;

public enum JobState { Pending, Partial, Running, Completed, Diverged, Failed }

/// <summary>
/// Runs sweep jobs, each in its own folder jobs/&lt;id&gt;/: train (resumable), then measure manifold
/// robustness, perceptual alignment and signal/distractor robustness, then result.json. A job with a
/// result.json is never rerun; a partial one resumes; a job is locked (JobLock) while it runs, so two
/// workers or processes never run one job twice. Shared artefacts (autoencoder + tangent file,
/// denoiser) are built once per dataset under their own locks in shared/&lt;dataset&gt;/.
/// </summary>
public static class SweepRunner
{
    public const string SpecFile = "spec.json", ResultFile = "result.json", ErrorFile = "error.txt", LockFile = "job.lock";

    public static string JobDir(string dir, SweepJob job) => Path.Combine(dir, "jobs", job.Id);
    static string SharedDir(string dir, string dataset) => Path.Combine(dir, "shared", dataset);
    public static string TangentsPath(string dir, string dataset) => Path.Combine(SharedDir(dir, dataset), "tangents.safetensors");
    public static string DenoiserDir(string dir, string dataset) => Path.Combine(SharedDir(dir, dataset), "denoiser");

    /// <summary>
    /// Writes spec.json on first use; refuses a folder that holds a different sweep. Returns the spec to run:
    /// an unset LPIPS network resolved once (Lpips.DefaultNet) and then read from spec.json, so weights that
    /// appear later change neither the sweep's measurements nor whether it resumes.
    /// </summary>
    public static SweepSpec Prepare(SweepSpec spec, string dir)
    {
        OutputMeasure.Parse(spec.Measure.Output, "measure.output");
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, SpecFile);
        string json = JsonSerializer.Serialize(spec, JsonFiles.Options);
        if (File.Exists(path))
        {
            // read through today's record, so keys an older spec.json lacks compare as their defaults
            var stored = JsonFiles.Read<SweepSpec>(path);
            spec = WithLpipsNet(spec, stored.Measure.LpipsNet ?? "squeeze");   // sweeps before the key measured squeeze
            stored = WithLpipsNet(stored, stored.Measure.LpipsNet ?? "squeeze");
            // an unset alignmentSigma keeps the folder's (0.25 in sweeps begun when that was the default)
            spec = spec with { Measure = spec.Measure with
                { AlignmentSigma = spec.Measure.AlignmentSigma ?? stored.Measure.AlignmentSigma } };
            json = JsonSerializer.Serialize(spec, JsonFiles.Options);
            if (JsonSerializer.Serialize(stored, JsonFiles.Options).Trim() != json.Trim())
                throw new PagLabException($"{dir} holds a different sweep (its {SpecFile} differs); use another --out or the same spec");
            return spec;
        }
        spec = WithLpipsNet(spec, Metrics.Lpips.DefaultNet(Environment.GetEnvironmentVariable("PAGLAB_LPIPS_WEIGHTS"),
                                                           spec.DataRoot));
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(spec, JsonFiles.Options) + "\n");
        return spec;
    }

    /// <summary>The spec with its LPIPS network set to <paramref name="net"/> unless the spec names one.</summary>
    static SweepSpec WithLpipsNet(SweepSpec spec, string net) =>
        spec with { Measure = spec.Measure with { LpipsNet = spec.Measure.LpipsNet ?? net } };

    public static JobState State(string dir, SweepJob job)
    {
        string jobDir = JobDir(dir, job);
        string result = Path.Combine(jobDir, ResultFile);
        if (File.Exists(result)) return JobResult.Read(result).Status == JobResult.Diverged ? JobState.Diverged : JobState.Completed;
        if (JobLock.ReadOwner(Path.Combine(jobDir, LockFile)) is { } owner && JobLock.IsAlive(owner)) return JobState.Running;
        if (File.Exists(Path.Combine(jobDir, ErrorFile))) return JobState.Failed;
        return Directory.Exists(jobDir) ? JobState.Partial : JobState.Pending;
    }

    /// <summary>
    /// Runs every job not yet done, in order, skipping ones another live process holds; then waits for
    /// those and runs any that their process abandoned (killed mid-job), so the sweep is finished when this
    /// returns unless a job failed. A job that fails here is not retried in the same call.
    /// Returns the number of jobs not done (see <see cref="Unfinished"/>).
    /// </summary>
    public static int RunAll(SweepSpec spec, string dir, IProgressSink progress, bool retryFailed = true,
                             string? tensorboard = null)
    {
        spec = Prepare(spec, dir);
        var jobs = spec.Jobs();
        var failedHere = new HashSet<int>();
        bool saidWaiting = false;
        while (true)
        {
            int heldElsewhere = 0;
            bool ranAny = false;
            foreach (var job in jobs)
            {
                var state = State(dir, job);
                if (state is JobState.Completed or JobState.Diverged || failedHere.Contains(job.Index)) continue;
                if (state == JobState.Running) { heldElsewhere++; continue; }
                if (state == JobState.Failed && !retryFailed) continue;
                var outcome = RunOne(spec, dir, job.Index, progress, tensorboard);
                if (outcome == JobState.Failed) failedHere.Add(job.Index);
                if (outcome == JobState.Running) heldElsewhere++;
                else ranAny = true;
                int done = jobs.Count(j => State(dir, j) is JobState.Completed or JobState.Diverged);
                progress.Line($"sweep {spec.Name}: {done}/{jobs.Count} jobs done");
            }
            if (heldElsewhere == 0 && !ranAny) break;
            if (heldElsewhere > 0 && !ranAny)
            {
                if (!saidWaiting) progress.Line($"waiting for {heldElsewhere} job(s) held by other processes");
                saidWaiting = true;
                Thread.Sleep(1000);
            }
        }
        return Unfinished(spec, dir).Count;
    }

    /// <summary>The jobs with neither a result nor a divergence, with their states.</summary>
    public static IReadOnlyList<(SweepJob Job, JobState State)> Unfinished(SweepSpec spec, string dir) =>
        Status(spec, dir).Where(s => s.State is not (JobState.Completed or JobState.Diverged)).ToList();

    /// <summary>One line naming the jobs not done, e.g. "2 jobs not done: 001-... (failed), 002-... (partial)".</summary>
    public static string DescribeUnfinished(IReadOnlyList<(SweepJob Job, JobState State)> unfinished)
    {
        var named = unfinished.Take(10).Select(u => $"{u.Job.Id} ({u.State.ToString().ToLowerInvariant()})");
        string more = unfinished.Count > 10 ? $" and {unfinished.Count - 10} more" : "";
        return $"{unfinished.Count} job(s) not done: {string.Join(", ", named)}{more} (see jobs/<id>/{ErrorFile})";
    }

    /// <summary>
    /// Runs one job (the Slurm array task), unless it is done or held by a live process;
    /// <paramref name="tensorboard"/>: TensorBoard scalars of its training in DIR/&lt;job id&gt;.
    /// </summary>
    public static JobState RunOne(SweepSpec spec, string dir, int index, IProgressSink progress,
                                  string? tensorboard = null)
    {
        spec = Prepare(spec, dir);
        var jobs = spec.Jobs();
        Require.That(index >= 0 && index < jobs.Count, $"--index must be in 0..{jobs.Count - 1}, got {index}");
        var job = jobs[index];
        string jobDir = JobDir(dir, job);
        var state = State(dir, job);
        if (state is JobState.Completed or JobState.Diverged) return state;
        using var jobLock = JobLock.TryAcquire(Path.Combine(jobDir, LockFile));
        if (jobLock is null) return JobState.Running;
        if (File.Exists(Path.Combine(jobDir, ResultFile))) return State(dir, job); // finished while we waited
        File.Delete(Path.Combine(jobDir, ErrorFile));
        try
        {
            JobResult result;
            // The job's tensors are freed here, on this thread, when it ends (not by the GC finalizer thread
            // while the next job runs libtorch, which can corrupt the native heap).
            using (torch.NewDisposeScope()) result = Execute(spec, dir, job, progress, tensorboard);
            JsonFiles.Write(Path.Combine(jobDir, ResultFile), result);
            progress.Line($"job {job.Id}: {result.Status}, test accuracy {result.TestAccuracy.Text("F4")}");
            return result.Status == JobResult.Diverged ? JobState.Diverged : JobState.Completed;
        }
        catch (Exception e) when (e is PagLabException or IOException or InvalidOperationException or ArgumentException or System.Runtime.InteropServices.ExternalException)
        {
            AtomicFile.WriteAllText(Path.Combine(jobDir, ErrorFile), e.ToString());
            progress.Line($"job {job.Id} failed: {e.Message.Split('\n')[0]}");
            return JobState.Failed;
        }
    }

    static JobResult Execute(SweepSpec spec, string dir, SweepJob job, IProgressSink progress, string? tensorboard)
    {
        string jobDir = JobDir(dir, job);
        var stages = new Dictionary<string, double>();
        var clock = Stopwatch.StartNew();
        void Stage(string name) { stages[name] = clock.Elapsed.TotalSeconds; clock.Restart(); }

        var dataset = LoadData(spec, job.Dataset);
        bool wantsManifold = spec.Measure.Manifold, wantsAlignment = spec.Measure.Alignment;
        if (wantsManifold) EnsureTangents(spec, dir, job.Dataset, progress);
        if (wantsManifold) EnsurePerturbationFigure(dir, job.Dataset, dataset);
        if (wantsAlignment && dataset is not SubspaceGaussians) EnsureDenoiser(spec, dir, job.Dataset, progress);
        Stage("shared");

        var config = JobConfig(spec, job);
        string runDir = Path.Combine(jobDir, "train");
        var training = Trainer.Run(config, runDir, progress, resume: true,
                                   tensorboard is null ? null : Path.Combine(tensorboard, job.Id));
        Stage("train");
        var measure = OutputMeasure.Parse(spec.Measure.Output, "measure.output");
        double accuracy = training.Metrics.LastOrDefault()?.TestAccuracy ?? double.NaN;
        long testImages = dataset.Test.Count, correct = double.IsFinite(accuracy) ? (long)Math.Round(accuracy * testImages) : 0;
        var baseResult = new JobResult
        {
            Format = JobResult.CurrentFormat, Id = job.Id, Index = job.Index, Dataset = job.Dataset, Objective = job.Objective.Name,
            Strength = job.Strength, Seed = job.Seed, Classes = dataset.Classes, OutputMeasure = measure.Name,
            Status = training.Status == RunStatus.Diverged ? JobResult.Diverged : JobResult.Completed,
            TestCorrect = correct, TestImages = testImages,
            TestAccuracy = double.IsFinite(accuracy) ? Uncertainty.Estimate.Binomial(correct, testImages) : Uncertainty.Estimate.Empty,
            Message = training.Message,
        };
        if (training.Status == RunStatus.Diverged) return baseResult with { StageSeconds = stages };

        var result = baseResult;
        if (wantsManifold)
        {
            var report = ManifoldExperiments.MeasureManifold(runDir, TangentsPath(dir, job.Dataset), dataset, spec.Measure.Epsilons,
                spec.Measure.Draws, measure, job.Seed, 16, NullProgress.Instance);
            ManifoldExperiments.WriteManifoldReport(Path.Combine(jobDir, "manifold.json"), report);
            var rho2 = report.Rho2PerImage.GetValueOrDefault(spec.Measure.Mode);
            result = result with
            {
                Sensitivity = report.Results.Select(SensitivityResult.From).ToList(),
                Rho2Mode = rho2 is null ? null : spec.Measure.Mode,
                Rho2 = rho2 is null ? null : Uncertainty.Bootstrap.Mean(Uncertainty.Bootstrap.Sample.One(rho2)),
                Rho2PerImage = rho2,
            };
            Stage("manifold");
        }
        using var model = SavedModel.Load(runDir);
        if (wantsAlignment)
        {
            using IDenoiser denoiser = dataset is SubspaceGaussians sg ? new ExactDenoiser(sg) : DenoiserTrainer.Load(DenoiserDir(dir, job.Dataset));
            using var lpips = LoadLpips(spec);
            double sigma = spec.Measure.AlignmentSigma ?? AlignmentDefaults.Sigma(job.Dataset);
            var report = AlignmentMeasurement.Measure(model, denoiser, dataset, sigma, spec.Measure.Mode,
                                                      spec.Measure.AlignmentCount, lpips);
            AlignmentMeasurement.Write(Path.Combine(jobDir, "alignment.json"), report);
            // This model's column of Figure 6 (image, score, its gradient), drawn now so the report only renders.
            string label = job.Objective.Name == "standard" ? "standard" : $"{job.Objective.Name} {job.Strength:G3}";
            AlignmentMeasurement.Figure(GradientFigurePath(dir, job.Id), new[] { (label, (Module<Tensor, Tensor>)model) }, denoiser,
                dataset, sigma, spec.Measure.Mode, GradientFigureImages, lpips);
            result = result with { Alignment = AlignmentResult.From(report) };
            Stage("alignment");
        }
        if (spec.Measure.Distractor && dataset.Test.SignalMask is not null)
        {
            var split = dataset.Test.Take(spec.Measure.DistractorCount);
            var report = DistractorRobustness.Measure(model, split, SigmaGrid.Parse(spec.Measure.DistractorSigmas), job.Id, job.Dataset,
                job.Seed, measure);
            DistractorRobustness.Write(Path.Combine(jobDir, "distractor.json"), report);
            result = result with { Distractor = report.Points, DistractorOverSigmas = report.OverSigmas };
            Stage("distractor");
        }
        return result with { StageSeconds = stages };
    }

    /// <summary>A job's training config: the spec's `train` section, its grid point, the preset per dataset.</summary>
    public static TrainConfig JobConfig(SweepSpec spec, SweepJob job) => TrainingPresets.ApplyToSweepJob(
        new TrainConfig(spec.Train)
        {
            Dataset = job.Dataset, Seed = job.Seed, DataSeed = 0, DataRoot = spec.DataRoot,
            Objective = spec.ObjectiveFor(job.Objective, job.Strength),
        }, spec.Train);

    /// <summary>Figure 6 artefact of a job: image, score and the model's gradient for the first test images.</summary>
    public static string GradientFigurePath(string dir, string jobId) => Path.Combine(dir, "jobs", jobId, "fig6.png");
    public const int GradientFigureImages = 5;

    /// <summary>Figure 7 artefact of a dataset: test images with on- and off-manifold perturbations of one norm.</summary>
    public static string PerturbationFigurePath(string dir, string dataset) =>
        Path.Combine(SharedDir(dir, dataset), "fig7.png");

    static void EnsurePerturbationFigure(string dir, string datasetName, IDataset dataset)
    {
        string path = PerturbationFigurePath(dir, datasetName);
        if (!File.Exists(path))
            ManifoldExperiments.ShowPerturbations(TangentsPath(dir, datasetName), dataset, path, 6, 2.0, 0, 3);
    }

    public static IDataset LoadData(SweepSpec spec, string dataset) =>
        Datasets.Load(dataset, new DataOptions(spec.DataRoot, 0, spec.Train.TrainSize, spec.Train.TestSize));

    /// <summary>LPIPS from $PAGLAB_LPIPS_WEIGHTS or the data root's weights/ when present, else null (SSIM and cosine only).</summary>
    public static Metrics.Lpips? LoadLpips(SweepSpec spec)
    {
        string net = spec.Measure.LpipsNet ?? "squeeze";       // Prepare resolves an unset network
        string? path = Metrics.Lpips.FindWeights(null, net, spec.DataRoot);
        return path is not null && File.Exists(path) ? Metrics.Lpips.Load(net, path) : null;
    }

    /// <summary>Builds shared/&lt;dataset&gt;/tangents.safetensors once (autoencoder first when that is the estimator).</summary>
    public static void EnsureTangents(SweepSpec spec, string dir, string datasetName, IProgressSink progress)
    {
        string path = TangentsPath(dir, datasetName);
        if (File.Exists(path)) return;
        using var held = WaitForLock(Path.Combine(SharedDir(dir, datasetName), "tangents.lock"), progress, "tangent spaces");
        if (File.Exists(path)) return;
        var dataset = LoadData(spec, datasetName);
        var s = spec.Shared;
        TangentSpaces spaces;
        if (s.TangentEstimator == "autoencoder")
        {
            string aeDir = Path.Combine(SharedDir(dir, datasetName), "autoencoder");
            using (AutoencoderTrainer.Run(new AutoencoderConfig
                   {
                       Dataset = datasetName, Epochs = s.AutoencoderEpochs, Latent = s.AutoencoderLatent, TrainSize = s.SharedTrainSize ?? spec.Train.TrainSize,
                       TestSize = spec.Train.TestSize, DataRoot = spec.DataRoot, Seed = 0,
                   }, aeDir, progress, resume: true)) { }
            spaces = ManifoldExperiments.EstimateWithAutoencoder(aeDir, dataset, "test", s.TangentCount, 16, progress);
        }
        else if (s.TangentEstimator == "local-pca") spaces = ManifoldExperiments.EstimateWithLocalPca(dataset, "test", s.TangentCount, s.LocalPcaNeighbours, s.LocalPcaDimension);
        else spaces = TangentCheck.TrueSpaces(dataset, "test", s.TangentCount);
        using (spaces) spaces.Save(path);
    }

    /// <summary>Builds shared/&lt;dataset&gt;/denoiser once.</summary>
    public static void EnsureDenoiser(SweepSpec spec, string dir, string datasetName, IProgressSink progress)
    {
        string den = DenoiserDir(dir, datasetName);
        if (File.Exists(Path.Combine(den, DenoiserTrainer.InfoFile))) return;
        using var held = WaitForLock(Path.Combine(SharedDir(dir, datasetName), "denoiser.lock"), progress, "denoiser");
        if (File.Exists(Path.Combine(den, DenoiserTrainer.InfoFile))) return;
        DenoiserTrainer.Run(new DenoiserConfig
        {
            Dataset = datasetName, Epochs = spec.Shared.DenoiserEpochs, BatchSize = spec.Shared.DenoiserBatchSize, TrainSize = spec.Shared.SharedTrainSize ?? spec.Train.TrainSize,
            Arch = spec.Shared.DenoiserArch,
            Conditional = spec.Shared.ConditionalDenoiser ?? spec.Measure.Mode != "sum",
            DataRoot = spec.DataRoot, Seed = 0,
        }, den, progress, resume: true, dataset: LoadData(spec, datasetName));
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

    /// <summary>One line per job for `paglab sweep status`.</summary>
    public static IReadOnlyList<(SweepJob Job, JobState State)> Status(SweepSpec spec, string dir) =>
        spec.Jobs().Select(j => (j, State(dir, j))).ToList();
}
