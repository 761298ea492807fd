using PagLab.Common;
using PagLab.Experiments;
using PagLab.Training;

namespace PagLab.Tests.Experiments;

/// <summary>
/// A sweep job is one pass: what a process builds or trains it keeps in memory and measures as it is; it reads
/// from disk only what another process (or an earlier call) made, once; LPIPS once per worker session.
/// SweepSession.FilesRead is the log of every artefact or model file a session read.
/// </summary>
public class JobPipelineTests
{
    /// <summary>shapes with a trained autoencoder (tangents) and a trained denoiser: every shared artefact is a file
    /// the sweep writes, unlike subspace-gaussians' exact score.</summary>
    static SweepSpec ShapesSpec() => TinySweep.Spec() with
    {
        Datasets = new[] { "shapes" },
        Train = TinySweep.Spec().Train with { TrainSize = 128, TestSize = 32 },
        Shared = new SharedSettings
        {
            TrainSize = 64, TangentCount = 2, TangentBatchSize = 2,
            Autoencoder = new AutoencoderSettings { Epochs = 1, BatchSize = 32, BaseChannels = 8 },
            Denoiser = new SharedDenoiserSettings { Epochs = 1, BatchSize = 32, BaseChannels = 8 },
        },
        Measure = TinySweep.Spec().Measure with { AlignmentCount = 4, Draws = 2, DistractorCount = 8 },
    };

    static SweepSession RunAll(SweepSession session)
    {
        new SweepScheduler(session, NullProgress.Instance).RunAll(retryFailed: true);
        return session;
    }

    static void AssertCompleted(SweepFolder sweep, IEnumerable<SweepJob> jobs)
    {
        foreach (var job in jobs)
        {
            string error = sweep.Job(job).Error;
            Assert.True(SweepRunner.State(sweep, job) == JobState.Completed,
                $"{job.Id}: {(File.Exists(error) ? File.ReadAllText(error) : SweepRunner.State(sweep, job))}");
        }
    }

    static string? LpipsWeights(SweepSpec spec) =>
        PagLab.Metrics.LpipsChoice.Find(null, spec.DataRoot, spec.Measure.LpipsNet).Weights;

    [Fact]
    public void ASweepInOneProcess_ReadsNoArtefactOrModelItBuiltOrTrained_OnlyTheLpipsWeights()
    {
        var sweep = new SweepFolder(TestPaths.TempDir("one-pass"));
        var spec = sweep.Prepare(ShapesSpec());
        using var session = RunAll(new SweepSession(spec, sweep));
        AssertCompleted(sweep, spec.Jobs());
        // the tangents and the denoiser were built and saved here (for other processes), the models trained here
        Assert.True(File.Exists(sweep.Shared("shapes").Tangents));
        Assert.True(File.Exists(sweep.Shared("shapes").DenoiserInfo));
        Assert.All(spec.Jobs(), j => Assert.NotNull(JobResult.Read(sweep.Job(j).Result).Alignment));
        Assert.Equal(new[] { LpipsWeights(spec)! }, session.FilesRead);
    }

    [Fact]
    public void WhatAnotherProcessBuiltOrAnEarlierCallTrained_IsReadOnce()
    {
        var sweep = new SweepFolder(TestPaths.TempDir("read-once"));
        var spec = sweep.Prepare(ShapesSpec());
        var jobs = spec.Jobs();
        using (var builder = new SweepSession(spec, sweep))                    // "another process"
            Assert.True(builder.TryComplete("shapes", NullProgress.Instance, wait: true));
        var earlier = jobs[0];                                                   // trained by an earlier call
        Trainer.Run(SweepRunner.JobConfig(spec, earlier), sweep.Job(earlier).Train, resume: true);

        using var session = RunAll(new SweepSession(spec, sweep));
        AssertCompleted(sweep, jobs);
        var shared = sweep.Shared("shapes");
        Assert.Equal(new[] { shared.Tangents, shared.DenoiserInfo, LpipsWeights(spec)!, sweep.Job(earlier).Train },
            session.FilesRead);
    }

    [Fact]
    public void Lpips_IsLoadedOncePerSession_AcrossDatasets()
    {
        var sweep = new SweepFolder(TestPaths.TempDir("lpips-once"));
        var spec = sweep.Prepare(ShapesSpec() with
        {
            Datasets = new[] { "subspace-gaussians", "shapes" },
            Measure = ShapesSpec().Measure with { Manifold = false, Distractor = false },
        });
        using var session = RunAll(new SweepSession(spec, sweep));
        AssertCompleted(sweep, spec.Jobs());
        var results = spec.Jobs().Select(j => JobResult.Read(sweep.Job(j).Result)).ToList();
        Assert.Equal(2, results.Select(r => r.Dataset).Distinct().Count());
        // the second dataset's jobs measured 1 - LPIPS with the module the first dataset's jobs loaded
        Assert.All(results, r => Assert.NotNull(r.Alignment!.OneMinusLpips));
        Assert.Equal(new[] { LpipsWeights(spec)! }, session.FilesRead);
        Assert.NotNull(session.Lpips);
    }

