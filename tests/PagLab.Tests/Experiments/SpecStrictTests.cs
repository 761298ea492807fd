using PagLab.Common;
using PagLab.Experiments;
using PagLab.Tests.Cli;

namespace PagLab.Tests.Experiments;

/// <summary>Specs are read strictly and validated whole (every job's configuration) before anything runs or is
/// written.</summary>
public class SpecStrictTests
{
    const string Good =
        "name: t\ndatasets: [subspace-gaussians]\nobjectives: [{name: standard}, {name: gnorm, strengths: "
        + "[0.1]}]\ntrain: {arch: mlp, epochs: 1}\n";

    static string Write(string text, string ext = ".yaml")
    {
        string path = Path.Combine(TestPaths.TempDir("spec"), "spec" + ext);
        File.WriteAllText(path, text);
        return path;
    }

    static string Refused(string text, string ext = ".yaml")
    {
        string path = Write(text, ext);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var e = Assert.ThrowsAny<PagLabException>(() => SweepSpec.Load(path));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        Assert.Contains(path, e.Message);
        Assert.DoesNotContain("\n", e.Message);
        return e.Message;
    }

    [Fact]
    public void GoodSpec_Loads() => Assert.Equal(2, SweepSpec.Load(Write(Good)).Jobs().Count);

    [Theory]
    [InlineData("objectives: [{name: gnorm, strenghts: [0.1]}]",
        "unknown key 'objectives[0].strenghts' (did you mean 'strengths'?)")]
    [InlineData("train: {Epochs: 3}", "unknown key 'train.Epochs' (did you mean 'epochs'?)")]
    [InlineData("trian: {epochs: 3}", "unknown key 'trian' (did you mean 'train'?)")]
    [InlineData("measure: {zzzz: 1}", "unknown key 'measure.zzzz'")]
    public void UnknownKeys_AreErrors_WithASuggestion(string extra, string expected)
    {
        string text = extra.StartsWith("objectives", StringComparison.Ordinal)
            ? Good.Replace("objectives: [{name: standard}, {name: gnorm, strengths: [0.1]}]", extra)
            : Good.Replace("train: {arch: mlp, epochs: 1}\n", "") + extra + "\n";
        Assert.Contains(expected, Refused(text));
    }

    [Fact]
    public void UnknownKeysInJson_AreErrorsToo() =>
        Assert.Contains("unknown key 'trian'",
            Refused("{\"datasets\": [\"shapes\"], \"objectives\": [{\"name\": \"standard\"}], \"trian\": {}}",
            ".json"));

    [Theory]
    [InlineData("a: &x [1, 2]\nb: *x\n", "anchors (&name) are not supported")]
    [InlineData("base: {epochs: 1}\ntrain:\n  <<: {epochs: 2}\n", "merge keys (<<) are not supported")]
    public void YamlAnchorsAliasesAndMergeKeys_AreRefused(string text, string expected) => Assert.Contains(expected,
        Refused(text));

    [Fact]
    public void YamlAliasBomb_IsRefusedBeforeExpansion()
    {
        // Nine levels of ten aliases each: a billion leaves if expanded.
        var sb = new System.Text.StringBuilder("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for (int i =
            1; i < 9; i++) sb.Append($"a{i}: &a{i} [{string.Join(", ", Enumerable.Repeat($"*a{i - 1}", 10))}]\n");
        Assert.Contains("not supported", Refused(sb.ToString()));
    }

    [Theory]
    [InlineData(".yaml")]
    [InlineData(".json")]
    public void DeepNesting_IsOneLine(string ext)
    {
        string text = ext == ".yaml" ? new string('[', 20_000) + new string(']', 20_000) : new string('[',
            20_000) + new string(']', 20_000);
        Refused(text, ext);
    }

