using PagLab.Common;
using PagLab.IO;
using PagLab.Models;

namespace PagLab.Score;

/// <summary>denoiser.json beside denoiser.safetensors.</summary>
public sealed record DenoiserFile
{
    public int FormatVersion { get; init; } = 1;
    public required UNetSpec Spec { get; init; }
    public string? Dataset { get; init; }
}

/// <summary>A saved EDM denoiser: denoiser.safetensors (the U-Net) + denoiser.json in a folder.</summary>
public static class SavedDenoiser
{
    public const string WeightsFile = "denoiser.safetensors", InfoFile = "denoiser.json";

    public static EdmPreconditioner Load(string dir)
    {
        string info = Path.Combine(dir, InfoFile);
        if (!File.Exists(info))
            throw new PagLabException($"{dir}: not a denoiser folder (no {InfoFile}; " +
                                      "train one with 'paglab denoiser train')");
        var file = JsonFiles.Read<DenoiserFile>(info);
        var net = DenoiserNetworks.Create(file.Spec);
        SavedModel.LoadWeights(net, Path.Combine(dir, WeightsFile));
        net.eval();
        return new EdmPreconditioner(net);
    }

    public static void Save(string dir, EdmPreconditioner denoiser, string? dataset)
    {
        Directory.CreateDirectory(dir);
        SafeTensors.Write(Path.Combine(dir, WeightsFile), SavedModel.StateDict(denoiser.Network));
        var file = new DenoiserFile { Spec = denoiser.Network.Spec, Dataset = dataset };
        JsonFiles.Write(Path.Combine(dir, InfoFile), file);
    }
}
