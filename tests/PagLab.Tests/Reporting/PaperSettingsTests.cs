using System.Reflection;
using PagLab.Data;
using PagLab.Reporting;

namespace PagLab.Tests.Reporting;

public class PaperSettingsTests
{
    static IEnumerable<string> FindingIds() => typeof(Findings)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Where(f => f.IsLiteral && f.FieldType == typeof(string)).Select(f => (string)f.GetRawConstantValue()!);

    [Fact]
    public void EveryFindingId_HasThePapersSetting()
    {
        var missing = FindingIds().Where(id => PaperSettings.Of(id) is null).ToList();
        Assert.True(missing.Count == 0, "no paper setting for: " + string.Join(", ", missing));
        Assert.Contains(Findings.OffFalls, FindingIds());
    }

    [Fact]
    public void Figure3Findings_NameCifar10Resnet18_With10Seeds()
    {
        foreach (var id in new[] { Findings.StandardOffAboveOn, Findings.OffFalls, Findings.OnFlat,
                     Findings.RelativeOffRobustnessGrows })
        {
            var setting = PaperSettings.Of(id)!;
            var experiment = Assert.Single(setting.Experiments);
            Assert.Equal((DatasetName.Cifar10, 50_000, 200, 10),
                (experiment.Dataset, experiment.TrainImages, experiment.Epochs, experiment.Seeds));
            Assert.Contains("Figure 3", setting.Where);
            Assert.Contains("k = 128", setting.Text);
        }
    }

    [Fact]
    public void AlignmentAndNoiseFindings_NameImagenet64AndTheLetterA_AndTheBayesCheckIsOurs()
    {
        var peaks = PaperSettings.Of(Findings.AlignmentPeaks)!;
        Assert.Equal(new[] { DatasetName.Cifar10, DatasetName.ImageNet64 }, peaks.Experiments.Select(e => e.Dataset));
        Assert.Contains("sigma 1.2", peaks.Text);
        var noise = PaperSettings.Of(Findings.RobustRelativeNoise)!;
        Assert.Equal(DatasetName.MnistDistractor, Assert.Single(noise.Experiments).Dataset);
        Assert.Equal("mnist-distractor resnet18 (Figure 5; Section 4.3)", noise.Short);
        Assert.False(PaperSettings.Of(Findings.BayesAlignedNearestBayes)!.InPaper);
        Assert.StartsWith("not in the paper", PaperSettings.Short(Findings.BayesAlignedNearestBayes));
        Assert.Equal("not recorded", PaperSettings.Short("no-such-finding"));
    }
}
