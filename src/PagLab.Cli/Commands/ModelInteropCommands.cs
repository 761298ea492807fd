using System.CommandLine;
using PagLab.Common;
using PagLab.IO;
using PagLab.IO.Torch;
using PagLab.Models;
using PagLab.Probe;

namespace PagLab.Cli.Commands;

/// <summary>`paglab model import|export`: TorchScript classifiers, and state dicts in the PAGs authors' ResNet-18
/// names.</summary>
public sealed class ModelInteropCommands : ICommandGroup
{
    public void Register(RootCommand root)
    {
        var model = root.Subcommands.FirstOrDefault(c => c.Name == "model");
        if (model is null)
        {
            model = new Command("model", "Model folders: import and export PyTorch weights");
            root.Subcommands.Add(model);
        }

        var file = new Argument<string>("file") { Description =
            "TorchScript archive, or a state dict (.pt/.pth, zip or legacy format, or .safetensors)" };
        var arch = new Option<string?>("--arch") { Description =
            "State dicts only: architecture of the weights (resnet18, the default)" };
        var dataset = new Option<string>("--dataset") { Description =
            "Dataset the model was trained on (sets the input shape and classes)", Required = true };
        var activation = new Option<string>("--activation") { Description =
            "State dicts: relu, or softplus:BETA (the authors' resnet18softplus uses softplus:20)",
            DefaultValueFactory = _ => "relu" };
        var normalize = new Option<string[]>("--normalize")
            { Description =
                "TorchScript: MEAN,STD the network subtracts and divides by, per channel (repeat per channel, or "
                + "once for all)" };
        var pixelRange = new Option<string>("--pixel-range") { Description =
            "TorchScript: LO,HI of the pixels the network expects", DefaultValueFactory = _ => "0,1" };
        var outputIndex = new Option<int?>("--output-index") { Description =
            "TorchScript: the element of a tuple or list output that holds the logits, e.g. 0 for (logits, features)"
        };
        var resize = new Option<string?>("--resize") { Description =
            "TorchScript: HxW the network takes; the dataset's image is resized (bilinear) inside the model" };
        var greyToRgb = new Option<bool>("--grey-to-rgb") { Description =
            "TorchScript: repeat a grey image into the 3 channels of an RGB network (inside the model)" };
        var overwrite = new Option<bool>("--overwrite") { Description =
            "Replace an existing non-empty --out folder (a run or a model) as a whole" };
        var outDir = CommonOptions.Out(description: "Model folder to write");
        var import = new Command("import",
            "Import a TorchScript classifier, or a state dict in the authors' ResNet-18 names, into a model folder")
            { arch, dataset, activation, normalize, pixelRange, outputIndex, resize, greyToRgb, overwrite, outDir };
        import.Arguments.Add(file);
        import.SetAction(parse =>
        {
            string source = parse.GetValue(file)!, output = parse.GetValue(outDir)!;
            OutputPolicy.CheckFolder("out", output, FolderKind.Model);
            var notes = new Dictionary<string, string> { ["importedFrom"] = Path.GetFileName(source) };
            if (TorchScriptFile.Detect(source) == PyTorchFileKind.TorchScript)
            {
                if (parse.GetValue(arch) is string a)
                    throw new PagLabException($"{source} is a TorchScript archive (code and weights), not a state "
                        + $"dict: drop --arch {a} " +
                        "and give its input contract (--dataset, --normalize, --pixel-range)");
                var contract = new TorchScriptClassifier.InputContract(parse.GetValue(dataset)!,
                    parse.GetValue(normalize) ?? Array.Empty<string>(), parse.GetValue(pixelRange)!,
                    parse.GetValue(outputIndex), parse.GetValue(resize), parse.GetValue(greyToRgb));
                ImportTorchScript(source, output, contract, parse.GetValue(overwrite), notes);
                return 0;
            }
            if ((parse.GetValue(normalize) ?? Array.Empty<string>()).Length > 0
                || parse.GetResult(pixelRange) is { Implicit: false } || parse.GetValue(outputIndex) is not null
                || parse.GetValue(resize) is not null || parse.GetValue(greyToRgb))
                throw new PagLabException($"{source} is a state dict (weights only): --normalize, --pixel-range, "
                    + "--output-index, --resize and --grey-to-rgb "
                    + $"apply to TorchScript archives; " +
                    "a state dict's normalisation comes from its normalize.mean/std tensors");
            using var model = PyTorchWeights.Import(source,
                new PyTorchWeights.ImportOptions(parse.GetValue(arch) is { } named
                    ? Vocabulary.Parse<Architecture>(named, "--arch") : Architecture.ResNet18, parse.GetValue(dataset)!,
                parse.GetValue(activation)!));
            OutputFolder.WriteNew(output, parse.GetValue(overwrite), dir => SavedModel.Save(dir, model, notes: notes));
            Console.WriteLine($"imported state dict {source} -> {output} ({Vocabulary.Name(model.Spec.Arch)}, "
                + $"{model.Spec.ContractText()}, {model.Spec.Classes} classes)");
            return 0;
        });
        model.Subcommands.Add(import);

        model.Subcommands.Add(Export());
    }

