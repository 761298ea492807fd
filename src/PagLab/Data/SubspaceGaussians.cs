using PagLab.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Data;

/// <summary>Where the class means lie in signal coordinates.</summary>
public enum ClassMeanLayout
{
    Random,     // m_y ~ N(0, sep^2 I), seeded
    Antipodal,  // two classes at m = +sep (1, ..., 1) and -sep (1, ..., 1)
}

/// <summary>The images spanning the subspace.</summary>
public enum SubspaceBasis
{
    Smooth,  // low-frequency 2-D cosines: every pixel mixes on- and off-subspace directions
    Pixels,  // single pixels (a seeded choice): the off-subspace directions are the other pixels themselves
}

/// <summary>Settings of the synthetic dataset with a known manifold (see docs/subspace-gaussians.md).</summary>
public sealed record SubspaceGaussiansOptions
{
    public DatasetName Dataset { get; init; } = DatasetName.SubspaceGaussians;
    public int Channels { get; init; } = 1;
    public int Height { get; init; } = 28;
    public int Width { get; init; } = 28;
    public int Classes { get; init; } = 10;
    public int SignalDims { get; init; } = 8;
    public int DistractorDims { get; init; } = 8;
    public double ClassSeparation { get; init; } = 0.5;   // class means m_y ~ N(0, sep^2 I) in signal coordinates
    public ClassMeanLayout MeanLayout { get; init; } = ClassMeanLayout.Random;
    public SubspaceBasis Basis { get; init; } = SubspaceBasis.Smooth;
    public double MeanPixel { get; init; } = 0.5;          // every pixel's mean: grey
    public double WithinStd { get; init; } = 0.3;          // within-class std per signal coordinate
    public double DistractorStd { get; init; } = 0.6;      // label-independent std per distractor coordinate
    public double OffSubspaceStd { get; init; } = 0.0;     // tau: isotropic noise off (and on) the subspace
    public int TrainSize { get; init; } = 10_000;
    public int TestSize { get; init; } = 2_000;
    public long Seed { get; init; } = 0;

    /// <summary>
    /// The variant on which standard training is weak (docs/subspace-gaussians.md, "weak variant"): 8x8 images, two
    /// antipodal classes (means +-0.6 on each of 4 signal pixels, within-class std 1), no distractor, and
    /// off-subspace noise tau = 0.02 on the other 60 pixels, which are near 0 (pixel mean 0, like a blank border).
    /// With 64 training images an over-parameterised model trained by Adam separates them along those thin pixels
    /// (Adam scales each weight's step to the learning rate however small its gradient), which the Bayes classifier
    /// ignores. With a smooth basis, a grey mean or SGD the same data give no weak regime (the doc has numbers).
    /// </summary>
    public static SubspaceGaussiansOptions Weak(long seed, int trainSize, int testSize) => new()
    {
        Dataset = DatasetName.SubspaceGaussiansWeak, Height = 8, Width = 8, Classes = 2, SignalDims = 4,
        DistractorDims = 0,
        ClassSeparation = 0.6, MeanLayout = ClassMeanLayout.Antipodal, Basis = SubspaceBasis.Pixels, MeanPixel = 0,
        WithinStd = 1, DistractorStd = 0,
        OffSubspaceStd = 0.02, TrainSize = trainSize, TestSize = testSize, Seed = seed,
    };
}

/// <summary>
/// Gaussian classes on a k-dimensional affine subspace of image space, with every quantity the
/// paper can only estimate available in closed form:
///   x = mean + S (m_y + a) + Dst b + tau n,  a ~ N(0, w^2 I), b ~ N(0, d^2 I), n ~ N(0, I_D),
/// S (signal) and Dst (distractor) orthonormal sets of smooth basis images (2-D cosines), y uniform.
/// The class depends on the signal coordinates z_s = S^T (x - mean) only; the distractor is
/// label-independent (PAGs, Definition 3). Closed forms are computed in float64.
/// </summary>
public sealed class SubspaceGaussians : IDataset, IDisposable
{
    readonly Tensor signal64, distractor64, means64, mean64; // (D, ks), (D, kd), (Classes, ks), (D)

    SubspaceGaussians(SubspaceGaussiansOptions o, Tensor signal, Tensor distractor, Tensor classMeans, DataSplit train,
        DataSplit test)
    {
        Options = o;
        signal64 = signal; distractor64 = distractor; means64 = classMeans;
        mean64 = full(o.Channels * o.Height * o.Width, o.MeanPixel, dtype: ScalarType.Float64);
        Train = train; Test = test;
        ClassNames = Enumerable.Range(0, o.Classes).Select(i => $"class{i}").ToArray();
    }

