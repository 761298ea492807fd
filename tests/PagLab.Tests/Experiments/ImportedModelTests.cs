using PagLab.Models;
using PagLab.Common;
using PagLab.Experiments;
using PagLab.IO;
using PagLab.Reporting;
using PagLab.Tests.Cli;
using PagLab.Training;

namespace PagLab.Tests.Experiments;

public class ImportedModelTests
{
    /// <summary>A model folder made outside the sweep: a linear classifier trained one epoch on 200 images.</summary>
    static void MakeModel(string dir) => Trainer.Run(new TrainConfig
    {
        Dataset = "subspace-gaussians", Arch = Architecture.Linear, Epochs = 1, TrainSize = 200, TestSize = 64,
            Seed = 7,
    }, dir, NullProgress.Instance);

    /// <summary>The tiny sweep plus "models": [{ "name": "lin", "path": "lin-model", ... }], written beside the model
    /// folder so the relative path resolves against the spec file.</summary>
    static string SpecWith(string modelPath, string name = "lin")
    {
        var spec = TinySweep.Spec() with
        {
            Models = new[] { new ImportedModel { Name = name, Path = modelPath, Dataset = "subspace-gaussians" } },
        };
        return TinySweep.Write(spec);
    }

    [Fact]
    public void ImportedModel_IsMeasured_AsAJobAfterTheTrainedOnes_AndShowsInResultsAndReport()
    {
        string specPath = SpecWith("lin-model");
        MakeModel(Path.Combine(Path.GetDirectoryName(specPath)!, "lin-model"));
        var spec = SweepSpec.Load(specPath);
        var jobs = spec.Jobs();
        Assert.Equal(3, jobs.Count);                                  // standard, gnorm 0.1, then the imported one
        Assert.Equal("002-subspace-gaussians-imported-lin", jobs[2].Id);
        Assert.True(Path.IsPathRooted(jobs[2].Imported!.Path));

        var sweep = new SweepFolder(Path.Combine(TestPaths.TempDir("imported"), "sweep"));
        Assert.Equal(0, SweepRunner.RunAll(spec, sweep, NullProgress.Instance));
        var result = JobResult.Read(sweep.Job(jobs[2]).Result);
        Assert.Equal(ImportedModel.Objective, result.Objective);
        Assert.Equal("lin", result.Model);
        Assert.Equal(JobState.Completed, result.Status);
        Assert.Equal(64, result.TestImages);
        // its accuracy on the sweep's test split, with the binomial interval
        using (var imported = PagLab.Models.SavedModel.Load(jobs[2].Imported!.Path))
        {
            var dataset = SharedArtefacts.LoadDataset(spec, "subspace-gaussians");
            Assert.Equal(Evaluation.Accuracy(imported, dataset.Test), result.TestAccuracy.Mean, 12);
        }
        Assert.Equal(PagLab.Uncertainty.Estimate.Binomial(result.TestCorrect, 64), result.TestAccuracy);
        Assert.Equal(spec.Measure.Epsilons, result.Sensitivity.Select(s => s.Epsilon));
        Assert.NotNull(result.Rho2);
        Assert.NotNull(result.Alignment?.BayesCosine);
        Assert.False(Directory.Exists(sweep.Job(jobs[2]).Train));    // nothing was trained
        Assert.True(File.Exists(sweep.Job(jobs[2]).GradientFigure));

        // One row of its own: objective "imported", the name in the id, the columns of a trained job.
        var results = SweepResults.Read(sweep);
        var rows = SweepResults.Csv(results, spec.Regimes.Classify(results)).Trim().Split('\n');
        Assert.Equal(4, rows.Length);
        var row = rows.Single(r => r.StartsWith(jobs[2].Id + ",", StringComparison.Ordinal));
        Assert.StartsWith($"{jobs[2].Id},subspace-gaussians,imported,0,0,completed,", row);
        static int CellsBeforeReason(string line) => line.Split('"')[0].Split(',').Length;   // the reason is quoted
        Assert.Equal(CellsBeforeReason(rows[1]), CellsBeforeReason(row));
        Assert.Equal(rows[0].Split(',').Length, CellsBeforeReason(row));

        // A level of its own, classified against the standard model, on no objective's curve.
        var model = ReportModel.Build(spec, results);
        var level = model.Levels.Single(l => l.Level.IsImported);
        Assert.Equal("imported lin", level.Level.Label);
        Assert.DoesNotContain("no trained standard model", level.Reason);
        Assert.DoesNotContain(model.Findings, f => f.Objective == ImportedModel.Objective);
        string html = Path.Combine(sweep.Root, "report.html");
        ReportBuilder.Build(sweep, html);
        Assert.Contains("<td class=l>imported lin</td>", File.ReadAllText(html));

        // Done jobs are not redone: the result file stays as it was.
        var written = File.GetLastWriteTimeUtc(sweep.Job(jobs[2]).Result);
        Assert.Equal(0, SweepRunner.RunAll(SweepSpec.Load(sweep.Spec), sweep, NullProgress.Instance));
        Assert.Equal(written, File.GetLastWriteTimeUtc(sweep.Job(jobs[2]).Result));
    }

    [Fact]
    public void MissingOrNonModelFolder_IsRefusedInOneLine_BeforeAnythingRuns()
    {
        string specPath = SpecWith("no-such-model");
        var e = Assert.Throws<PagLabException>(() => SweepSpec.Load(specPath));
        Assert.Contains("model 'lin'", e.Message);
        Assert.Contains("no-such-model not found", e.Message);
        Assert.DoesNotContain('\n', e.Message);

        string notModel = SpecWith("empty");
        Directory.CreateDirectory(Path.Combine(Path.GetDirectoryName(notModel)!, "empty"));
        e = Assert.Throws<PagLabException>(() => SweepSpec.Load(notModel));
        Assert.Contains("is not a model folder (no model.json)", e.Message);

        string otherDataset = SpecWith("mnist-model");
        JsonFiles.Write(Path.Combine(Path.GetDirectoryName(otherDataset)!, "mnist-model", "model.json"),
            new PagLab.Models.ModelFile { Spec = new PagLab.Models.ModelSpec
                { Arch = Architecture.Linear, Channels = 1, Height = 28, Width = 28, Classes = 10,
                    Dataset = "mnist" } });
        Assert.Contains("model 'lin' was made for mnist, listed for subspace-gaussians",
            Assert.Throws<PagLabException>(() => SweepSpec.Load(otherDataset)).Message);

        Assert.Contains("may hold only", Assert.Throws<PagLabException>(() => SweepSpec.Load(SpecWith(".", "a b")))
            .Message);

        string outDir = Path.Combine(TestPaths.TempDir("imported"), "sweep");
        var run = CliProcess.Run("sweep", "run", specPath, "--out", outDir);
        Assert.NotEqual(0, run.ExitCode);
        Assert.Single(run.Stderr.Trim().Split('\n'));
        Assert.Contains("no-such-model not found", run.Stderr);
        Assert.False(Directory.Exists(outDir));
    }
}
