using System.Globalization;
using System.Security.Cryptography;
using PagLab.Common;
using PagLab.Data;
using PagLab.IO.Torch;
using PagLab.Probe;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Models;

/// <summary>A traced or scripted PyTorch network as an ordinary module (its parameters and buffers under
/// "script."); every forward goes through <see cref="ScriptCall"/>, so a libtorch error or a non-finite output
/// is a one-line error naming the file and the forward call where it appeared.</summary>
public sealed class TorchScriptNetwork : nn.Module<Tensor, Tensor>
{
    private readonly jit.ScriptModule<Tensor, Tensor> script;
    private readonly string source;
    private readonly int? outputIndex;
    private long calls;

    public TorchScriptNetwork(jit.ScriptModule<Tensor, Tensor> script, string source = "TorchScript network",
        int? outputIndex = null) : base(nameof(TorchScriptNetwork))
    {
        this.script = script;
        this.source = source;
        this.outputIndex = outputIndex;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) =>
        ScriptCall.Call(script, source, $"forward call {++calls} (a batch of {x.shape[0]})", outputIndex, x);

    /// <summary>
    /// The script alone, not its inner modules: Module.Dispose walks named_modules() after disposing each
    /// child, and a disposed script cannot list its modules (native handle gone).
    /// </summary>
    public override IEnumerable<(string name, nn.Module module)> named_modules() => named_children();
}

/// <summary>
/// Imports a TorchScript classifier: the input contract (shape from the dataset, pixel range, per-channel
/// normalisation) lives in the <see cref="ModelSpec"/>, applied by <see cref="ImageClassifier"/> in front of the
/// script, so every command sees a model on [0,1] pixels. The folder keeps a copy of the archive as model.pt.
/// </summary>
public static class TorchScriptClassifier
{
    /// <summary>Normalize pairs (one MEAN,STD per channel, or one for all) and the pixel range LO,HI.</summary>
    /// <param name="OutputIndex">The element of a tuple or list output that holds the logits.</param>
    /// <param name="Resize">"H,W" (or HxW) the network takes: the image is resized inside the model.</param>
    /// <param name="GreyToRgb">A grey image is repeated into three channels inside the model.</param>
    public sealed record InputContract(string Dataset, IReadOnlyList<string> Normalize, string PixelRange = "0,1",
        int? OutputIndex = null, string? Resize = null, bool GreyToRgb = false);

    /// <summary>Builds the spec from the dataset and the contract, probes the archive in a child process
    /// (<see cref="ProbeProcess"/>), then loads it and checks its shapes.</summary>
    public static ImageClassifier Import(string path, InputContract contract, TimeSpan? timeout = null)
    {
        var (spec, _) = Probe(path, contract, timeout);
        var model = Load(path, spec);
        try { CheckShapes(model, path, $"`dataset` {contract.Dataset}"); }
        catch { model.Dispose(); throw; }
        return model;
    }

    /// <summary>The spec of the dataset and the contract, and what the probe child found running the archive on
    /// the dataset's test images (nothing of the archive runs in this process).</summary>
    public static (ModelSpec Spec, ProbeReport Report) Probe(string path, InputContract contract,
        TimeSpan? timeout = null, string? dataRoot = null)
    {
        var info = Datasets.Describe(null).FirstOrDefault(d => d.Name == contract.Dataset)
                   ?? throw new PagLabException($"unknown dataset '{contract.Dataset}' (known: "
                       + $"{string.Join(", ", Datasets.Names)})");
        var (mean, std) = ParseNormalize(contract.Normalize, contract.GreyToRgb ? 3 : info.Shape.Channels);
        var spec = new ModelSpec
        {
            Arch = ModelFactory.TorchScriptArch, Channels = info.Shape.Channels, Height = info.Shape.Height,
                Width = info.Shape.Width,
            Classes = info.Classes, Mean = mean, Std = std, PixelRange = ParseRange(contract.PixelRange, "pixelRange"),
            Dataset = contract.Dataset, OutputIndex = contract.OutputIndex,
            Resize = contract.Resize is null ? null : ParseSize(contract.Resize), GreyToRgb = contract.GreyToRgb,
        };
        spec.Validate();
        TorchScriptFile.RequireTorchScript(path, "a TorchScript classifier");
        return (spec, ProbeSpec(path, spec, contract.Dataset, timeout, dataRoot));
    }

