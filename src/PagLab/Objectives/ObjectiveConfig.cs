using PagLab.Attacks;
using System.Text.Json.Serialization;
using PagLab.Common;

namespace PagLab.Objectives;

/// <summary>The training objectives (PAGs, Section 4 and Suppl. B.2).</summary>
public enum ObjectiveKind
{
    [Name("standard", "cross-entropy only")] Standard,
    [Name("gnorm", "cross-entropy + lambda * squared input-gradient norm (double backprop)")] Gnorm,
    [Name("smooth", "cross-entropy + lambda * output change under Gaussian noise of sigma")] Smooth,
    [Name("randsmooth", "cross-entropy on Gaussian-noised inputs (randomized smoothing, sigma)")] RandSmooth,
    [Name("pgd", "adversarial training on PGD examples within epsilon")] Pgd,
}

/// <summary>How lambda of gnorm is read.</summary>
public enum LambdaConvention
{
    [Name("paglab", "lambda multiplies the per-example mean squared gradient norm")] PagLab,
    [Name("authors", "the PAGs authors' reg_constant (1e5-scaled batch-mean gradient, see GradientNormPenalty)")]
    Authors,
}

/// <summary>
/// Which objective and how strong: the one objective record of training configs, run.json and sweep specs.
/// Strength: lambda (gnorm, smooth), sigma (smooth, randsmooth), epsilons (pgd). A sweep spec's entry is the
/// same record with <see cref="Strengths"/>, the values its strength parameter takes (<see cref="At"/>).
/// </summary>
public sealed record ObjectiveConfig
{
    /// <summary>Which objective; "name" in files and specs.</summary>
    [JsonPropertyName("name")] public ObjectiveKind Kind { get; init; } = ObjectiveKind.Standard;

    // unset lambda and sigma take their objective's default, so a spec's smooth entry without sigma gets smooth's
    readonly double? lambda, sigma;

    public double Lambda { get => lambda ?? DefaultLambda(Kind); init => lambda = value; }
    public LambdaConvention LambdaConvention { get; init; } = LambdaConvention.PagLab; // gnorm only
    public double Sigma { get => sigma ?? DefaultSigma(Kind); init => sigma = value; }
    public int Draws { get; init; } = 1;                       // smooth: noise draws per image
    public bool OnProbabilities { get; init; } = false;        // smooth: penalise probabilities instead of logits
    public double[] Epsilons { get; init; } = { 1.0 };         // pgd: budget set, one drawn per example
    public PgdConfig Pgd { get; init; } = new();

    /// <summary>Sweep specs only: the strengths trained (null: 0 alone); never set in a run's config.</summary>
    public double[]? Strengths { get; init; }

    // Defaults when the user names an objective but not its strength: mild settings that keep
    // smallcnn above 90% test accuracy after one epoch of the shared MNIST (measured, docs/training.md).
    public const double DefaultGnormLambda = 0.01, DefaultSmoothLambda = 1.0, DefaultSmoothSigma = 0.1,
        DefaultRandSmoothSigma = 0.15;

    public static double DefaultLambda(ObjectiveKind objective) => objective switch
    {
        ObjectiveKind.Gnorm => DefaultGnormLambda, ObjectiveKind.Smooth => DefaultSmoothLambda, _ => 0,
    };

    public static double DefaultSigma(ObjectiveKind objective) => objective switch
    {
        ObjectiveKind.Smooth => DefaultSmoothSigma, ObjectiveKind.RandSmooth => DefaultRandSmoothSigma, _ => 0,
    };

    /// <summary>
    /// This objective at the strength a sweep varies (the inverse of <see cref="Strength"/>): lambda of gnorm and
    /// smooth, sigma of randsmooth, the epsilon of pgd; its other settings (smooth's sigma, pgd's steps) kept.
    /// </summary>
    public ObjectiveConfig At(double strength) => Kind switch
    {
        ObjectiveKind.Gnorm or ObjectiveKind.Smooth => this with { Lambda = strength, Strengths = null },
        ObjectiveKind.RandSmooth => this with { Sigma = strength, Strengths = null },
        ObjectiveKind.Pgd => this with { Epsilons = new[] { strength }, Strengths = null },
        _ => this with { Strengths = null },
    };

    /// <summary>The single number a sweep varies for this objective.</summary>
    public double Strength => Kind switch
    {
        ObjectiveKind.Gnorm or ObjectiveKind.Smooth => Lambda,
        ObjectiveKind.RandSmooth => Sigma,
        ObjectiveKind.Pgd => Epsilons.Max(),
        _ => 0,
    };

    /// <summary>Upper bounds of the strengths: images are in [0,1], so sigma 1e3 is pure noise already.</summary>
    public const double MaxLambda = 1e12, MaxSigma = 1e3;

    public ITrainingObjective Create(int batchSize)
    {
        // Beyond these the loss overflows float32 (or the noise drowns every image): refused, not trained into NaN.
        Require.That(Lambda >= 0 && Lambda <= MaxLambda,
            $"lambda must be in [0, {MaxLambda:G}], {Require.Got(Lambda)}");
        Require.That(Sigma >= 0 && Sigma <= MaxSigma, $"sigma must be in [0, {MaxSigma:G}], {Require.Got(Sigma)}");
        Require.That(Draws is >= 1 and <= 1024, $"draws must be in 1..1024, got {Draws}");
        switch (Kind)
        {
            case ObjectiveKind.Standard: return new CrossEntropy();
            case ObjectiveKind.Gnorm:
                return new GradientNormPenalty(LambdaConvention == LambdaConvention.Authors
                    ? GradientNormPenalty.FromAuthorsConstant(Lambda, batchSize) : Lambda);
            case ObjectiveKind.Smooth:
                Require.Positive(Sigma, "sigma (smooth needs a noise level)");
                return new SmoothnessPenalty(Lambda, Sigma, Draws, OnProbabilities);
            case ObjectiveKind.RandSmooth: return new RandomizedSmoothing(Sigma);
            default:
                Pgd.Validate(Epsilons);
                return new PgdAdversarialTraining(Epsilons, Pgd);
        }
    }
}
