using PagLab.Attacks;
using PagLab.Common;

namespace PagLab.Objectives;

/// <summary>Which objective and how strong. Strength: lambda (gnorm, smooth), sigma (smooth, randsmooth), epsilons (pgd).</summary>
public sealed record ObjectiveConfig
{
    public string Name { get; init; } = "standard";          // standard | gnorm | smooth | randsmooth | pgd
    public double Lambda { get; init; } = 0;
    public string LambdaConvention { get; init; } = "paglab"; // paglab | authors (gnorm: their reg_constant, see GradientNormPenalty)
    public double Sigma { get; init; } = 0;
    public int Draws { get; init; } = 1;                       // smooth: noise draws per image
    public bool OnProbabilities { get; init; } = false;        // smooth: penalise probabilities instead of logits
    public double[] Epsilons { get; init; } = { 1.0 };         // pgd: budget set, one drawn per example
    public PgdConfig Pgd { get; init; } = new();

    // Defaults when the user names an objective but not its strength: mild settings that keep
    // smallcnn above 90% test accuracy after one epoch of the shared MNIST (measured, docs/training.md).
    public const double DefaultGnormLambda = 0.01, DefaultSmoothLambda = 1.0, DefaultSmoothSigma = 0.1, DefaultRandSmoothSigma = 0.15;

    public static double DefaultLambda(string objective) => objective switch { "gnorm" => DefaultGnormLambda, "smooth" => DefaultSmoothLambda, _ => 0 };
    public static double DefaultSigma(string objective) => objective switch { "smooth" => DefaultSmoothSigma, "randsmooth" => DefaultRandSmoothSigma, _ => 0 };

    public static readonly IReadOnlyList<string> Names = new[] { "standard", "gnorm", "smooth", "randsmooth", "pgd" };

    /// <summary>The single number a sweep varies for this objective.</summary>
    public double Strength => Name switch
    {
        "gnorm" or "smooth" => Lambda,
        "randsmooth" => Sigma,
        "pgd" => Epsilons.Max(),
        _ => 0,
    };

    public ITrainingObjective Create(int batchSize)
    {
        Require.That(Names.Contains(Name), $"unknown objective '{Name}' (known: {string.Join(", ", Names)})");
        Require.That(LambdaConvention is "paglab" or "authors", $"lambdaConvention must be paglab or authors, got '{LambdaConvention}'");
        Require.NonNegative(Lambda, "lambda");
        Require.NonNegative(Sigma, "sigma");
        Require.That(Draws is >= 1 and <= 1024, $"draws must be in 1..1024, got {Draws}");
        switch (Name)
        {
            case "standard": return new CrossEntropy();
            case "gnorm":
                return new GradientNormPenalty(LambdaConvention == "authors" ? GradientNormPenalty.FromAuthorsConstant(Lambda, batchSize) : Lambda);
            case "smooth":
                Require.Positive(Sigma, "sigma (smooth needs a noise level)");
                return new SmoothnessPenalty(Lambda, Sigma, Draws, OnProbabilities);
            case "randsmooth": return new RandomizedSmoothing(Sigma);
            default:
                Require.That(Epsilons.Length > 0 && Epsilons.All(e => e > 0 && double.IsFinite(e)), "epsilons must be positive");
                Require.That(Pgd.Steps is >= 1 and <= 1000, $"pgd.steps must be in 1..1000, got {Pgd.Steps}");
                Require.Positive(Pgd.AlphaFactor, "pgd.alphaFactor");
                Attacks.Pgd.StepFor(Pgd.Norm);
                return new PgdAdversarialTraining(Epsilons, Pgd);
        }
    }
}
