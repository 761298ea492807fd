using PagLab.Common;
using PagLab.Models;

namespace PagLab.Experiments;

/// <summary>
/// A model the sweep does not train (e.g. one made by `paglab model import`), measured beside the trained ones:
/// `"models": [{ "name": "robust-r18", "path": "models/robust-r18", "dataset": "cifar10" }]` in a spec.
/// </summary>
public sealed record ImportedModel
{
    /// <summary>Objective column and level name of an imported model's results (it has no objective).</summary>
    public const string Objective = "imported";

    public required string Name { get; init; }
    /// <summary>A model folder; relative to the spec file, made absolute when the spec is read.</summary>
    public required string Path { get; init; }
    public required string Dataset { get; init; }
    /// <summary>The untrained control (`measure.untrainedControl`): the sweep's architecture freshly initialised,
    /// built by the job instead of loaded from <see cref="Path"/>.</summary>
    [System.Text.Json.Serialization.JsonIgnore] public bool Untrained { get; init; }

    /// <summary>The untrained control's name (its level's label: "imported untrained").</summary>
    public const string UntrainedName = "untrained";
}

/// <summary>Reading, checking and listing the imported models of a spec.</summary>
public static class ImportedModels
{
    /// <summary>The spec with each model's path made absolute (relative paths are relative to the spec file).</summary>
    public static SweepSpec Resolve(SweepSpec spec, string specPath)
    {
        if (spec.Models is not { Length: > 0 } models) return spec;
        string dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(specPath)) ?? ".";
        return spec with
        {
            Models = models.Select(m => m is null || m.Path is null ? m! : m with
                { Path = System.IO.Path.GetFullPath(System.IO.Path.Combine(dir, m.Path)) }).ToArray(),
        };
    }

    /// <summary>Each entry named safely and once, on a dataset of the sweep, and pointing at a model folder.</summary>
    public static void Validate(SweepSpec spec, string where)
    {
        foreach (var entry in spec.Models ?? Array.Empty<ImportedModel>())
        {
            if (entry is not { Name: { } name, Path: { } path, Dataset: { } dataset })
                throw new PagLabException($"{where}: each entry of 'models' needs name, path and dataset");
            var m = new ImportedModel { Name = name, Path = path, Dataset = dataset };
            Require.That(SweepSpec.IsSafeName(m.Name),
                $"{where}: models: name '{SlurmScript.Printable(m.Name)}' may hold only letters, digits, '.', '_' "
                + "and '-' (at most 64)");
            Require.That(spec.Datasets.Contains(m.Dataset),
                $"{where}: model '{m.Name}': dataset '{m.Dataset}' is not one of the sweep's datasets");
            Require.That(Directory.Exists(m.Path), $"{where}: model '{m.Name}': {m.Path} not found");
            Require.That(File.Exists(System.IO.Path.Combine(m.Path, SavedModel.InfoFile)),
                $"{where}: model '{m.Name}': {m.Path} is not a model folder (no {SavedModel.InfoFile})");
            // Shapes are checked when the job loads the dataset; a model made for another dataset is refused now.
            var made = IO.JsonFiles.Read<ModelFile>(System.IO.Path.Combine(m.Path, SavedModel.InfoFile)).Spec?.Dataset;
            Require.That(made is null || made == m.Dataset,
                $"{where}: model '{m.Name}' was made for {made}, listed for {m.Dataset}");
        }
        Require.That(!spec.Measure.UntrainedControl
                     || spec.Models?.Any(m => m.Name == ImportedModel.UntrainedName) != true,
            $"{where}: models: '{ImportedModel.UntrainedName}' is the untrained control's name; rename the model");
        var twice = (spec.Models ?? Array.Empty<ImportedModel>()).GroupBy(m => m.Name)
            .FirstOrDefault(g => g.Count() > 1);
        if (twice is not null) throw new PagLabException($"{where}: model '{twice.Key}' is listed twice");
    }

    /// <summary>One job per imported model, numbered after the <paramref name="first"/> trained jobs, in spec order.
    /// </summary>
    public static IEnumerable<SweepJob> Jobs(SweepSpec spec, int first)
    {
        var models = (spec.Models ?? Array.Empty<ImportedModel>()).ToList();
        // one untrained control per dataset, with the first seed's initialisation and draws (issue 24, item 3a)
        if (spec.Measure.UntrainedControl)
            models.AddRange(spec.Datasets.Select(d => new ImportedModel
                { Name = ImportedModel.UntrainedName, Path = "", Dataset = d, Untrained = true }));
        long seed = spec.Seeds.Length > 0 ? spec.Seeds[0] : 0;
        return models.Select((m, i) => new SweepJob(first + i, m.Dataset, Standard, 0, m.Untrained ? seed : 0)
            { Imported = m });
    }

    /// <summary>The objective slot of an imported job: it trains nothing, so no objective's settings apply.</summary>
    static readonly Objectives.ObjectiveConfig Standard = new() { Kind = Objectives.ObjectiveKind.Standard };
}
