using PagLab.Common;
using PagLab.Data;
using PagLab.IO;
using PagLab.IO.Torch;
using static TorchSharp.torch;

namespace PagLab.Models;

/// <summary>
/// Imports and exports classifier weights in the PAGs authors' PyTorch parameter names
/// (tml-tuebingen/pags, models/resnet.py: conv1, bn1, layerS.B.{conv1,bn1,conv2,bn2,shortcut.0,shortcut.1}, linear),
/// which are our names without the "net." prefix. Their models take pixels in [0,1] with no normalisation
/// layer; ours may hold one ("normalize.mean/std"), which is kept under those names if present.
/// Accepted on import: DataParallel's "module." prefix, checkpoints wrapping the dict in "state_dict"/"model",
/// files without BatchNorm's "num_batches_tracked" (older PyTorch), .pt/.pth (zip or legacy) and .safetensors.
/// </summary>
public static class PyTorchWeights
{
    const string NetPrefix = "net.", DataParallelPrefix = "module.", NormalizePrefix = "normalize.";

    /// <summary>Options of an import; the input shape comes from the dataset, the rest from the weights.</summary>
    public sealed record ImportOptions(Architecture Arch, string Dataset, string Activation = "relu");

    /// <summary>Reads a state dict and builds the model it belongs to (channels, width and classes read off the
    /// weights).</summary>
    public static ImageClassifier Import(string path, ImportOptions options)
    {
        if (options.Arch != Architecture.ResNet18)
            throw new PagLabException($"importing '{Vocabulary.Name(options.Arch)}' is not supported (the authors' "
                + $"names are mapped for {Vocabulary.Name(Architecture.ResNet18)})");
        var info = Datasets.Describe(null).FirstOrDefault(d => d.Name == options.Dataset)
                   ?? throw new PagLabException($"unknown dataset '{options.Dataset}' (known: "
                       + $"{string.Join(", ", Datasets.Names)})");
        var raw = TorchFile.ReadStateDict(path);
        try
        {
            var named = raw.ToDictionary(kv => kv.Key.StartsWith(DataParallelPrefix, StringComparison.Ordinal)
                ? kv.Key[DataParallelPrefix.Length..] : kv.Key, kv => kv.Value);
            if (!named.ContainsKey("conv1.weight") || !named.ContainsKey("linear.weight"))
                throw new DataFormatException(path, "not a ResNet-18 state dict in the PAGs authors' names (no "
                    + "conv1.weight or linear.weight); for another architecture, trace it in PyTorch and import the "
                    + "archive: net.load_state_dict(torch.load(FILE)); net.eval(); torch.jit.trace(net, torch.rand(1, "
                    + $"{info.Shape.Channels}, {info.Shape.Height}, {info.Shape.Width})).save('model.pt')");
            Tensor conv1 = named["conv1.weight"], linear = named["linear.weight"];
            if (conv1.dim() != 4 || linear.dim() != 2) throw new DataFormatException(path,
                "conv1.weight or linear.weight has the wrong number of dimensions for a ResNet-18");
            float[] mean = named.TryGetValue(NormalizePrefix + "mean",
                out var m) ? m.to(float32).flatten().data<float>().ToArray() : Array.Empty<float>();
            float[] std = named.TryGetValue(NormalizePrefix + "std",
                out var s) ? s.to(float32).flatten().data<float>().ToArray() : Array.Empty<float>();
            var spec = new ModelSpec
            {
                Arch = Architecture.ResNet18, Channels = (int)conv1.shape[1], Height = info.Shape.Height,
                    Width = info.Shape.Width,
                Classes = (int)linear.shape[0], WidthMultiplier = conv1.shape[0] / 64.0,
                    Activation = options.Activation,
                Mean = mean, Std = std, Dataset = options.Dataset,
            };
            if (spec.Channels != info.Shape.Channels)
                throw new DataFormatException(path,
                    $"conv1 takes {spec.Channels} channels but dataset '{options.Dataset}' has {info.Shape.Channels}");
            var model = ModelFactory.Create(spec);
            var ours = model.state_dict();
            var mapped = new Dictionary<string, Tensor>();
            foreach (var (name, t) in named)
            {
                string key = name.StartsWith(NormalizePrefix, StringComparison.Ordinal) ? name : NetPrefix + name;
                if (name.EndsWith(".num_batches_tracked", StringComparison.Ordinal) && !ours.ContainsKey(key)) continue;
                mapped[key] = t;
            }
            foreach (var (key, t) in ours)
                if (key.EndsWith(".num_batches_tracked", StringComparison.Ordinal) && !mapped.ContainsKey(key))
                    mapped[key] = t.clone();
            SavedModel.LoadStateDict(model, mapped, path);
            model.eval();
            return model;
        }
        finally
        {
            foreach (var t in raw.Values) t.Dispose();
        }
    }

    /// <summary>The state dict in the authors' names (no "net." prefix), ready for torch.load +
    /// load_state_dict.</summary>
    public static Dictionary<string, Tensor> AuthorsStateDict(ImageClassifier model) =>
        SavedModel.StateDict(model).ToDictionary(
            kv => kv.Key.StartsWith(NetPrefix, StringComparison.Ordinal) ? kv.Key[NetPrefix.Length..] : kv.Key,
                kv => kv.Value);

    /// <summary>Writes .pt/.pth (PyTorch zip format) or .safetensors by extension.</summary>
    public static void Export(ImageClassifier model, string path)
    {
        var sd = AuthorsStateDict(model);
        string ext = Path.GetExtension(path).ToLowerInvariant();
        if (ext == ".safetensors") SafeTensors.Write(path, sd);
        else if (ext is ".pt" or ".pth") TorchFile.WriteStateDict(path, sd);
        else throw new PagLabException($"{path}: export needs a .pt, .pth or .safetensors file name");
    }
}
