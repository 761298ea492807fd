using PagLab.Tests.Cli;
using PagLab.Training;

namespace PagLab.Tests.Manifold;

/// <summary>measure manifold / theorem1 use as many images as asked, or say that the tangent file holds fewer.</summary>
public class ManifoldCountTests(ManifoldCountTests.Files files) : IClassFixture<ManifoldCountTests.Files>
{
    /// <summary>One trained model and a tangent file of 4 images, shared by the tests.</summary>
    public sealed class Files
    {
        public (string Model, string Tangents, string Dir) Value { get; } = Setup();
    }

    static (string Model, string Tangents, string Dir) Setup()
    {
        string dir = TestPaths.TempDir("count"), model = Path.Combine(dir, "m"), tangents = Path.Combine(dir, "t.st");
        Trainer.Run(new TrainConfig { Dataset = "shapes", TrainSize = 200, TestSize = 50 }, model);
        var r = CliProcess.Run("tangents", "--estimator", "local-pca", "--dataset", "shapes", "--count", "4",
            "--neighbours", "16", "--dimension", "4", "--out", tangents);
        Assert.True(r.ExitCode == 0, r.Stderr);
        return (model, tangents, dir);
    }

    [Fact]
    public void MoreImagesThanTheTangentFileHolds_IsAOneLineError_FewerAreUsed_AndRho2IsExplained()
    {
        var (model, tangents, dir) = files.Value;
        var tooMany = CliProcess.Run("measure", "manifold", "--model", model, "--tangents", tangents, "--dataset",
            "shapes", "--eps", "1", "--draws", "2", "--count", "8", "--out", Path.Combine(dir, "a.json"));
        Assert.Equal(2, tooMany.ExitCode);
        Assert.Contains($"--count 8: {tangents} holds 4 tangent spaces", tooMany.Stderr);
        Assert.Single(tooMany.Stderr.Trim().Split('\n'));

        var two = CliProcess.Run("measure", "manifold", "--model", model, "--tangents", tangents, "--dataset",
            "shapes", "--eps", "1", "--draws", "2", "--count", "2", "--out", Path.Combine(dir, "b.json"));
        Assert.True(two.ExitCode == 0, two.Stderr);
        Assert.Contains("2 images (those of", two.Stdout);
        Assert.Contains("rho_2 (predicted gradient): ", two.Stdout);
        Assert.Contains("the fraction of the gradient's squared norm off the tangent space (Definition 2", two.Stdout);
    }

    [Fact]
    public void Theorem1_WithMoreImagesThanTheFileHolds_Fails_AndItsDefaultTakesWhatThereIs()
    {
        var (model, tangents, dir) = files.Value;
        var tooMany = CliProcess.Run("measure", "theorem1", "--model", model, "--tangents", tangents, "--dataset",
            "shapes", "--sigmas", "0.1", "--draws", "4", "--count", "5", "--out", Path.Combine(dir, "t1"));
        Assert.Equal(2, tooMany.ExitCode);
        Assert.Contains("holds 4 tangent spaces", tooMany.Stderr);
        var fewer = CliProcess.Run("measure", "theorem1", "--model", model, "--tangents", tangents, "--dataset",
            "shapes", "--sigmas", "0.1", "--draws", "4", "--out", Path.Combine(dir, "t2.json"));
        Assert.True(fewer.ExitCode == 0, fewer.Stderr);
        Assert.Contains("(4 images; rho_2: the fraction of ||grad f||^2 off the tangent space", fewer.Stdout);
    }
}
