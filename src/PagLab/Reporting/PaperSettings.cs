using System.Globalization;
using PagLab.Common;
using PagLab.Data;
using PagLab.Models;
using PagLab.Objectives;

namespace PagLab.Reporting;

/// <summary>The strengths the paper swept one objective over, in the authors' own units.</summary>
public sealed record PaperStrengths(ObjectiveKind Objective, string Range);

/// <summary>One of the paper's experiments: the data, the model and its training, the seeds and the strengths.
/// </summary>
/// <param name="TrainImages">The training images of the dataset (the paper trains on whole training sets).</param>
/// <param name="Seeds">Seeds per strength as the paper states them; null where it states none.</param>
public sealed record PaperExperiment(DatasetName Dataset, int TrainImages, Architecture Arch, int Epochs, int? Seeds,
    IReadOnlyList<PaperStrengths> Strengths)
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public string Text => $"{Vocabulary.Name(Dataset)} ({TrainImages.ToString("N0", Inv)} training images), "
        + $"{Vocabulary.Name(Arch)}, {Epochs} epochs, "
        + (Seeds is int n ? $"{n} seeds" : "seeds not stated") + "; "
        + string.Join("; ", Strengths.Select(s => $"{Vocabulary.Name(s.Objective)} {s.Range}"));
}

/// <summary>
/// Where the paper showed one finding: its experiments, how it measured, and where in the paper. A finding with no
/// experiment is a check of PagLab's that the paper does not make (<see cref="Measurement"/> says why).
/// </summary>
public sealed record PaperSetting(IReadOnlyList<PaperExperiment> Experiments, string Measurement, string Where)
{
    public bool InPaper => Experiments.Count > 0;

    /// <summary>The datasets and the place in the paper.</summary>
    public string Short => InPaper
        ? $"{string.Join(", ", Experiments.Select(e => $"{Vocabulary.Name(e.Dataset)} {Vocabulary.Name(e.Arch)}"))}"
          + $" ({Where})"
        : $"not in the paper ({Where})";

    public string Text => InPaper
        ? $"{string.Join(" | ", Experiments.Select(e => e.Text))}; {Measurement} ({Where})"
        : $"not shown in the paper: {Measurement} ({Where})";
}

/// <summary>
/// The paper's setting per finding id (<see cref="Findings"/>), from its text (Sections 4-5, Suppl. B) and, for the
/// strength grids its figures only plot, the authors' run_experiments.py (tml-tuebingen/pags, docs/training.md).
/// </summary>
public static class PaperSettings
{
    // PAGs Suppl. B.2 and run_experiments.py train_*: ResNet-18, 200 epochs; Figure 3's caption: 10 seeds. Strengths
    // are logspace grids of 30 values; gnorm's c is the authors' convention (docs/training.md, lambdaConvention).
    static readonly PaperExperiment Cifar10 = new(DatasetName.Cifar10, 50_000, Architecture.ResNet18, 200, 10, new[]
    {
        new PaperStrengths(ObjectiveKind.Gnorm, "c 1e-5 to 1e2 (30 values)"),
        new PaperStrengths(ObjectiveKind.Smooth, "lambda 1e-4 to 1e4 (30 values) at noise 0.1"),
        new PaperStrengths(ObjectiveKind.RandSmooth, "sigma 1e-3 to 1e2 (30 values)"),
        new PaperStrengths(ObjectiveKind.Pgd, "L2 eps 1e-5 to 1e4 (30 values), 10 steps"),
    });

    // PAGs Suppl. B.2: 90 epochs, PGD with 3 steps; run_experiments.py train_imagenet64x64 lists the eps.
    static readonly PaperExperiment ImageNet64 = new(DatasetName.ImageNet64, 1_281_167, Architecture.ResNet18, 90,
        null, new[] { new PaperStrengths(ObjectiveKind.Pgd, "L2 eps 0 to 5000 (12 values), 3 steps") });

    // PAGs Suppl. B.2 and B.9: MNIST digits (its 60,000 training images) beside a letter A, 56x28, 9 epochs.
    static readonly PaperExperiment MnistDistractor = new(DatasetName.MnistDistractor, 60_000, Architecture.ResNet18,
        9, null, new[] { new PaperStrengths(ObjectiveKind.Pgd, "L2 eps from {1, 4, 8}, 10 steps") });

    const string OnOff = "random perturbations projected onto / off the tangent spaces of an autoencoder with k = 128 "
        + "(Suppl. B.6), output change ||f(x) - f(x + u)||_2";
    const string Lpips = "1 - LPIPS (AlexNet) between input gradients and the score of NVlabs' EDM";

    static readonly IReadOnlyDictionary<string, PaperSetting> Table = new Dictionary<string, PaperSetting>
    {
        [Findings.StandardOffAboveOn] = new(new[] { Cifar10 }, OnOff, "Figure 3 top, left end; Section 4.1"),
        [Findings.OffFalls] = new(new[] { Cifar10 }, OnOff, "Figure 3 top, Figure 9; Section 4.1"),
        [Findings.OnFlat] = new(new[] { Cifar10 }, OnOff, "Figure 3 top, Figure 9; Section 4.1"),
        [Findings.RelativeOffRobustnessGrows] = new(new[] { Cifar10 }, OnOff,
            "Definition 1, Figure 3 top; Section 4.1"),
        [Findings.AlignmentPeaks] = new(new[] { Cifar10, ImageNet64 },
            Lpips + " (CIFAR-10: unconditional, sigma 0.5, summed gradients; ImageNet-64: conditional, sigma 1.2, "
            + "predicted class; Suppl. B.3-B.5)", "Figure 3 bottom, Figure 4; Section 4.2"),
        [Findings.BayesAlignedMostAligned] = new(new[] { ImageNet64, Cifar10 },
            Lpips + ", shown on example images per regime", "Figure 6, Suppl. Figures 10-15; Section 4.2"),
        [Findings.BayesAlignedNearestBayes] = new(Array.Empty<PaperExperiment>(),
            "the paper has no Bayes-optimal gradients and uses the score as their proxy; PagLab checks it on data "
            + "whose Bayes classifier is known", "Section 4, Measuring Perceptual Alignment"),
        [Findings.StandardRelativeNoise] = new(new[] { MnistDistractor },
            "output change under Gaussian noise on the digit only over that on the letter only",
            "Figure 5; Section 4.3"),
        [Findings.RobustRelativeNoise] = new(new[] { MnistDistractor },
            "output change under Gaussian noise on the digit only over that on the letter only, one PGD model "
            + "against the standard one", "Figure 5; Section 4.3"),
        [Findings.Trained] = new(Array.Empty<PaperExperiment>(),
            "a precondition PagLab checks before any finding; the paper's models are trained on whole training sets",
            "Suppl. B.2"),
    };

    /// <summary>The finding ids the table knows.</summary>
    public static IEnumerable<string> Ids => Table.Keys;

    /// <summary>Every experiment of the paper the table names, once.</summary>
    public static IReadOnlyList<PaperExperiment> Experiments =>
        Table.Values.SelectMany(p => p.Experiments).Distinct().ToList();

    /// <summary>The paper's setting of a finding; null for an id the table lacks (PaperSettingsTests keeps every id of
    /// <see cref="Findings"/> in it).</summary>
    public static PaperSetting? Of(string findingId) => Table.GetValueOrDefault(findingId);

    /// <summary>The setting in one line, or what says it is missing.</summary>
    public static string Short(string findingId) => Of(findingId) is { } p ? p.Short : "not recorded";
}