    public SubspaceGaussiansOptions Options { get; }
    public string Name => Datasets.Name(Options.Dataset);
    public ImageShape Shape => new(Options.Channels, Options.Height, Options.Width);
    public int Classes => Options.Classes;
    public IReadOnlyList<string> ClassNames { get; }
    public DataSplit Train { get; }
    public DataSplit Test { get; }

    public Tensor Mean => mean64;                                       // (D)
    public Tensor SignalBasis => signal64;                              // (D, ks)
    public Tensor DistractorBasis => distractor64;                      // (D, kd)
    public Tensor TangentBasis => cat(new[] { signal64, distractor64 }, 1); // (D, k) orthonormal
    public Tensor ClassMeans => means64.matmul(signal64.T).add(mean64);  // (Classes, D) in pixel space
    public Tensor ClassMeansInSignalCoordinates => means64;             // (Classes, ks)

    double W2 => Options.WithinStd * Options.WithinStd;
    double D2 => Options.DistractorStd * Options.DistractorStd;
    double Tau2 => Options.OffSubspaceStd * Options.OffSubspaceStd;

    public static SubspaceGaussians Create(SubspaceGaussiansOptions o)
    {
        Require.That(o.Channels >= 1 && o.Height >= 4 && o.Width >= 4,
            "subspace-gaussians: images must be at least 4x4");
        Require.That(o.Classes >= 2, "subspace-gaussians: need at least 2 classes");
        Require.That(o.SignalDims >= 1 && o.DistractorDims >= 0,
            "subspace-gaussians: need at least one signal dimension");
        Require.Positive(o.WithinStd, "within-class std");
        Require.NonNegative(o.DistractorStd, "distractor std");
        Require.NonNegative(o.OffSubspaceStd, "off-subspace std");
        Require.That(o.TrainSize >= 1 && o.TestSize >= 1, "subspace-gaussians: sizes must be positive");
        Require.That(o.MeanLayout != ClassMeanLayout.Antipodal || o.Classes == 2,
            "subspace-gaussians: antipodal class means need exactly 2 classes");
        int k = o.SignalDims + o.DistractorDims;
        using var g = new Generator(unchecked((ulong)o.Seed * 2654435761UL + 11), device: CPU);
        var basis = o.Basis == SubspaceBasis.Pixels ? PixelBasis(o, k, g) : SmoothBasis(o, k, g); // (D, k)
        var signal = basis.narrow(1, 0, o.SignalDims).contiguous();
        var distractor = basis.narrow(1, o.SignalDims, o.DistractorDims).contiguous();
        var classMeans = o.MeanLayout == ClassMeanLayout.Antipodal
            ? tensor(new[] { 1.0, -1.0 }, dtype: ScalarType.Float64).reshape(2, 1)
                * ones(1, o.SignalDims, dtype: ScalarType.Float64) * o.ClassSeparation
            : randn(new long[] { o.Classes, o.SignalDims }, dtype: ScalarType.Float64, generator: g)
                * o.ClassSeparation;
        var placeholder = new DataSplit(zeros(0, o.Channels, o.Height, o.Width), zeros(0, dtype: ScalarType.Int64));
        var ds = new SubspaceGaussians(o, signal, distractor, classMeans, placeholder, placeholder);
        var train = ds.Sample(o.TrainSize, g);
        var test = ds.Sample(o.TestSize, g);
        return new SubspaceGaussians(o, signal, distractor, classMeans, train, test);
    }

    /// <summary>k orthonormal low-frequency 2-D cosine images (DCT-II modes without the constant), in a seeded
    /// order.</summary>
    static Tensor SmoothBasis(SubspaceGaussiansOptions o, int k, Generator g)
    {
        var modes = new List<(int U, int V, int C)>();
        for (int s = 1; modes.Count < 3 * k + 8; s++)
            for (int u = 0; u <= s; u++)
                for (int c = 0; c < o.Channels; c++)
                    modes.Add((u, s - u, c));
        var pick = randperm(modes.Count, generator: g).data<long>().Take(k).Select(i => modes[(int)i]).ToArray();
        var y = arange(o.Height, dtype: ScalarType.Float64).add(0.5).reshape(o.Height, 1);
        var x = arange(o.Width, dtype: ScalarType.Float64).add(0.5).reshape(1, o.Width);
        var columns = pick.Select(m =>
        {
            var image = zeros(new long[] { o.Channels, o.Height, o.Width }, dtype: ScalarType.Float64);
            image[m.C] = (y * (Math.PI * m.V / o.Height)).cos() * (x * (Math.PI * m.U / o.Width)).cos();
            var flat = image.flatten();
            return flat / flat.norm();
        }).ToArray();
        var basis = stack(columns, 1);
        var (q, _) = linalg.qr(basis);                                     // exact orthonormality in float64
        return q.contiguous();
    }

