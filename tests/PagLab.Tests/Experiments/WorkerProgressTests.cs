using PagLab.Common;
using PagLab.Experiments;
using PagLab.Tests.Cli;

namespace PagLab.Tests.Experiments;

/// <summary>Each worker's own progress, per stage, with its ETA; read by the parent and `sweep status`.</summary>
public class WorkerProgressTests
{
    sealed class Recorder : IProgressSink
    {
        public List<string> Tasks { get; } = new();
        public void Update(string task, long done, long total, string status = "") { lock (Tasks) Tasks.Add(task); }
        public void Line(string message) { }
    }

    [Fact]
    public void ProgressFile_RecordsTheTaskAndItsRate_AndTheEtaFollowsFromIt()
    {
        var sweep = new SweepFolder(TestPaths.TempDir("sweep"));
        var recorder = new Recorder();
        // as a worker composes them: SweepRunner names the stage, LocalWorkers keeps the file
        var file = new StageProgress(new WorkerProgressFile(sweep.ProgressFile(Environment.ProcessId), recorder),
            "shared shapes");
        file.Update("denoiser epoch 1/2", 0, 30);
        Assert.Equal("shared shapes: denoiser epoch 1/2", recorder.Tasks.Single());
        var written = Assert.Single(WorkerProgress.ReadLive(sweep));
        Assert.Equal(Environment.ProcessId, written.ProcessId);
        Assert.Null(written.Eta);                                           // no progress yet: no rate

        var state = written with { Done = 10, Updated = written.TaskStarted + TimeSpan.FromSeconds(20) };
        Assert.Equal(TimeSpan.FromSeconds(40), state.Eta);                  // 10 of 30 in 20 s: 20 left take 40 s
        Assert.Equal("shared shapes: denoiser epoch 1/2 33% (10/30) ETA 00:40", state.Describe());
    }

    [Fact]
    public void ProgressOfAnEndedProcess_IsNotShown()
    {
        var sweep = new SweepFolder(TestPaths.TempDir("sweep"));
        Directory.CreateDirectory(sweep.Progress);
        PagLab.IO.JsonFiles.Write(sweep.ProgressFile(int.MaxValue - 7), new WorkerProgress
            { ProcessId = int.MaxValue - 7, Task = "job x: epoch 1/1", Done = 1, Total = 4 });
        Assert.Empty(WorkerProgress.ReadLive(sweep));
    }

    [Fact]
    public void SweepRun_NamesTheJobStageOfEachTask_AndStatusShowsLiveWorkersAndTheJobsEta()
    {
        var spec = TinySweep.Spec() with
            { Measure = TinySweep.Spec().Measure with { Manifold = false, Alignment = false, Distractor = false } };
        string dir = TestPaths.TempDir("sweep");
        var sweep = new SweepFolder(dir);
        var recorder = new Recorder();
        var job = spec.Jobs()[0];
        Assert.Equal(JobState.Completed, SweepRunner.RunOne(spec, sweep, job.Index, recorder));
        Assert.Contains(recorder.Tasks, t => t.StartsWith($"job {job.Id}: epoch 1/1", StringComparison.Ordinal));

        new WorkerProgressFile(sweep.ProgressFile(Environment.ProcessId), NullProgress.Instance)
            .Update($"job {spec.Jobs()[1].Id}: epoch 1/1", 2, 8);            // this process: alive
        var status = CliProcess.Run("sweep", "status", dir);
        Assert.True(status.ExitCode == 0, status.Stderr);
        Assert.Contains($"worker {Environment.ProcessId}: job {spec.Jobs()[1].Id}: epoch 1/1 25% (2/8)",
            status.Stdout);
        Assert.Contains($"jobs: 1/{spec.Jobs().Count} done, ETA ", status.Stdout);
    }
}
