using System.CommandLine;
using System.Globalization;
using PagLab.Common;
using PagLab.Data;
using PagLab.Models;
using PagLab.Score;

namespace PagLab.Cli.Commands;

/// <summary>`paglab denoiser import`: a TorchScript denoiser D(x, sigma[, class]) as a denoiser folder.</summary>
public static class TorchScriptCommands
{
    public static Command DenoiserImport()
    {
        var file = new Argument<string>("file") { Description =
            "TorchScript archive of D(x, sigma[, class]) (torch.jit.trace(net, example).save(FILE))" };
        var form = new Option<string>("--form") { Description =
            "edm (EDMPrecond: returns D, one-hot classes) | x0 (returns D, class indices) | eps (returns the noise)",
            Required = true };
        var dataset = new Option<string>("--dataset") { Description =
            "Dataset it models (sets the image shape and the classes)", Required = true };
        var pixelRange = new Option<string>("--pixel-range") { Description =
            "LO,HI of the network's pixels (EDM: -1,1)", Required = true };
        var sigmaScale = new Option<double?>("--sigma-scale")
            { Description =
                "Network sigma per [0,1]-pixel sigma (default HI - LO: sigma in the network's own pixel units, as "
                + "EDM)" };
        var overwrite = new Option<bool>("--overwrite") { Description =
            "Replace an existing non-empty --out folder as a whole" };
        var output = CommonOptions.Out(description: "Denoiser folder to write");
        var cmd = new Command("import",
            "Import a TorchScript denoiser (runs code: trusted files only); its score is (D(x, sigma) - x) / sigma^2")
            { form, dataset, pixelRange, sigmaScale, overwrite, output };
        cmd.Arguments.Add(file);
        cmd.SetAction(parse =>
        {
            PagLab.IO.OutputPolicy.CheckFolder("out", parse.GetValue(output), PagLab.IO.FolderKind.Denoiser);
            var info = Datasets.Describe(null).FirstOrDefault(d => d.Name == parse.GetValue(dataset))
                       ?? throw new PagLabException($"unknown dataset '{parse.GetValue(dataset)}' (known: "
                           + $"{string.Join(", ", Datasets.Names)})");
            var range = TorchScriptClassifier.ParseRange(parse.GetValue(pixelRange)!, "--pixel-range");
            var spec = new TorchScriptDenoiserSpec
            {
                Form = parse.GetValue(form)!, Channels = info.Shape.Channels, Height = info.Shape.Height,
                    Width = info.Shape.Width,
                Classes = info.Classes, PixelRange = range,
                    SigmaScale = parse.GetValue(sigmaScale) ?? range[1] - range[0], Dataset = info.Name,
            };
            TorchScriptDenoiser.Import(parse.GetValue(file)!, spec, parse.GetValue(output)!, parse.GetValue(overwrite));
            Console.WriteLine($"imported TorchScript denoiser {parse.GetValue(file)} -> {parse.GetValue(output)} "
                + $"(form {spec.Form}, {info.Shape} images, " +
                $"pixels [{range[0].ToString(CultureInfo.InvariantCulture)},"
                + $"{range[1].ToString(CultureInfo.InvariantCulture)}], " +
                $"network sigma = {spec.SigmaScale.ToString(CultureInfo.InvariantCulture)} x sigma); TorchScript "
                    + $"runs code: use files from sources you trust");
            return 0;
        });
        return cmd;
    }
}
