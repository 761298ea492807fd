using PagLab.Attributions;
using PagLab.Common;
using PagLab.Data;
using PagLab.Manifold;
using PagLab.Metrics;
using PagLab.Models;
using PagLab.Objectives;
using PagLab.Score;
using PagLab.Training;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Experiments;

/// <summary>The objects one job measures with: its folder, the shared artefacts, its model in memory, LPIPS.
/// </summary>
public sealed record JobContext(SweepSpec Spec, SweepJob Job, JobFolder Folder, SharedArtefacts Shared,
    ImageClassifier Model, Lpips? Lpips, OutputMeasure Measure)
{
    public IDataset Dataset => Shared.Dataset;
    /// <summary>The measured model's folder: the job's training run, or the imported model's folder.</summary>
    public string ModelDir => Job.Imported is { Untrained: false } imported ? imported.Path : Folder.Train;
}

/// <summary>The measure stage of a job: each measurement the spec asks for, on the model it is given.</summary>
public static class JobMeasurements
{
    /// <summary>Each measurement the spec asks for, added to <paramref name="result"/>; each one's seconds go to
    /// <paramref name="times"/>.</summary>
    public static JobResult Measure(JobContext c, JobResult result, StageTimes times)
    {
        var spec = c.Spec;
        // per-image outcomes, so the regime rule can pair this model's accuracy with the standard's
        result = result with { TestCorrectPerImage = Evaluation.CorrectPerImage(c.Model, c.Dataset.Test) };
        if (spec.Measure.Manifold)
        {
            result = MeasureManifold(c, result);
            times.Lap(JobStage.Manifold);
        }
        if (c.Shared.TangentScan is { } scan)
        {
            result = result with { TangentScan = scan.Measure(c.Model, c.Job.Id, c.Dataset, spec, c.Measure,
                c.Job.Seed, NullProgress.Instance) };
            times.Lap(JobStage.TangentScan);
        }
        if (spec.Measure.Alignment)
        {
            result = MeasureAlignment(c, result);
            times.Lap(JobStage.Alignment);
        }
        if (spec.Measure.Distractor && c.Dataset.Test.SignalMask is not null)
        {
            result = MeasureDistractor(c, result);
            times.Lap(JobStage.Distractor);
        }
        return result with { StageSeconds = times.ToDictionary() };
    }

    /// <summary>On- and off-manifold sensitivity and rho_2 (manifold.json).</summary>
    static JobResult MeasureManifold(JobContext c, JobResult result)
    {
        var spec = c.Spec;
        var request = new ManifoldRequest(c.ModelDir, c.Shared.TangentsPath, c.Dataset)
        {
            Epsilons = spec.Measure.Epsilons, Draws = spec.Measure.Draws, Measure = c.Measure, Seed = c.Job.Seed,
            BatchImages = spec.Measure.BatchImages, Rho1Modes = new[] { spec.Measure.Mode }, // the mode reported
            Isotropic = spec.Measure.IsotropicControl,
        };
        var report = ManifoldExperiments.MeasureManifold(request, c.Model, c.Shared.Tangents!, NullProgress.Instance);
        ManifoldReportFiles.Write(c.Folder.Manifold, report);
        var rho2 = report.Rho2PerImage.GetValueOrDefault(Vocabulary.Name(spec.Measure.Mode));
        return result with
        {
            Sensitivity = report.Results.Select(SensitivityResult.From).ToList(),
            Rho2Mode = rho2 is null ? null : spec.Measure.Mode,
            Rho2 = rho2 is null ? null : Uncertainty.Bootstrap.Mean(Uncertainty.Bootstrap.Sample.Defined(rho2)),
            Rho2PerImage = rho2,
        };
    }

    /// <summary>Perceptual alignment with the score (alignment.json) and this model's Figure 6 panel.</summary>
    static JobResult MeasureAlignment(JobContext c, JobResult result)
    {
        var m = c.Spec.Measure;
        var denoiser = c.Shared.Denoiser!;
        double sigma = m.AlignmentSigma ?? Datasets.AlignmentSigma(c.Job.Dataset);
        var report = AlignmentMeasurement.Measure(c.Model, denoiser, c.Dataset, sigma, m.Mode,
            m.AlignmentCount, c.Lpips);
        AlignmentMeasurement.Write(c.Folder.Alignment, report);
        // This model's column of Figure 6 (image, score, its gradient), drawn now so the report only renders.
        string objective = Vocabulary.Name(c.Job.Objective.Kind);
        string label = c.Job.Imported is { } imported ? $"{ImportedModel.Objective} {imported.Name}"
            : c.Job.Objective.Kind == ObjectiveKind.Standard ? objective : $"{objective} {c.Job.Strength:G3}";
        AlignmentMeasurement.Figure(c.Folder.GradientFigure, new[] { (label, (Module<Tensor, Tensor>)c.Model) },
            denoiser, c.Dataset, sigma, m.Mode, SweepRunner.GradientFigureImages, c.Lpips);
        return result with { Alignment = AlignmentResult.From(report), Attributions = MeasureAttributions(c, sigma) };
    }

    /// <summary>The further attributions of measure.attributions against the same score (alignment-NAME.json each);
    /// null when the spec lists none beside the gradient.</summary>
    static List<AlignmentResult>? MeasureAttributions(JobContext c, double sigma)
    {
        var m = c.Spec.Measure;
        var kinds = (m.Attributions ?? Array.Empty<AttributionKind>()).Where(k => k != AttributionKind.Gradient)
            .ToList();
        if (kinds.Count == 0) return null;
        var results = new List<AlignmentResult>();
        foreach (var kind in kinds)
        {
            var report = AlignmentMeasurement.Measure(c.Model, c.Shared.Denoiser!, c.Dataset, sigma, m.Mode,
                m.AlignmentCount, c.Lpips, attribution: new AttributionSettings { Method = kind, Seed = c.Job.Seed });
            AlignmentMeasurement.Write(c.Folder.AttributionAlignment(kind), report);
            results.Add(AlignmentResult.From(report) with { Attribution = kind });
        }
        return results;
    }

    /// <summary>Relative noise robustness on a distractor dataset (distractor.json).</summary>
    static JobResult MeasureDistractor(JobContext c, JobResult result)
    {
        var m = c.Spec.Measure;
        var split = c.Dataset.Test.Take(m.DistractorCount);
        var report = DistractorRobustness.Measure(c.Model, split, m.DistractorSigmas.Values.ToArray(), c.Job.Id,
            c.Job.Dataset, c.Job.Seed, c.Measure);
        DistractorRobustness.Write(c.Folder.Distractor, report);
        return result with { Distractor = report.Points, DistractorOverSigmas = report.OverSigmas };
    }
}
