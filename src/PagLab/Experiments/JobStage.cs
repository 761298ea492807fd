using System.Diagnostics;
using PagLab.Common;

namespace PagLab.Experiments;

/// <summary>The stages of a sweep job whose seconds result.json keeps (stageSeconds, by these names).</summary>
public enum JobStage
{
    [Name("train", "training the job's model (resumed: the seconds its earlier training took)")] Train,
    [Name("shared", "this worker's time on the shared artefacts since its last finished job")] Shared,
    [Name("evaluate", "an imported model's test accuracy (it is not trained)")] Evaluate,
    [Name("manifold", "on- and off-manifold robustness")] Manifold,
    [Name("kscan", "on/off at every tangent dimension k of shared.tangentDimensions")] TangentScan,
    [Name("alignment", "perceptual alignment with the score, and the further attributions")] Alignment,
    [Name("distractor", "relative noise robustness, signal vs distractor")] Distractor,
}

/// <summary>A job's seconds per stage, in the order the stages ran; <see cref="Lap"/> closes one.</summary>
public sealed class StageTimes
{
    readonly Dictionary<JobStage, double> seconds = new();
    readonly Stopwatch clock = Stopwatch.StartNew();

    /// <summary>Seconds since the last lap (or since this record began).</summary>
    public double Elapsed => clock.Elapsed.TotalSeconds;

    /// <summary>Records the seconds since the last lap as <paramref name="stage"/>'s and starts the next.</summary>
    public void Lap(JobStage stage) => Record(stage, Elapsed);

    /// <summary>Records <paramref name="value"/> seconds for the stage and starts the next from now.</summary>
    public void Record(JobStage stage, double value)
    {
        seconds[stage] = value;
        clock.Restart();
    }

    /// <summary>Restarts the clock without recording (time that belongs to no stage of this job).</summary>
    public void Skip() => clock.Restart();

    /// <summary>The stages so far, as result.json stores them.</summary>
    public Dictionary<JobStage, double> ToDictionary() => new(seconds);
}
