using PagLab.Models;
using PagLab.Experiments;
using PagLab.Objectives;
using PagLab.IO;
using PagLab.Training;

namespace PagLab.Tests.Experiments;

/// <summary>A sweep small enough for tests: subspace-gaussians with the true tangent spaces and the exact
/// score.</summary>
public static class TinySweep
{
    public static SweepSpec Spec(int strengths = 1) => new()
    {
        Name = "tiny",
        Datasets = new[] { "subspace-gaussians" },
        Objectives = new[]
        {
            new ObjectiveConfig { Kind = PagLab.Objectives.ObjectiveKind.Standard },
            new ObjectiveConfig
            {
                Kind = PagLab.Objectives.ObjectiveKind.Gnorm, Strengths = new[] { 0.1, 10.0 }.Take(strengths).ToArray(),
            },
        },
        Train = new TrainSettings { Arch = Architecture.Mlp, Epochs = 1, TrainSize = 400, TestSize = 64 },
        Shared = new SharedSettings { TangentEstimator = PagLab.Manifold.TangentEstimator.True, TangentCount = 8 },
        Measure = new MeasureSettings { Epsilons = new[] { 0.5, 1.0 }, Draws = 4, AlignmentCount = 8 },
    };

    public static string Write(SweepSpec spec)
    {
        string path = Path.Combine(TestPaths.TempDir("spec"), "spec.json");
        JsonFiles.Write(path, spec);
        return path;
    }
}
