using PagLab.Common;
using PagLab.Experiments;
using PagLab.Objectives;

namespace PagLab.Tests.Experiments;

public class SweepFolderTests
{
    [Fact]
    public void Open_RefusesAFolderWithoutSpec_WithOneLine()
    {
        string dir = TestPaths.TempDir("notasweep");
        var e = Assert.Throws<PagLabException>(() => SweepFolder.Open(dir));
        Assert.Equal($"{dir}: not a sweep folder (no spec.json)", e.Message);
    }

    [Fact]
    public void Paths_KeepTheLayoutOfSweepsWrittenBefore()
    {
        // Sweep folders written by earlier versions must still load: every name stays where it was.
        var sweep = new SweepFolder("/s");
        var job = TinySweep.Spec().Jobs()[1];
        Assert.Equal("/s/spec.json", sweep.Spec);
        Assert.Equal($"/s/jobs/{job.Id}/result.json", sweep.Job(job).Result);
        Assert.Equal($"/s/jobs/{job.Id}/train", sweep.Job(job.Id).Train);
        Assert.Equal($"/s/jobs/{job.Id}/fig6.png", sweep.Job(job).GradientFigure);
        Assert.Equal($"/s/jobs/{job.Id}/job.lock", sweep.Job(job).Lock);
        Assert.Equal("/s/shared/mnist/tangents.safetensors", sweep.Shared("mnist").Tangents);
        Assert.Equal("/s/shared/mnist/denoiser", sweep.Shared("mnist").Denoiser);
        Assert.Equal("/s/shared/mnist/fig7.png", sweep.Shared("mnist").PerturbationFigure);
        Assert.Equal("/s/logs/worker1.log", sweep.WorkerLog(1));
    }

    [Fact]
    public void Session_BuildsTheSharedArtefactsOfADatasetOnce_OnDiskAndInMemory()
    {
        var spec = TinySweep.Spec();
        var sweep = new SweepFolder(TestPaths.TempDir("session"));
        sweep.Prepare(spec);
        using var session = new SweepSession(spec, sweep);
        Assert.True(session.TryComplete("subspace-gaussians", NullProgress.Instance, wait: true));
        var first = session.Open("subspace-gaussians");
        Assert.True(session.TryComplete("subspace-gaussians", NullProgress.Instance, wait: true));
        Assert.Same(first, session.Open("subspace-gaussians"));
        Assert.NotNull(first.Tangents);
        Assert.NotNull(first.Denoiser);
        Assert.True(File.Exists(sweep.Shared("subspace-gaussians").Tangents));
        Assert.True(File.Exists(sweep.Shared("subspace-gaussians").PerturbationFigure));
        // built here: the tangents in memory are the ones saved, never read back
        Assert.DoesNotContain(sweep.Shared("subspace-gaussians").Tangents, session.FilesRead);
        using var saved = PagLab.Manifold.TangentSpaces.Load(sweep.Shared("subspace-gaussians").Tangents);
        Assert.True(saved.Bases.eq(first.Tangents.Bases).all().item<bool>());
        Assert.True(saved.Indices.eq(first.Tangents.Indices).all().item<bool>());
    }
}

