using System.Text.Json;
using System.Text.Json.Nodes;
using PagLab.Common;
using PagLab.Data;
using PagLab.Experiments;
using PagLab.IO;
using PagLab.Manifold;
using PagLab.Tests.Cli;
using PagLab.Training;

namespace PagLab.Tests.Experiments;

/// <summary>
/// A sweep's `shared` section holds the templates of `paglab autoencoder train` and `paglab denoiser train`: whatever
/// those commands set, a spec sets, with the same defaults; the flat keys of older specs still load.
/// </summary>
public class SharedSettingsTests
{
    const string Grid = "datasets: [shapes]\nobjectives: [{name: standard}]\n";

    static string Write(string yaml)
    {
        string path = Path.Combine(TestPaths.TempDir("spec"), "spec.yaml");
        File.WriteAllText(path, Grid + yaml);
        return path;
    }

    static SweepSpec Load(string yaml) => SweepSpec.Load(Write(yaml));

    static string Json<T>(T value) => JsonSerializer.Serialize(value, JsonFiles.Options);

    [Fact]
    public void SharedSection_SetsWhatTheCliSets_AndTheSharedArtefactsRunsGetIt()
    {
        var spec = Load("shared:\n"
            + "  denoiser: {learningRate: 0.0005, baseChannels: 16, hiddenWidth: 256, emaDecay: 0.99, epochs: 3}\n"
            + "  autoencoder: {latent: 8, learningRate: 0.002, kind: vae, klWeight: 0.5}\n"
            + "  trainSize: 300\n");
        var denoiser = spec.DenoiserFor("shapes");
        Assert.Equal((5e-4, 16, 256, 0.99, 3, 300), (denoiser.LearningRate, denoiser.BaseChannels,
            denoiser.HiddenWidth, denoiser.EmaDecay, denoiser.Epochs, denoiser.TrainSize));
        Assert.Equal(("shapes", 0L, true), (denoiser.Dataset, denoiser.Seed, denoiser.Conditional));
        var autoencoder = spec.AutoencoderFor("shapes");
        Assert.Equal((8, 2e-3, PagLab.Manifold.AutoencoderKind.Vae, 0.5, 300), (autoencoder.Latent,
            autoencoder.LearningRate, autoencoder.Kind,
            autoencoder.KlWeight, autoencoder.TrainSize));
        Assert.Equal(10, autoencoder.Epochs);   // unset: the record's default
    }

    [Fact]
    public void OldFlatKeys_LoadToTheSameConfigs_AsTheNestedOnes()
    {
        var old = Load("shared: {autoencoderEpochs: 3, autoencoderLatent: 8, denoiserEpochs: 2, denoiserBatchSize: 64, "
            + "denoiserArch: mlp, conditionalDenoiser: false, sharedTrainSize: 500, tangentCount: 16}\n");
        var nested = Load("shared:\n  autoencoder: {epochs: 3, latent: 8}\n"
            + "  denoiser: {epochs: 2, batchSize: 64, arch: mlp, conditional: false}\n  trainSize: 500\n"
            + "  tangentCount: 16\n");
        Assert.Equal(Json(nested), Json(old));
        var denoiser = old.DenoiserFor("shapes");
        Assert.Equal((2, 64, PagLab.Score.DenoiserArch.Mlp, false, 500), (denoiser.Epochs, denoiser.BatchSize,
            denoiser.Arch,
            denoiser.Conditional, denoiser.TrainSize));
        Assert.Equal((3, 8, 500), (old.AutoencoderFor("shapes").Epochs, old.AutoencoderFor("shapes").Latent,
            old.AutoencoderFor("shapes").TrainSize));
    }

