using PagLab.Data;
using System.Text.Json.Nodes;
using PagLab.Experiments;
using PagLab.IO;
using PagLab.Metrics;
using PagLab.Score;
using PagLab.Tests.Cli;
using PagLab.Tests.Metrics;

namespace PagLab.Tests.Experiments;

/// <summary>
/// A sweep without measure.lpipsNet measures with LPIPS-AlexNet when its weights are found (as the paper), else
/// SqueezeNet; the choice is fixed in spec.json, so weights added or removed later never stop a resume. Without
/// measure.alignmentSigma it measures at the paper's noise level per dataset.
/// </summary>
public class SweepAlignmentDefaultsTests
{
    static string StoredNet(string dir) =>
        JsonNode.Parse(File.ReadAllText(new SweepFolder(dir).Spec))!["measure"]!["lpipsNet"]!
                .GetValue<string>();

    /// <summary>`sweep slurm` prepares the folder (writes or checks spec.json) without training anything.</summary>
    static CliProcess.Result Prepare(string spec, string dir) => CliProcess.RunWithEnvironment(
        new Dictionary<string, string?> { ["PAGLAB_LPIPS_WEIGHTS"] = null }, "sweep", "slurm", spec, "--out", dir);

    [Fact]
    public void UnsetLpipsNet_IsAlexWithItsWeights_AndStaysWhatSpecJsonSays()
    {
        string root = TestPaths.TempDir("root");
        string weights = Directory.CreateDirectory(Path.Combine(root, "weights")).FullName;
        string alex = LpipsDefaultNetTests.WriteWeights("alex", weights);
        string spec = Path.Combine(TestPaths.TempDir("spec"), "spec.json");
        File.WriteAllText(spec,
            $$"""{"datasets": ["shapes"], "objectives": [{"name": "standard"}], "dataRoot": "{{root}}"}""");

        string withAlex = Path.Combine(TestPaths.TempDir("sweep"), "s");
        var first = Prepare(spec, withAlex);
        Assert.True(first.ExitCode == 0, first.Stderr);
        Assert.Equal("alex", StoredNet(withAlex));

        File.Delete(alex);                                     // the default would now be squeeze
        var again = Prepare(spec, withAlex);
        Assert.True(again.ExitCode == 0, again.Stderr);
        Assert.Equal("alex", StoredNet(withAlex));

        string without = Path.Combine(TestPaths.TempDir("sweep"), "s");
        Assert.Equal(0, Prepare(spec, without).ExitCode);
        Assert.Equal("squeeze", StoredNet(without));
        LpipsDefaultNetTests.WriteWeights("alex", weights);
        var resumed = Prepare(spec, without);                  // a sweep begun with squeeze keeps it
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        Assert.Equal("squeeze", StoredNet(without));
        Assert.Equal(LpipsNet.Alex, Lpips.DefaultNet(null, root));
    }

    [Fact]
    public void UnsetAlignmentSigma_IsThePapersPerDataset_AndAnOlderFolderKeepsItsOwn()
    {
        var spec = TinySweep.Spec() with
            { Measure = TinySweep.Spec().Measure with { Manifold = false, Distractor = false } };
        Assert.Null(spec.Measure.AlignmentSigma);
        string dir = TestPaths.TempDir("sweep");
        Assert.Equal(JobState.Completed, SweepRunner.RunOne(spec, new SweepFolder(dir), 0,
            PagLab.Common.NullProgress.Instance));
        var result = JobResult.Read(new SweepFolder(dir).Job(spec.Jobs()[0]).Result);
        Assert.Equal(Datasets.AlignmentSigma(Datasets.Name(DatasetName.SubspaceGaussians)), result.Alignment!.Sigma);

        string older = TestPaths.TempDir("sweep");               // spec.json of a sweep begun with the old default
        JsonFiles.Write(new SweepFolder(older).Spec,
                        spec with
                        { Measure = spec.Measure with { AlignmentSigma = 0.25, LpipsNet = LpipsNet.Squeeze } });
        Assert.Equal(0.25, new SweepFolder(older).Prepare(spec).Measure.AlignmentSigma);
    }
}
