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

    /// <summary>Upper bounds of the strengths: images are in [0,1], so sigma 1e3 is pure noise already.</summary>
    public const double MaxLambda = 1e12, MaxSigma = 1e3;

    public ITrainingObjective Create(int batchSize)
    {
        Require.That(Names.Contains(Name), $"unknown objective '{Name}' (known: {string.Join(", ", Names)})");
        Require.That(LambdaConvention is "paglab" or "authors",
            $"lambdaConvention must be paglab or authors, got '{LambdaConvention}'");
        // Beyond these the loss overflows float32 (or the noise drowns every image): refused, not trained into NaN.
        Require.That(Lambda >= 0 && Lambda <= MaxLambda, $"lambda must be in [0, {MaxLambda:G}], got {Lambda}");
        Require.That(Sigma >= 0 && Sigma <= MaxSigma, $"sigma must be in [0, {MaxSigma:G}], got {Sigma}");
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
                Pgd.Validate(Epsilons);
                return new PgdAdversarialTraining(Epsilons, Pgd);
        }
    }
}