    [Fact]
    public void ExampleStudySpec_InTheOldForm_KeepsItsMeaning()
    {
        var spec = SweepSpec.Load(Path.Combine(TestPaths.RepoRoot, "examples", "study-mnist-distractor.json"));
        var autoencoder = spec.AutoencoderFor("mnist-distractor");
        var denoiser = spec.DenoiserFor("mnist-distractor");
        // the study tests on the whole test split, so the autoencoder inherits no test size (all images)
        Assert.Equal((10, (int?)6000, (int?)null), (autoencoder.Epochs, autoencoder.TrainSize, autoencoder.TestSize));
        Assert.Equal((3, 128, PagLab.Score.DenoiserArch.UNet, true, 6000), (denoiser.Epochs, denoiser.BatchSize,
            denoiser.Arch,
            denoiser.Conditional, denoiser.TrainSize));
        Assert.Equal(64, spec.Shared.TangentCount);
    }

    [Theory]
    [InlineData("mnist-distractor-sweep.json", "mnist-distractor", 10, 20)]    // the nested form
    [InlineData("authors-preset-sweep.yaml", "cifar10", 5, 5)]
    public void ExampleSpecs_InTheNestedForm_Load(string file, string dataset, int autoencoderEpochs,
        int denoiserEpochs)
    {
        var spec = SweepSpec.Load(Path.Combine(TestPaths.RepoRoot, "examples", file));
        Assert.Equal((autoencoderEpochs, denoiserEpochs),
            (spec.AutoencoderFor(dataset).Epochs, spec.DenoiserFor(dataset).Epochs));
    }

