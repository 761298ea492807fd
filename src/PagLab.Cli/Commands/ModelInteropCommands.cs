using System.CommandLine;
using PagLab.Common;
using PagLab.Models;

namespace PagLab.Cli.Commands;

/// <summary>`paglab model import|export`: PyTorch state dicts in the PAGs authors' ResNet-18 names.</summary>
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

        var file = new Argument<string>("file") { Description = "PyTorch state dict (.pt/.pth, zip or legacy format) or .safetensors" };
        var arch = new Option<string>("--arch") { Description = "Architecture of the weights (resnet18)", DefaultValueFactory = _ => "resnet18" };
        var dataset = new Option<string>("--dataset") { Description = "Dataset the model was trained on (sets the input shape)", Required = true };
        var activation = new Option<string>("--activation") { Description = "relu, or softplus:BETA (the authors' resnet18softplus uses softplus:20)", DefaultValueFactory = _ => "relu" };
        var outDir = CommonOptions.Out(description: "Model folder to write");
        var import = new Command("import", "Import a PyTorch state dict in the authors' names into a model folder");
        import.Arguments.Add(file);
        import.Options.Add(arch);
        import.Options.Add(dataset);
        import.Options.Add(activation);
        import.Options.Add(outDir);
        import.SetAction(parse =>
        {
            string source = parse.GetValue(file)!;
            using var m = PyTorchWeights.Import(source, new PyTorchWeights.ImportOptions(parse.GetValue(arch)!, parse.GetValue(dataset)!, parse.GetValue(activation)!));
            SavedModel.Save(parse.GetValue(outDir)!, m, notes: new() { ["importedFrom"] = Path.GetFileName(source) });
            Console.WriteLine($"imported {source} -> {parse.GetValue(outDir)} ({m.Spec.Arch}, {m.Spec.Channels}x{m.Spec.Height}x{m.Spec.Width}, {m.Spec.Classes} classes)");
            return 0;
        });
        model.Subcommands.Add(import);

        var dir = new Argument<string>("dir") { Description = "Model folder (model.json + model.safetensors)" };
        var outFile = CommonOptions.Out(description: "File to write: .pt/.pth (PyTorch zip format) or .safetensors");
        var export = new Command("export", "Export a model folder as a PyTorch state dict in the authors' names");
        export.Arguments.Add(dir);
        export.Options.Add(outFile);
        export.SetAction(parse =>
        {
            using var m = SavedModel.Load(parse.GetValue(dir)!);
            PyTorchWeights.Export(m, parse.GetValue(outFile)!);
            Console.WriteLine($"exported {parse.GetValue(dir)} -> {parse.GetValue(outFile)}");
            return 0;
        });
        model.Subcommands.Add(export);
    }
}