    /// <summary>k distinct single-pixel images (unit vectors), a seeded choice.</summary>
    static Tensor PixelBasis(SubspaceGaussiansOptions o, int k, Generator g)
    {
        long pixels = (long)o.Channels * o.Height * o.Width;
        Require.That(k <= pixels, $"subspace-gaussians: {k} subspace dimensions need at least {k} pixels");
        var pick = randperm(pixels, generator: g).narrow(0, 0, k);
        return eye(pixels, dtype: ScalarType.Float64).index_select(1, pick).contiguous();
    }

    DataSplit Sample(int n, Generator g)
    {
        using var scope = NewDisposeScope();
        var o = Options;
        var labels = randint(o.Classes, new long[] { n }, generator: g, dtype: ScalarType.Int64);
        var zs = means64.index_select(0, labels) + randn(new long[] { n, o.SignalDims }, dtype: ScalarType.Float64,
            generator: g) * o.WithinStd;
        var zd = randn(new long[] { n, o.DistractorDims }, dtype: ScalarType.Float64, generator: g) * o.DistractorStd;
        var x = mean64 + zs.matmul(signal64.T) + zd.matmul(distractor64.T);
        if (o.OffSubspaceStd > 0) x = x + randn(x.shape, dtype: ScalarType.Float64, generator: g) * o.OffSubspaceStd;
        var images = x.to_type(ScalarType.Float32).reshape(n, o.Channels, o.Height, o.Width);
        return new DataSplit(images.MoveToOuterDisposeScope(), labels.MoveToOuterDisposeScope());
    }

    Tensor Flat(Tensor x) => x.to_type(ScalarType.Float64).reshape(x.shape[0], -1); // (B, D)
    Tensor AsImages(Tensor flat, Tensor like) => flat.reshape(like.shape).to_type(like.dtype);

    /// <summary>
    /// The Bayes classifier's logits -||z_s - m_y||^2 / (2 (w^2 + tau^2)), (B, Classes): log p(z_s | y) up to a
    /// constant, hence log p(y | x) only up to the per-row log-evidence, which depends on x. Compare gradients
    /// through <see cref="BayesLogPosterior"/>, never these.
    /// </summary>
    public Tensor BayesLogits(Tensor x)
    {
        using var scope = NewDisposeScope();
        var zs = (Flat(x) - mean64).matmul(signal64);                          // (B, ks)
        var d2 = (zs.unsqueeze(1) - means64.unsqueeze(0)).pow(2).sum(2);       // (B, Classes)
        return (d2 * (-0.5 / (W2 + Tau2))).MoveToOuterDisposeScope();
    }

    /// <summary>The exact log p(y | x) = log_softmax_y(BayesLogits). (B, Classes), float64.</summary>
    public Tensor BayesLogPosterior(Tensor x)
    {
        using var scope = NewDisposeScope();
        return BayesLogits(x).log_softmax(1).MoveToOuterDisposeScope();
    }

    /// <summary>Bayes-optimal p(y | x). (B, Classes), float64.</summary>
    public Tensor Posterior(Tensor x)
    {
        using var scope = NewDisposeScope();
        return BayesLogits(x).softmax(1).MoveToOuterDisposeScope();
    }

