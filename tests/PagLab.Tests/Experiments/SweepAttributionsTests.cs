using PagLab.Attributions;
using PagLab.Common;
using PagLab.Experiments;
using PagLab.IO;

namespace PagLab.Tests.Experiments;

/// <summary>measure.attributions: each job measures the listed attributions beside the gradient.</summary>
public class SweepAttributionsTests
{
    [Fact]
    public void ListedAttributions_AreMeasuredBesideTheGradient_AndGetTheirOwnColumns()
    {
        var spec = TinySweep.Spec() with { Measure = TinySweep.Spec().Measure with
        {
            Manifold = false, Distractor = false, AlignmentCount = 8,
            Attributions = new[] { AttributionKind.SmoothGrad, AttributionKind.IntegratedGradients },
        } };
        spec.Validate("spec");
        string dir = TestPaths.TempDir("sweep");
        var sweep = new SweepFolder(dir);
        Assert.Equal(JobState.Completed, SweepRunner.RunOne(spec, sweep, 0, NullProgress.Instance));
        var job = sweep.Job(spec.Jobs()[0]);
        var result = JobResult.Read(job.Result);
        Assert.Null(result.Alignment!.Attribution);                                     // the gradient
        Assert.Equal(new AttributionKind?[] { AttributionKind.SmoothGrad, AttributionKind.IntegratedGradients },
            result.Attributions!.Select(a => a.Attribution));
        Assert.All(result.Attributions!, a => Assert.Equal(8, a.CosinePerImage.Length));
        Assert.NotEqual(result.Alignment.CosinePerImage, result.Attributions![0].CosinePerImage);
        Assert.True(File.Exists(job.AttributionAlignment(AttributionKind.SmoothGrad)));
        Assert.True(File.Exists(job.AttributionAlignment(AttributionKind.IntegratedGradients)));

        string csv = SweepResults.Csv(new[] { result }, Array.Empty<LevelRegime>());
        string header = csv.Split('\n')[0];
        Assert.Contains(",cosine_smoothgrad,cosine_smoothgrad_lower,cosine_smoothgrad_upper", header);
        Assert.Contains(",one_minus_lpips_integrated_gradients,", header);
        Assert.Equal(header.Split(',').Length, csv.Split('\n')[1].Split(',').Length);
        Assert.DoesNotContain("smoothgrad", SweepResults.Csv(new[] { result with { Attributions = null } },
            Array.Empty<LevelRegime>()));
    }

    [Fact]
    public void AnAttributionListedTwice_IsRefused_AndAnUnknownNameNamesTheKey()
    {
        var twice = TinySweep.Spec() with { Measure = new MeasureSettings
            { Attributions = new[] { AttributionKind.SmoothGrad, AttributionKind.SmoothGrad } } };
        Assert.Contains("measure.attributions names an attribution twice",
            Assert.Throws<PagLabException>(() => twice.Validate("spec")).Message);
        string path = Path.Combine(TestPaths.TempDir(), "spec.json");
        File.WriteAllText(path, """
            {"datasets": ["shapes"], "objectives": [{"name": "standard"}],
             "measure": {"attributions": ["smoothgrad", "integrated-gradient"]}}
            """);
        var e = Assert.ThrowsAny<PagLabException>(() => SweepSpec.Load(path));
        Assert.Contains("integrated-gradients", e.Message);
    }
}
