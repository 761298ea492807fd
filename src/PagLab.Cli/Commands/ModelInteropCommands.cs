using System.CommandLine;
using PagLab.Common;
using PagLab.IO;
using PagLab.Models;

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
            var request = new ModelImport.Request(parse.GetValue(file)!, parse.GetValue(outDir)!,
                parse.GetValue(dataset)!)
            {
                Arch = parse.GetValue(arch), Activation = parse.GetValue(activation)!,
                Normalize = parse.GetValue(normalize) ?? Array.Empty<string>(),
                PixelRange = parse.GetResult(pixelRange) is { Implicit: false } ? parse.GetValue(pixelRange) : null,
                OutputIndex = parse.GetValue(outputIndex), Resize = parse.GetValue(resize),
                GreyToRgb = parse.GetValue(greyToRgb), Overwrite = parse.GetValue(overwrite),
            };
            foreach (var line in ModelImport.Run(request)) Console.WriteLine(line);
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
}