    /// <summary>d/dx of BayesLogits[b, classes[b]] = -S (z_s - m_c) / (w^2 + tau^2): always in the signal
    /// span.</summary>
    public Tensor BayesLogitGradient(Tensor x, Tensor classes)
    {
        using var scope = NewDisposeScope();
        var zs = (Flat(x) - mean64).matmul(signal64);
        var m = means64.index_select(0, classes.to_type(ScalarType.Int64));
        var g = (zs - m).matmul(signal64.T) * (-1.0 / (W2 + Tau2));
        return AsImages(g, x).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// d/dx log p(c | x) for c = classes[b], or of sum_c log p(c | x) when classes is null, in closed form
    /// (PAGs, Suppl. A: grad log p(c|x) = grad log p(x|c) - sum_j p(j|x) grad log p(x|j)):
    /// S (m_c - sum_j p_j m_j) / (w^2 + tau^2), summed: S (sum_c m_c - C sum_j p_j m_j) / (w^2 + tau^2).
    /// In the signal span like <see cref="BayesLogitGradient"/>, but free of the log-evidence's gradient.
    /// </summary>
    public Tensor BayesLogPosteriorGradient(Tensor x, Tensor? classes)
    {
        using var scope = NewDisposeScope();
        var expectedMean = Posterior(x).matmul(means64);                      // (B, ks): sum_j p_j m_j
        var m = classes is null
            ? means64.sum(0, keepdim: true) - expectedMean * Options.Classes
            : means64.index_select(0, classes.to_type(ScalarType.Int64)) - expectedMean;
        var g = m.matmul(signal64.T) * (1.0 / (W2 + Tau2));
        return AsImages(g, x).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// log p_sigma(x), p_sigma = p * N(0, sigma^2 I): a Gaussian mixture with covariance Sigma + sigma^2 I, or with
    /// labels the class density log p_sigma(x | y = labels[b]) (one Gaussian). (B), float64.
    /// </summary>
    public Tensor LogDensity(Tensor x, double sigma, Tensor? labels = null)
    {
        double t2 = CheckSmoothing(sigma);
        using var scope = NewDisposeScope();
        var (zs, zd, residual2) = Coordinates(x);
        double a = W2 + t2, b = D2 + t2;
        int ks = Options.SignalDims, kd = Options.DistractorDims;
        long d = Shape.Pixels;
        var perClass = (zs.unsqueeze(1) - means64.unsqueeze(0)).pow(2).sum(2) * (-0.5 / a);   // (B, Classes)
        var common = zd.pow(2).sum(1) * (-0.5 / b) + residual2 * (-0.5 / t2)
                     - 0.5 * (ks * Math.Log(a) + kd * Math.Log(b) + (d - ks - kd) * Math.Log(t2) + d * Math.Log(2
                         * Math.PI));
        var mixture = labels is null
            ? perClass.logsumexp(1) - Math.Log(Options.Classes)
            : perClass.gather(1, labels.to_type(ScalarType.Int64).reshape(-1, 1)).squeeze(1);
        return (mixture + common).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The score grad_x log p_sigma(x), or with labels the class-conditional score grad_x log p_sigma(x | y):
    /// the same formula with the responsibilities replaced by the one-hot label. (B, C, H, W) like x.
    /// </summary>
    public Tensor Score(Tensor x, double sigma, Tensor? labels = null)
    {
        double t2 = CheckSmoothing(sigma);
        using var scope = NewDisposeScope();
        var centred = Flat(x) - mean64;
        var zs = centred.matmul(signal64); var zd = centred.matmul(distractor64);
        var residual = centred - zs.matmul(signal64.T) - zd.matmul(distractor64.T);
        double a = W2 + t2, b = D2 + t2;
        var expectedMean = labels is null                                     // (B, ks)
            ? ((zs.unsqueeze(1) - means64.unsqueeze(0)).pow(2).sum(2) * (-0.5 / a)).softmax(1).matmul(means64)
            : means64.index_select(0, labels.to_type(ScalarType.Int64));
        var score = (zs - expectedMean).matmul(signal64.T) * (-1 / a) + zd.matmul(distractor64.T) * (-1 / b) + residual
            * (-1 / t2);
        return AsImages(score, x).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// E[x0 | x0 + sigma n = x] (given y = labels when not null), the ideal denoiser (Tweedie: x + sigma^2 score).
    /// </summary>
    public Tensor PosteriorMean(Tensor x, double sigma, Tensor? labels = null)
    {
        Require.Positive(sigma, "sigma");
        using var scope = NewDisposeScope();
        var s = Score(x, sigma, labels).to_type(ScalarType.Float64);
        return AsImages(x.to_type(ScalarType.Float64).reshape(s.shape) + s * (sigma * sigma),
            x).MoveToOuterDisposeScope();
    }

    /// <summary>Projection onto the tangent space (the subspace directions): P v = T T^T v.</summary>
    public Tensor ProjectOnManifold(Tensor v)
    {
        using var scope = NewDisposeScope();
        var t = TangentBasis;
        return AsImages(Flat(v).matmul(t).matmul(t.T), v).MoveToOuterDisposeScope();
    }

    (Tensor Zs, Tensor Zd, Tensor Residual2) Coordinates(Tensor x)
    {
        var centred = Flat(x) - mean64;
        var zs = centred.matmul(signal64); var zd = centred.matmul(distractor64);
        var residual2 = (centred.pow(2).sum(1) - zs.pow(2).sum(1) - zd.pow(2).sum(1)).clamp_min(0);
        return (zs, zd, residual2);
    }

    double CheckSmoothing(double sigma)
    {
        Require.NonNegative(sigma, "sigma");
        double t2 = Tau2 + sigma * sigma;
        Require.That(t2 > 0,
            "the density of subspace-gaussians is degenerate at sigma = 0 without off-subspace noise; use sigma > 0");
        return t2;
    }

    public void Dispose()
    {
        Train.Dispose(); Test.Dispose();
        signal64.Dispose(); distractor64.Dispose(); means64.Dispose(); mean64.Dispose();
    }
}