    /// <summary>Probes an archive with a known spec (an imported model folder, before a sweep runs it).</summary>
    public static ProbeReport ProbeSpec(string path, ModelSpec spec, string dataset, TimeSpan? timeout = null,
        string? dataRoot = null, bool tryContracts = true) =>
        ProbeProcess.Run(new ProbeRequest { Kind = ProbeKind.Classifier, Archive = path, Classifier = spec,
            Dataset = dataset, DataRoot = dataRoot, TryContracts = tryContracts }, timeout);

    /// <summary>The archive wrapped in its input contract, in eval mode.</summary>
    public static ImageClassifier Load(string path, ModelSpec spec)
    {
        var script = TorchScriptFile.LoadOneInput(path, "a TorchScript classifier");
        var model = new ImageClassifier(spec, new TorchScriptNetwork(script, path, spec.OutputIndex));
        model.eval();
        return model;
    }

    /// <summary>One forward pass on a batch of two zero images: the output must be (2, classes).</summary>
    public static void CheckShapes(ImageClassifier model, string path, string shapeSource)
    {
        var spec = model.Spec;
        long[] input = { 2, spec.Channels, spec.Height, spec.Width };
        using var _ = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor output;
        try { output = model.call(zeros(input)); }
        catch (ScriptException e)
        {
            throw new DataFormatException(path,
                $"forward fails on input {Shape(input)} (expected from {shapeSource}): {e.Cause}");
        }
        long[] expected = { 2, spec.Classes };
        if (!output.shape.SequenceEqual(expected))
            throw new DataFormatException(path,
                $"forward returns {Shape(output.shape)} for input {Shape(input)}, expected {Shape(expected)} " +
                $"({spec.Classes} classes from {shapeSource})");
    }

    public static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    static string Shape(IEnumerable<long> shape) => "(" + string.Join(", ", shape) + ")";

    static (float[] Mean, float[] Std) ParseNormalize(IReadOnlyList<string> pairs, int channels)
    {
        if (pairs.Count == 0) return (Array.Empty<float>(), Array.Empty<float>());
        var parsed = pairs.Select(p => ParseRange(p, "normalize", ordered: false)).ToList();
        if (parsed.Count == 1) parsed = Enumerable.Repeat(parsed[0], channels).ToList();
        Require.That(parsed.Count == channels, 
            $"normalize: give one MEAN,STD per channel ({channels}) or one for all, got {pairs.Count}");
        return (parsed.Select(p => p[0]).ToArray(), parsed.Select(p => p[1]).ToArray());
    }

    /// <summary>"HxW" or "H,W" as two positive sizes.</summary>
    static int[] ParseSize(string text)
    {
        var parts = text.Split('x', ',');
        if (parts.Length == 2 && int.TryParse(parts[0], out int h) && int.TryParse(parts[1], out int w) && h >= 1
            && w >= 1 && h <= 4096 && w <= 4096)
            return new[] { h, w };
        throw new PagLabException($"resize: expected HxW (each 1..4096), got '{text}'");
    }

    /// <summary>"A,B" as two finite floats (with A &lt; B unless unordered).</summary>
    public static float[] ParseRange(string text, string option, bool ordered = true)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length == 2 && float.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out float a)
            && float.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out float b)
            && float.IsFinite(a) && float.IsFinite(b) && (!ordered || a < b))
            return new[] { a, b };
        throw new PagLabException(ordered
            ? $"{option}: expected LO,HI with LO < HI, got '{text}'" : $"{option}: expected MEAN,STD, got '{text}'");
    }
}