    /// <summary>`paglab model export DIR --out FILE`.</summary>
    static Command Export()
    {
        var dir = new Argument<string>("dir") { Description = "Model folder (model.json + model.safetensors)" };
        var outFile = CommonOptions.Out(description: "File to write: .pt/.pth (PyTorch zip format) or .safetensors");
        var export = new Command("export", "Export a model folder as a PyTorch state dict in the authors' names");
        export.Arguments.Add(dir);
        export.Options.Add(outFile);
        export.SetAction(parse =>
        {
            string target = parse.GetValue(outFile)!;
            OutputPolicy.CheckFile("out", target, target.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)
                ? FileKind.SafeTensors : FileKind.Zip, parse.GetValue(dir));
            if (SavedModel.IsTorchScript(parse.GetValue(dir)!))
                throw new PagLabException($"{parse.GetValue(dir)} holds an imported TorchScript model: its PyTorch "
                    + $"file is {Path.Combine(parse.GetValue(dir)!, SavedModel.ScriptFile)}");
            using var m = SavedModel.Load(parse.GetValue(dir)!);
            PyTorchWeights.Export(m, parse.GetValue(outFile)!);
            Console.WriteLine($"exported {parse.GetValue(dir)} -> {parse.GetValue(outFile)}");
            return 0;
        });
        return export;
    }

    /// <summary>The folder is checked before the archive's code runs (in the probe child, inside WriteNew); the
    /// summary repeats the stored contract and what the probe measured.</summary>
    static void ImportTorchScript(string source, string output, TorchScriptClassifier.InputContract contract,
        bool overwrite, Dictionary<string, string> notes)
    {
        notes["sha256"] = TorchScriptClassifier.Sha256(source);
        ModelSpec? spec = null;
        ProbeReport? report = null;
        OutputFolder.WriteNew(output, overwrite, dir =>
        {
            (spec, report) = TorchScriptClassifier.Probe(source, contract);
            SavedModel.SaveTorchScript(dir, spec, source, notes);
        });
        Console.WriteLine($"imported TorchScript archive {source} -> {output} ({spec!.ContractText()}, "
            + $"{spec.Classes} classes); TorchScript runs code: use files from sources you trust");
        foreach (var line in ImportSummary.Lines(report!, t => ContractOptions(t.Mean, t.Std, t.PixelRange)))
            Console.WriteLine(line);
    }

    /// <summary>The options of `model import` that give a contract.</summary>
    static string ContractOptions(float[] mean, float[] std, float[] range) =>
        $"--pixel-range {Numbers(range)} and " + (mean.Length == 0 ? "no --normalize"
            : string.Join(" ", mean.Select((m, c) => $"--normalize {Numbers(new[] { m, std[c] })}")));

    static string Numbers(IEnumerable<float> values) =>
        string.Join(",", values.Select(v => v.ToString(System.Globalization.CultureInfo.InvariantCulture)));
}