public class DeferredMeasurementTests
{
    [Fact]
    public void AWorkerTrainsEveryJobWhileAnotherProcessBuildsTheSharedArtefacts_ThenMeasuresThem()
    {
        var spec = TinySweep.Spec(strengths: 2);
        var sweep = new SweepFolder(TestPaths.TempDir("deferred"));
        spec = sweep.Prepare(spec);
        var jobs = spec.Jobs();
        var shared = sweep.Shared("subspace-gaussians");
        // "Another process" builds the tangent spaces: a live owner (this process) holds their lock.
        var builder = JobLock.TryAcquire(shared.TangentsLock)!;
        int unfinished = -1;
        IReadOnlyList<string> read = [];
        var worker = new Thread(() =>
        {
            using var session = new SweepSession(spec, sweep);
            unfinished = SweepRunner.RunAll(session, NullProgress.Instance);
            read = session.FilesRead.ToList();
        });
        worker.Start();
        bool Trained(SweepJob j)
        {
            string runJson = Path.Combine(sweep.Job(j).Train, "run.json");
            if (!File.Exists(runJson)) return false;
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(runJson));
            return doc.RootElement.GetProperty("status").GetString() == "completed";
        }
        bool TrainedAll() => jobs.All(Trained);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!TrainedAll() && clock.Elapsed < TimeSpan.FromMinutes(1) && worker.IsAlive) Thread.Sleep(100);
        Assert.True(TrainedAll(), "the worker waited for the shared artefacts instead of training the other jobs");
        Assert.All(jobs, j => Assert.False(SweepRunner.IsDone(sweep, j)));    // nothing measured without tangents
        Assert.False(File.Exists(shared.Tangents));
        builder.Dispose();                                                       // the builder died: take over
        Assert.True(worker.Join(TimeSpan.FromMinutes(3)), "the sweep did not finish after the lock was released");
        Assert.Equal(0, unfinished);
        Assert.All(jobs, j => Assert.Equal(JobState.Completed, SweepRunner.State(sweep, j)));
        Assert.All(jobs, j => Assert.NotEmpty(JobResult.Read(sweep.Job(j).Result).Sensitivity));
        // the deferred job was measured on the model this worker kept in memory, not read back from its run folder
        Assert.DoesNotContain(read, f => f.StartsWith(sweep.JobsRoot, StringComparison.Ordinal));
        // A deferred job keeps the time it trained (measured in an earlier call) in its stage split.
        Assert.All(jobs, j => Assert.True(JobResult.Read(sweep.Job(j).Result).StageSeconds[JobStage.Train] > 0));
        // manifold.json: rho_2 for every gradient mode, rho_1 (the costly Monte Carlo part) for the sweep's only
        using var manifold = System.Text.Json.JsonDocument.Parse(File.ReadAllText(sweep.Job(jobs[0]).Manifold));
        var modes = Vocabulary.All<PagLab.Models.GradientMode>().Select(m => Vocabulary.Name(m)).ToList();
        Assert.Equal(modes, manifold.RootElement.GetProperty("rho2").EnumerateObject().Select(p => p.Name));
        Assert.Equal(new[] { Vocabulary.Name(spec.Measure.Mode) },
            manifold.RootElement.GetProperty("rho1").EnumerateObject().Select(p => p.Name));
    }
}

public class RunOrderTests
{
    [Fact]
    public void Workers_TakeJobsDatasetByDataset_CostliestTrainingFirst()
    {
        var spec = TinySweep.Spec(strengths: 2) with
        {
            Datasets = new[] { "subspace-gaussians", "shapes" },
            Objectives = new[]
            {
                new ObjectiveConfig { Kind = PagLab.Objectives.ObjectiveKind.Standard },
                new ObjectiveConfig { Kind = PagLab.Objectives.ObjectiveKind.RandSmooth, Strengths = new[] { 0.1 } },
                new ObjectiveConfig { Kind = PagLab.Objectives.ObjectiveKind.Gnorm, Strengths = new[] { 1.0 } },
                new ObjectiveConfig
                    { Kind = PagLab.Objectives.ObjectiveKind.Pgd, Strengths = new[] { 0.5, 1.0 }, Pgd = new() { Steps = 3 } },
            },
        };
        var order = SweepRunner.RunOrder(spec.Jobs());
        Assert.Equal(spec.Jobs().Select(j => j.Index).Order(), order.Select(j => j.Index).Order());
        Assert.Equal(new[] { "pgd", "pgd", "gnorm", "standard", "randsmooth" },
            order.Take(5).Select(j => Vocabulary.Name(j.Objective.Kind)));
        Assert.All(order.Take(5), j => Assert.Equal("subspace-gaussians", j.Dataset));
        Assert.All(order.Skip(5), j => Assert.Equal("shapes", j.Dataset));
        Assert.True(order[0].Strength < order[1].Strength); // equal costs keep the spec's order
    }
}
