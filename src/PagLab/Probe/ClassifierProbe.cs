using PagLab.Data;
using PagLab.Common;
using PagLab.Models;
using static TorchSharp.torch;
using static PagLab.Probe.ProbeChild;

namespace PagLab.Probe;

/// <summary>
/// The first run of an imported classifier (in the probe child): its shapes, a batch of real test images against
/// the same images one at a time (batch statistics) and against a second forward (dropout), an input gradient
/// that exists and is not zero, and its accuracy on a sample of the test split. Every output must be finite
/// floating point (<see cref="IO.Torch.ScriptCall"/>).
/// </summary>
public static class ClassifierProbe
{
    /// <summary>Outputs that differ by more than this, relative to their scale, differ for a reason.</summary>
    const double Tolerance = 1e-3;
    const int SmallBatch = 8, AccuracyBatch = 64;

    public static ProbeReport Run(ProbeRequest request)
    {
        var spec = request.Classifier ?? throw new PagLabException("probe: a classifier request needs its spec");
        Announce("loading");
        using var model = TorchScriptClassifier.Load(request.Archive, spec);
        Announce("forward on two zero images");
        TorchScriptClassifier.CheckShapes(model, request.Archive, $"`dataset` {request.Dataset}");
        var (images, labels, note) = Images(request, spec.Shape, request.Images);
        int small = (int)Math.Min(SmallBatch, images.shape[0]);
        var x = images.narrow(0, 0, small);
        Announce($"forward on a batch of {small} test images");
        var batch = Logits(model, x);
        Announce($"a second forward on the same {small} images");
        if (Differ(batch, Logits(model, x)) is double d2)
            throw new DataFormatException(request.Archive, $"two forwards of the same images differ (by {d2:G3}): "
                + "dropout or other randomness is active; call model.eval() before tracing");
        Announce($"forward on the same {small} images one at a time");
        var single = cat(Enumerable.Range(0, small).Select(i => Logits(model, x.narrow(0, i, 1))).ToArray(), 0);
        if (Differ(batch, single) is double d1)
            throw new DataFormatException(request.Archive, $"the outputs for a batch of {small} images differ from "
                + $"those for the same images one at a time (by {d1:G3}): batch statistics, e.g. batch norm in "
                + "training mode; call model.eval() before tracing");
        Announce($"input gradient (backward) on a batch of {small} test images");
        CheckInputGradient(model, x, labels?.narrow(0, 0, small), request.Archive);
        var report = new ProbeReport { Images = (int)images.shape[0], Chance = 1.0 / spec.Classes,
            Notes = new() { $"probed on {note}" } };
        if (labels is null) return report;
        Announce($"accuracy on {images.shape[0]} test images");
        report = report with { Correct = Correct(model, images, labels) };
        if (!request.TryContracts) return report;
        Announce("accuracy under other input contracts");
        return report with { Trials = OtherContracts(spec, request.Dataset)
            .Select(c => new ContractTrial(c.Mean, c.Std, c.PixelRange,
                CorrectUnder(request.Archive, c, images, labels))).ToList() };
    }

    /// <summary>The contracts a model is commonly traced with, other than the stored one.</summary>
    static IEnumerable<ModelSpec> OtherContracts(ModelSpec spec, string dataset)
    {
        var none = Array.Empty<float>();
        var candidates = new List<ModelSpec>
        {
            spec with { Mean = none, Std = none, PixelRange = new[] { 0f, 1f } },
            spec with { Mean = none, Std = none, PixelRange = new[] { 0f, 255f } },
            spec with { Mean = none, Std = none, PixelRange = new[] { -1f, 1f } },
        };
        if (UsualNormalisation(dataset) is { } usual && usual.Mean.Length == spec.NetworkChannels)
            candidates.Add(spec with { Mean = usual.Mean, Std = usual.Std, PixelRange = new[] { 0f, 1f } });
        return candidates.Where(c => !(c.Mean.SequenceEqual(spec.Mean) && c.Std.SequenceEqual(spec.Std)
                                       && c.PixelRange.SequenceEqual(spec.PixelRange)));
    }

    static int CorrectUnder(string path, ModelSpec spec, Tensor images, Tensor labels)
    {
        using var model = TorchScriptClassifier.Load(path, spec);
        try { return Correct(model, images, labels); }
        catch (PagLabException) { return 0; }   // e.g. NaN logits at [0,255]: this contract fits nothing
    }

    static Tensor Logits(ImageClassifier model, Tensor x)
    {
        using var noGrad = no_grad();
        return model.call(x);
    }

    /// <summary>The largest difference when it exceeds float rounding at the outputs' scale, else null.</summary>
    static double? Differ(Tensor a, Tensor b)
    {
        double scale = Math.Max(1, a.abs().max().item<float>());
        double difference = (a - b).abs().max().item<float>();
        return difference > Tolerance * scale ? difference : null;
    }

    /// <summary>The gradient PagLab measures (cross-entropy by the input) on the real code path.</summary>
    static void CheckInputGradient(ImageClassifier model, Tensor x, Tensor? labels, string path)
    {
        using var grad = enable_grad();
        var input = x.detach().clone().requires_grad_(true);
        var logits = model.call(input);
        var target = labels ?? logits.detach().argmax(1);
        var loss = nn.functional.cross_entropy(logits, target, reduction: nn.Reduction.Sum);
        Tensor g;
        try { g = GuardedAutograd.Grad(new[] { loss }, new[] { input })[0]; }
        catch (PagLabException e) { throw new DataFormatException(path, $"input gradient: {e.Message}"); }
        if (!isfinite(g).all().item<bool>())
            throw new DataFormatException(path, "the input gradient holds NaN or infinite values");
        if (g.abs().max().item<float>() == 0)
            throw new DataFormatException(path, "the input gradient is zero for every image: the output has no "
                + "gradient path to the input (argmax, one-hot, rounding or a detach() inside?)");
    }

    static int Correct(ImageClassifier model, Tensor images, Tensor labels)
    {
        long correct = 0, n = images.shape[0];
        for (long i = 0; i < n; i += AccuracyBatch)
        {
            using var _ = NewDisposeScope();
            long b = Math.Min(AccuracyBatch, n - i);
            correct += Logits(model, images.narrow(0, i, b)).argmax(1).eq(labels.narrow(0, i, b)).sum().item<long>();
        }
        return (int)correct;
    }

    /// <summary>The dataset's usual normalisation (<see cref="DatasetEntry.UsualNormalisation"/>), a distractor
    /// set's that of the set it is built from; null for a name outside the registry.</summary>
    static (float[] Mean, float[] Std)? UsualNormalisation(string dataset)
    {
        if (!Vocabulary.TryParse(dataset, out DatasetName id)) return null;
        var entry = Datasets.Entry(id);
        return entry.Source is { } source ? Datasets.Entry(source).UsualNormalisation : entry.UsualNormalisation;
    }
}
