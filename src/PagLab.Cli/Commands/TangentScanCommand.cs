using System.CommandLine;
using PagLab.Common;
using PagLab.IO;
using PagLab.Manifold;
using PagLab.Training;

namespace PagLab.Cli.Commands;

/// <summary>`paglab measure kscan`: the on/off measurement's controls over the tangent dimension k.</summary>
public static class TangentScanCommand
{
    public static Command Create()
    {
        var defaults = new TangentScanRequest { Dataset = "", Models = Array.Empty<string>() };
        var models = new Option<string>("--models") { Description = "Model folders, comma-separated",
            Required = true };
        var dataset = new Option<string>("--dataset") { Description = "Dataset name (see 'paglab data list')",
            Required = true };
        var latents = new Option<string>("--latents") { Description = "Tangent dimensions k (one autoencoder each)",
            DefaultValueFactory = _ => string.Join(",", defaults.Latents) };
        var eps = new Option<string>("--eps") { Description = "Perturbation L2 norms",
            DefaultValueFactory = _ => string.Join(",", defaults.Epsilons.Select(e => ManifoldExperiments.Format(e))) };
        var images = new Option<int>("--count") { Description = "Test images measured",
            DefaultValueFactory = _ => defaults.Images };
        var draws = new Option<int>("--draws") { Description = "Noise draws per image and direction",
            DefaultValueFactory = _ => defaults.Draws };
        var neighbours = new Option<int>("--neighbours") { Description =
            "Training images per local-PCA tangent space (compared with the autoencoder's)",
            DefaultValueFactory = _ => defaults.Neighbours };
        var untrained = new Option<bool>("--untrained") { Description =
            "Measure an untrained network of each architecture beside the models (the control)",
            DefaultValueFactory = _ => defaults.Untrained };
        var aeEpochs = new Option<int>("--ae-epochs") { Description = "Epochs of each autoencoder",
            DefaultValueFactory = _ => defaults.Autoencoder.Epochs };
        var outputs = new Option<string>("--outputs")
            { Description = "softmax (the paper's f, default) | logits", DefaultValueFactory = _ => "softmax" };
        var norm = new Option<string>("--norm") { Description = "l1 (the authors' plots, default) | l2",
            DefaultValueFactory = _ => "l1" };
        var output = CommonOptions.Out(description:
            "Folder: the autoencoders (autoencoder-kK, reused on a rerun), kscan.json, kscan.csv, kscan-latents.csv");
        var seed = CommonOptions.Seed(); var dataRoot = CommonOptions.DataRoot();
        var cmd = new Command("kscan", "Controls for on/off-manifold robustness: off/on of each model (and of an "
            + "untrained network of its architecture) at several tangent dimensions k, as a ratio of means, a median "
            + "of per-image ratios and against isotropic noise; each autoencoder's error against PCA's")
            { models, dataset, latents, eps, images, draws, neighbours, untrained, aeEpochs, outputs, norm, output,
              seed, dataRoot };
        cmd.SetAction(parse =>
        {
            var request = new TangentScanRequest
            {
                Dataset = parse.GetValue(dataset)!, DataRoot = parse.GetValue(dataRoot), Seed = parse.GetValue(seed),
                Models = parse.GetValue(models)!.Split(',', StringSplitOptions.RemoveEmptyEntries |
                    StringSplitOptions.TrimEntries),
                Latents = NumberList.Parse(parse.GetValue(latents)!, "--latents").Select(k => (int)k).ToList(),
                Epsilons = NumberList.Parse(parse.GetValue(eps)!, "--eps"),
                Images = parse.GetValue(images), Draws = parse.GetValue(draws),
                Neighbours = parse.GetValue(neighbours), Untrained = parse.GetValue(untrained),
                Measure = OutputMeasure.FromOptions(parse.GetValue(outputs)!, parse.GetValue(norm)!),
                Autoencoder = new AutoencoderSettings { Epochs = parse.GetValue(aeEpochs) },
            };
            string dir = parse.GetValue(output)!;
            OutputPolicy.CheckFolder("out", dir, FolderKind.TangentScan);
            request.Validate();                                   // every value before the folder is made
            Directory.CreateDirectory(dir);
            var report = TangentDimensionScan.Run(request, dir, new ConsoleProgress());
            TangentDimensionScan.Write(dir, report);
            Print(report);
            Console.WriteLine($"wrote {Path.Combine(dir, "kscan.json")}, kscan.csv, kscan-latents.csv");
            return 0;
        });
        return cmd;
    }

    static void Print(TangentScanReport report)
    {
        Console.WriteLine("k    autoencoder MSE/pixel   PCA MSE/pixel   mean angle to local PCA (deg)");
        foreach (var q in report.Latents)
            Console.WriteLine($"{q.Latent,-4} {q.AutoencoderMse,-23:G3} {q.PcaMse,-15:G3} "
                + $"{q.AnglesToLocalPca.MeanDegrees:F1}");
        foreach (double e in report.Cells.Select(c => c.Epsilon).Distinct())
        {
            Console.WriteLine($"off/on ({report.Outputs}, eps {e:G4}; ratio of means, then median per image, "
                + "then off over isotropic noise), 95% intervals over images:");
            foreach (var m in report.Models)
            {
                var row = report.Cells.Where(c => c.Model == m.Label && c.Epsilon == e).Select(c =>
                    $"k {c.Latent}: {c.OffOverOn.Text()} | {c.MedianOffOverOn.Text()} | {c.OffOverIsotropic.Text()}");
                Console.WriteLine($"  {m.Label} (test accuracy {m.TestAccuracy.Text()}): {string.Join("; ", row)}");
            }
        }
        foreach (string label in report.UntrainedBelowOne)
            Console.WriteLine($"note: {label} is already below 1 off/on: off/on < 1 of a trained model is not "
                + "evidence of training here; compare with this control instead");
    }
}