    [Fact]
    public void StageSeconds_KeepTheirNamesInResultJson()
    {
        // result.json files of earlier sweeps name their stages so; reports read them through JobStage
        Assert.Equal(new[] { "train", "shared", "evaluate", "manifold", "kscan", "alignment", "distractor" },
            Vocabulary.Names<JobStage>());
        var result = new JobResult
        {
            Format = JobResult.CurrentFormat, Id = "x", Dataset = "d", Objective = "o", Status = JobState.Completed,
            TestAccuracy = PagLab.Uncertainty.Estimate.Empty,
            StageSeconds = new() { [JobStage.Train] = 1.5, [JobStage.Shared] = 2 },
        };
        string path = Path.Combine(TestPaths.TempDir("stages"), JobFolder.ResultFile);
        PagLab.IO.JsonFiles.Write(path, result);
        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(path));
        Assert.Equal(new[] { ("train", 1.5), ("shared", 2.0) }, json.RootElement.GetProperty("stageSeconds")
            .EnumerateObject().Select(p => (p.Name, p.Value.GetDouble())));
        Assert.Equal(result.StageSeconds, JobResult.Read(path).StageSeconds);
    }

    [Fact]
    public void AModelTrainedHere_MeasuresAsItsSavedCopyLoadedByALaterCall()
    {
        // resnet18 has batch norm, so gnorm trains it NCHW; the sweep measures channels-last: the model kept in
        // memory must be converted as SavedModel.Load converts the saved one
        var spec = TinySweep.Spec() with
        {
            Objectives = new[]
                { new PagLab.Objectives.ObjectiveConfig { Kind = PagLab.Objectives.ObjectiveKind.Gnorm, Strengths = new[] { 0.1 } } },
            Train = TinySweep.Spec().Train with
                { Arch = PagLab.Models.Architecture.ResNet18, WidthMultiplier = 0.125, TrainSize = 64, TestSize = 32 },
        };
        var here = new SweepFolder(TestPaths.TempDir("in-memory"));
        var job = spec.Jobs().Single();
        using (var session = RunAll(new SweepSession(here.Prepare(spec), here)))
            Assert.DoesNotContain(here.Job(job).Train, session.FilesRead);
        // the later sweep gets the very model saved here: training again could differ by float noise (thread
        // count, CPU), and a barely trained model's accuracy flips on such noise
        var later = new SweepFolder(TestPaths.TempDir("reloaded"));
        var laterSpec = later.Prepare(spec);
        CopyFolder(here.Job(job).Train, later.Job(job).Train);
        using (var session = RunAll(new SweepSession(laterSpec, later)))
            Assert.Contains(later.Job(job).Train, session.FilesRead);
        AssertCompleted(here, new[] { job });
        AssertCompleted(later, new[] { job });
        var inMemory = Numbers(here.Job(job).Result);
        var reloaded = Numbers(later.Job(job).Result);
        Assert.Equal(reloaded.Keys.Order(), inMemory.Keys.Order());
        Assert.Contains(inMemory.Keys, k => k.Contains("sensitivity", StringComparison.Ordinal));
        Assert.Contains(inMemory.Keys, k => k.Contains("alignment", StringComparison.Ordinal));
        foreach (var (key, value) in reloaded)
            Assert.True(Math.Abs(inMemory[key] - value) <= Float32Tolerance.Of(value, Float32Tolerance.Op),
                $"{key}: {inMemory[key]} measured in memory, {value} from the saved model");
    }

    static void CopyFolder(string from, string to)
    {
        foreach (string file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    /// <summary>Every number in result.json by its path, but the seconds (wall time).</summary>
    static Dictionary<string, double> Numbers(string resultJson)
    {
        var numbers = new Dictionary<string, double>();
        void Walk(System.Text.Json.JsonElement e, string path)
        {
            switch (e.ValueKind)
            {
                case System.Text.Json.JsonValueKind.Object:
                    foreach (var p in e.EnumerateObject().Where(p => p.Name != "stageSeconds"))
                        Walk(p.Value, $"{path}.{p.Name}");
                    break;
                case System.Text.Json.JsonValueKind.Array:
                    int i = 0;
                    foreach (var item in e.EnumerateArray()) Walk(item, $"{path}[{i++}]");
                    break;
                case System.Text.Json.JsonValueKind.Number:
                    numbers[path] = e.GetDouble();
                    break;
            }
        }
        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(resultJson));
        Walk(json.RootElement, "");
        return numbers;
    }
}
