using PagLab.Common;
using PagLab.IO;
using PagLab.Models;

namespace PagLab.Manifold;

/// <summary>A saved autoencoder: autoencoder.safetensors + autoencoder.json in a folder.</summary>
public static class SavedAutoencoder
{
    public const string WeightsFile = "autoencoder.safetensors", InfoFile = "autoencoder.json";

    public static void Save(string dir, ConvAutoencoder model)
    {
        Directory.CreateDirectory(dir);
        SafeTensors.Write(Path.Combine(dir, WeightsFile), SavedModel.StateDict(model));
        JsonFiles.Write(Path.Combine(dir, InfoFile), model.Spec);
    }

    public static ConvAutoencoder Load(string dir)
    {
        string info = Path.Combine(dir, InfoFile);
        if (!Directory.Exists(dir)) throw new PagLabException($"{dir}: autoencoder folder not found");
        if (!File.Exists(info)) throw new PagLabException($"{dir}: not an autoencoder folder (no {InfoFile})");
        var model = new ConvAutoencoder(JsonFiles.Read<AutoencoderSpec>(info));
        SavedModel.LoadWeights(model, Path.Combine(dir, WeightsFile));
        model.eval();
        return model;
    }
}