    [Theory]
    [InlineData("shared: {denoiser: {learningRat: 0.1}}\n",
        "unknown key 'shared.denoiser.learningRat' (did you mean 'learningRate'?)")]
    [InlineData("shared: {autoencoder: {latnet: 8}}\n",
        "unknown key 'shared.autoencoder.latnet' (did you mean 'latent'?)")]
    [InlineData("shared: {denoiser: {emaDecay: 2}}\n", "shared.denoiser.emaDecay must be in [0, 1], got 2")]
    [InlineData("shared: {denoiser: {arch: cnn}}\n", "shared.denoiser.arch must be one of unet, mlp, got 'cnn'")]
    [InlineData("shared: {autoencoder: {kind: gan}}\n", "shared.autoencoder.kind must be one of ae, vae, got 'gan'")]
    [InlineData("shared: {trainSize: 0}\n", "shared.trainSize must be >= 1, got 0")]
    [InlineData("shared: {denoiserEpochs: 0}\n", "shared.denoiserEpochs must be in 1..100000, got 0")]
    [InlineData("shared: {conditionalDenoiser: true}\nmeasure: {mode: sum}\n",
        "set shared.conditionalDenoiser to false")]
    [InlineData("shared: {denoiserEpochs: 2, denoiser: {epochs: 3}}\n",
        "'shared.denoiserEpochs' and 'shared.denoiser.epochs' are the same setting; keep one")]
    public void BadSharedValue_IsRefusedInOneLine_NamingTheKeyAsWritten(string yaml, string expected)
    {
        string path = Write(yaml);
        var e = Assert.ThrowsAny<PagLabException>(() => SweepSpec.Load(path));
        Assert.Contains(expected, e.Message);
        Assert.Contains(path, e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void SweepFolderWithAnOldFormSpecJson_IsStillTheSameSweep_AndAnotherSpecIsRefused()
    {
        var spec = Load("shared: {denoiser: {epochs: 2, batchSize: 64}, autoencoder: {epochs: 3}, trainSize: 500}\n");
        string dir = TestPaths.TempDir("sweep");
        // spec.json as written before the templates: flat keys, none of the templates' other settings
        var json = JsonNode.Parse(Json(spec))!.AsObject();
        json["shared"] = new JsonObject
        {
            ["autoencoderEpochs"] = 3, ["tangentEstimator"] = "autoencoder", ["tangentCount"] = 64,
            ["denoiserEpochs"] = 2, ["denoiserBatchSize"] = 64, ["denoiserArch"] = "unet", ["sharedTrainSize"] = 500,
            ["localPcaNeighbours"] = 64, ["localPcaDimension"] = 16,
        };
        json["measure"]!.AsObject().Remove("batchImages");
        File.WriteAllText(Path.Combine(dir, SweepFolder.SpecFile), json.ToJsonString());

        new SweepFolder(dir).Prepare(spec);
        Assert.Equal(Json(spec.Shared), Json(SweepSpec.ReadStored(Path.Combine(dir, SweepFolder.SpecFile)).Shared));
        var other = spec with { Shared = spec.Shared with { Denoiser = spec.Shared.Denoiser with { Epochs = 5 } } };
        var e = Assert.Throws<PagLabException>(() => new SweepFolder(dir).Prepare(other));
        Assert.Contains("holds a different sweep", e.Message);
    }

    /// <summary>
    /// The CLI's run config with no flags and a minimal spec's are the same record: a completed run.json holding
    /// the spec's config is resumed by `denoiser train` / `autoencoder train` with no option but the required ones
    /// (a differing key would be refused, naming it). The one documented difference: a sweep's denoiser is
    /// class-conditional unless measure.mode is sum; the CLI's only with --conditional.
    /// </summary>
    [Fact]
    public void CliWithNoFlags_AndAMinimalSpec_BuildTheSameConfigs()
    {
        var spec = Load("");
        string denoiserDir = TestPaths.TempDir("denoiser");
        CompletedRun(denoiserDir, DenoiserTrainer.Kind, spec.DenoiserFor("shapes") with { Conditional = false });
        var denoiser = CliProcess.Run("denoiser", "train", "--dataset", "shapes", "--out", denoiserDir, "--resume");
        Assert.True(denoiser.ExitCode == 0, denoiser.Stderr);

        string autoencoderDir = TestPaths.TempDir("autoencoder");
        var config = spec.AutoencoderFor("shapes");
        CompletedRun(autoencoderDir, AutoencoderTrainer.Kind, config);
        var shape = Datasets.Load("shapes", new DataOptions(null, 0, 8, 8)).Shape;
        using (var model = new ConvAutoencoder(new AutoencoderSpec
               {
                   Kind = config.Kind, Latent = AutoencoderSpec.DefaultLatent(shape), Channels = shape.Channels,
                   Height = shape.Height, Width = shape.Width, BaseChannels = config.BaseChannels, Dataset = "shapes",
               }))
            SavedAutoencoder.Save(autoencoderDir, model);
        var autoencoder = CliProcess.Run("autoencoder", "train", "--dataset", "shapes", "--out", autoencoderDir,
            "--resume");
        Assert.True(autoencoder.ExitCode == 0, autoencoder.Stderr);
        Assert.Contains("saved autoencoder", autoencoder.Stdout);
    }

    static void CompletedRun<T>(string dir, string kind, T config) => RunFiles.WriteInfo(dir, new RunInfo
    {
        FormatVersion = RunFolder.CurrentFormat, Kind = kind, Status = RunStatus.Completed,
        Config = JsonSerializer.SerializeToElement(config, JsonFiles.Options), Dataset = "shapes",
    });

    [Fact]
    public void MeasureAndTangentDefaults_OfTheCli_AreTheSpecs()
    {
        var help = CliProcess.Run("measure", "manifold", "--help").Stdout;
        var measure = new MeasureSettings();
        Assert.Contains($"[default: {measure.Draws}]", help.Split('\n').Single(l => l.Contains("--draws")));
        Assert.Contains($"[default: {measure.BatchImages}]",
            help.Split('\n').Single(l => l.Contains("--batch-images")));
        var tangents = CliProcess.Run("tangents", "--help").Stdout.Split('\n');
        var shared = new SharedSettings();
        Assert.Contains($"[default: {shared.TangentBatchSize}]", tangents.Single(l => l.Contains("--batch-size")));
        Assert.Contains($"[default: {shared.LocalPcaNeighbours}]", tangents.Single(l => l.Contains("--neighbours")));
        Assert.Contains($"[default: {shared.LocalPcaDimension}]", tangents.Single(l => l.Contains("--dimension")));
    }
}
