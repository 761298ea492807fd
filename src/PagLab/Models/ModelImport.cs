using System.Globalization;
using PagLab.Common;
using PagLab.IO;
using PagLab.IO.Torch;
using PagLab.Probe;

namespace PagLab.Models;

/// <summary>
/// `paglab model import`: a PyTorch file into a model folder. A TorchScript archive (code and weights) is stored with
/// its input contract after a probe run in a child process; a state dict in the PAGs authors' ResNet-18 names is read
/// into our own network.
/// </summary>
public static class ModelImport
{
    /// <summary>What to import and how. <see cref="Arch"/>: state dicts only, as the user wrote it (null:
    /// resnet18). The contract options (Normalize, PixelRange, OutputIndex, Resize, GreyToRgb) are TorchScript's;
    /// PixelRange null means not given ("0,1").</summary>
    public sealed record Request(string Source, string Output, string Dataset)
    {
        public string? Arch { get; init; }
        public string Activation { get; init; } = "relu";
        public IReadOnlyList<string> Normalize { get; init; } = Array.Empty<string>();
        public string? PixelRange { get; init; }
        public int? OutputIndex { get; init; }
        public string? Resize { get; init; }
        public bool GreyToRgb { get; init; }
        /// <summary>Replace an existing non-empty output folder as a whole.</summary>
        public bool Overwrite { get; init; }

        internal bool GivesContract => Normalize.Count > 0 || PixelRange is not null || OutputIndex is not null
            || Resize is not null || GreyToRgb;
    }

    /// <summary>Imports the file named by the request into its model folder; returns the summary lines to show.
    /// </summary>
    public static IReadOnlyList<string> Run(Request request)
    {
        OutputPolicy.CheckFolder("out", request.Output, FolderKind.Model);
        var notes = new Dictionary<string, string> { ["importedFrom"] = Path.GetFileName(request.Source) };
        return TorchScriptFile.Detect(request.Source) == PyTorchFileKind.TorchScript
            ? ImportTorchScript(request, notes) : ImportStateDict(request, notes);
    }

    /// <summary>The folder is checked before the archive's code runs (in the probe child, inside WriteNew); the
    /// summary repeats the stored contract and what the probe measured.</summary>
    static List<string> ImportTorchScript(Request request, Dictionary<string, string> notes)
    {
        string source = request.Source;
        if (request.Arch is string a)
            throw new PagLabException($"{source} is a TorchScript archive (code and weights), not a state "
                + $"dict: drop --arch {a} and give its input contract (--dataset, --normalize, --pixel-range)");
        var contract = new TorchScriptClassifier.InputContract(request.Dataset, request.Normalize,
            request.PixelRange ?? "0,1", request.OutputIndex, request.Resize, request.GreyToRgb);
        notes["sha256"] = TorchScriptClassifier.Sha256(source);
        ModelSpec? spec = null;
        ProbeReport? report = null;
        OutputFolder.WriteNew(request.Output, request.Overwrite, dir =>
        {
            (spec, report) = TorchScriptClassifier.Probe(source, contract);
            SavedModel.SaveTorchScript(dir, spec, source, notes);
        });
        var lines = new List<string>
        {
            $"imported TorchScript archive {source} -> {request.Output} ({spec!.ContractText()}, "
            + $"{spec.Classes} classes); TorchScript runs code: use files from sources you trust",
        };
        lines.AddRange(ImportSummary.Lines(report!, t => ContractOptions(t.Mean, t.Std, t.PixelRange)));
        return lines;
    }

    static List<string> ImportStateDict(Request request, Dictionary<string, string> notes)
    {
        string source = request.Source;
        if (request.GivesContract)
            throw new PagLabException($"{source} is a state dict (weights only): --normalize, --pixel-range, "
                + "--output-index, --resize and --grey-to-rgb apply to TorchScript archives; "
                + "a state dict's normalisation comes from its normalize.mean/std tensors");
        var arch = request.Arch is { } named ? Vocabulary.Parse<Architecture>(named, "--arch") : Architecture.ResNet18;
        using var model = PyTorchWeights.Import(source,
            new PyTorchWeights.ImportOptions(arch, request.Dataset, request.Activation));
        OutputFolder.WriteNew(request.Output, request.Overwrite, dir => SavedModel.Save(dir, model, notes: notes));
        return new List<string>
        {
            $"imported state dict {source} -> {request.Output} ({Vocabulary.Name(model.Spec.Arch)}, "
            + $"{model.Spec.ContractText()}, {model.Spec.Classes} classes)",
        };
    }

    /// <summary>The options of `model import` that give a contract.</summary>
    static string ContractOptions(float[] mean, float[] std, float[] range) =>
        $"--pixel-range {Numbers(range)} and " + (mean.Length == 0 ? "no --normalize"
            : string.Join(" ", mean.Select((m, c) => $"--normalize {Numbers(new[] { m, std[c] })}")));

    static string Numbers(IEnumerable<float> values) =>
        string.Join(",", values.Select(v => v.ToString(CultureInfo.InvariantCulture)));
}