    [Theory]
    [InlineData("datasets: [subspace-gaussians, subspace-gaussians]", "dataset 'subspace-gaussians' is listed twice")]
    [InlineData("seeds: [1, 1]", "seed 1 is listed twice")]
    [InlineData("objectives: [{name: gnorm, strengths: [0.1, 0.1]}]", "lists strength 0.1 twice")]
    [InlineData("objectives: [{name: gnorm, strengths: [0.1]}, {name: gnorm, strengths: [0.1]}]",
        "are the same training")]
    [InlineData("train: {arch: vit}", "train.arch must be one of resnet18")]
    [InlineData("measure: {distractorSigmas: 'logspace(1,2)'}", "measure.distractorSigmas: 'logspace(1,2)' needs "
        + "three arguments")]
    [InlineData("measure: {distractorSigmas: 0.5}", "measure.distractorSigmas must be a text")]
    [InlineData("measure: {output: softmx-l1}", "measure.output must be one of softmax-l1, softmax-l2, logits-l1, "
        + "logits-l2, got 'softmx-l1' (did you mean softmax-l1?)")]
    [InlineData("measure: {lpipsNet: alxe}", "measure.lpipsNet must be one of squeeze, alex, vgg, got 'alxe' (did you "
        + "mean alex?)")]
    [InlineData("train: {arch: mlp, learningRate: .nan}", "learningRate must be in (0, 1e12]")]
    [InlineData("measure: {epsilons: []}", "measure.epsilons must be a non-empty list")]
    [InlineData("objectives: [{name: pgd, strengths: [1], steps: 0}]", "steps must be in 1..1000")]
    [InlineData("objectives: [{name: pgd, strengths: [1], steps: 3, pgd: {steps: 4}}]",
        "an objective's 'steps' and 'pgd.steps' are the same setting")]
    [InlineData("objectives: [{name: smooth, strengths: [1], sigma: 0}]", "smooth needs a noise level")]
    [InlineData("objectives: [{name: gnorm, strengths: [0.1]}, {name: gnorm, strengths: [0.1], draws: 1}]",
        "are the same training")]
    [InlineData("objectives: [{name: pgd, strengths: [1e20]}]", "epsilons values must be in (0, 1000000], got 1E+20")]
    [InlineData("objectives: [{name: randsmooth, strengths: [1e30]}]", "sigma must be in [0, 1000]")]
    [InlineData("train: {arch: mlp, activation: tanh}", "job 000-")]
    public void BadGridsAndJobConfigs_AreRefusedUpFront(string replacement, string expected)
    {
        string key = replacement[..replacement.IndexOf(':')];
        var lines = Good.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith(key + ":",
            StringComparison.Ordinal));
        Assert.Contains(expected, Refused(string.Join("\n", lines.Append(replacement)) + "\n"));
    }

    [Fact]
    public void ObjectiveEntries_AreObjectiveConfigs_WithStepsAsPgdsSteps_AndSmoothsSigmaKept()
    {
        var spec = SweepSpec.Load(Write(Good.Replace("{name: standard}, {name: gnorm, strengths: [0.1]}",
            "{name: pgd, strengths: [0.5, 1], steps: 3}, {name: smooth, strengths: [2], sigma: 0.3}")));
        var configs = spec.Jobs().Select(j => j.Config).ToList();
        Assert.Equal(new[] { 3, 3 }, configs.Take(2).Select(c => c.Pgd.Steps));
        Assert.Equal(new[] { 0.5, 1, 2 }, configs.Select(c => c.Strength));
        Assert.Equal((2.0, 0.3), (configs[2].Lambda, configs[2].Sigma));
        Assert.All(configs, c => Assert.Null(c.Strengths));
    }

    [Fact]
    public void AMillionJobs_AreRefusedUnlessForced_AndSlurmWritesNothing()
    {
        var strengths = string.Join(", ", Enumerable.Range(1,
            1000).Select(i => (i * 0.001).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        string text =
            $"name: big\ndatasets: [subspace-gaussians]\nobjectives: [{{name: gnorm, strengths: "
            + $"[{strengths}]}}]\nseeds: [{string.Join(", ", Enumerable.Range(0, 1000))}]\n";
        Assert.Contains($"1000000 jobs, more than {SweepSpec.MaxJobs}", Refused(text));
        string path = Write(text), outDir = Path.Combine(TestPaths.TempDir("slurm"), "out");
        var r = CliProcess.Run("sweep", "slurm", path, "--out", outDir);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--allow-large", r.Stderr);
        Assert.False(Directory.Exists(outDir));
    }
}
