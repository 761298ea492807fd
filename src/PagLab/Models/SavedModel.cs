using PagLab.Common;
using PagLab.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Models;

/// <summary>What model.json holds beside model.safetensors.</summary>
public sealed record ModelFile
{
    public const int CurrentFormat = 1;
    public int FormatVersion { get; init; } = CurrentFormat;
    public required ModelSpec Spec { get; init; }
    public string? Objective { get; init; }
    public Dictionary<string, string> Notes { get; init; } = new();
}

/// <summary>
/// A saved model is a folder: model.safetensors (all parameters and buffers) + model.json; an imported
/// TorchScript model keeps its archive as model.pt instead of model.safetensors.
/// </summary>
public static class SavedModel
{
    public const string WeightsFile = "model.safetensors", InfoFile = "model.json", ScriptFile = "model.pt";

    public static void Save(string dir, ImageClassifier model, string? objective = null,
        Dictionary<string, string>? notes = null)
    {
        Directory.CreateDirectory(dir);
        SafeTensors.Write(Path.Combine(dir, WeightsFile), StateDict(model));
        JsonFiles.Write(Path.Combine(dir, InfoFile), new ModelFile { Spec = model.Spec, Objective = objective,
            Notes = notes ?? new() });
    }

    /// <param name="channelsLast">Run the convolutions in NHWC memory (<see cref="ImageClassifier.ToChannelsLast"/>);
    /// the files are the same either way.</param>
    public static ImageClassifier Load(string dir, Device? device = null, bool channelsLast = false)
    {
        string info = Path.Combine(dir, InfoFile), weights = Path.Combine(dir, WeightsFile);
        if (!Directory.Exists(dir)) throw new PagLabException($"{dir}: model folder not found");
        if (!File.Exists(info)) throw new PagLabException($"{dir}: not a model folder (no {InfoFile})");
        var file = JsonFiles.Read<ModelFile>(info);
        if (file.FormatVersion > ModelFile.CurrentFormat)
            throw new DataFormatException(info,
                $"model format {file.FormatVersion} is newer than this PagLab understands ({ModelFile.CurrentFormat})");
        if (file.Spec is null) throw new DataFormatException(info, "no model spec");
        if (file.Spec.Arch == ModelFactory.TorchScriptArch)
        {
            file.Spec.Validate();
            var script = TorchScriptClassifier.Load(Path.Combine(dir, ScriptFile), file.Spec);
            if (device is not null) script.to(device);
            return script;
        }
        var model = ModelFactory.Create(file.Spec);
        LoadWeights(model, weights);
        if (device is not null) model.to(device);
        if (channelsLast) model.ToChannelsLast();
        model.eval();
        return model;
    }

    /// <summary>Writes a model folder for an imported TorchScript archive (copied as model.pt) into an empty
    /// folder.</summary>
    public static void SaveTorchScript(string dir, ModelSpec spec, string archive, Dictionary<string, string> notes)
    {
        Directory.CreateDirectory(dir);
        File.Copy(archive, Path.Combine(dir, ScriptFile), overwrite: true);
        JsonFiles.Write(Path.Combine(dir, InfoFile), new ModelFile { Spec = spec, Objective = null, Notes = notes });
    }

    /// <summary>The spec in the folder's model.json, or null when there is none.</summary>
    public static ModelSpec? ReadSpec(string dir)
    {
        string info = Path.Combine(dir, InfoFile);
        return File.Exists(info) ? JsonFiles.Read<ModelFile>(info).Spec : null;
    }

    /// <summary>
    /// What a figure calls each model folder: its objective and strength when PagLab trained it
    /// ("standard", "pgd 0.5"), the file it was imported from ("vgg_bn.pt"), else the folder's name. Names that
    /// would repeat within <paramref name="dirs"/> get their folder's path appended.
    /// </summary>
    public static IReadOnlyList<string> Names(IReadOnlyList<string> dirs)
    {
        var names = dirs.Select(Name).ToList();
        return names.Select((n, i) => names.Count(o => o == n) > 1 ? $"{n} ({dirs[i]})" : n).ToList();
    }

    static string Name(string dir)
    {
        string folder = Path.GetFileName(Path.TrimEndingDirectorySeparator(dir));
        string info = Path.Combine(dir, InfoFile);
        if (!File.Exists(info)) return folder;
        var file = JsonFiles.Read<ModelFile>(info);
        if (file.Notes.TryGetValue("importedFrom", out var source)) return source;
        if (file.Objective is null) return folder;
        return file.Notes.TryGetValue("strength", out var s) && double.TryParse(s,
            System.Globalization.CultureInfo.InvariantCulture, out double strength) && strength != 0
            ? $"{file.Objective} {strength.ToString("G3", System.Globalization.CultureInfo.InvariantCulture)}"
            : file.Objective;
    }

    /// <summary>Whether the folder holds an imported TorchScript model.</summary>
    public static bool IsTorchScript(string dir) =>
        File.Exists(Path.Combine(dir, InfoFile))
        && JsonFiles.Read<ModelFile>(Path.Combine(dir, InfoFile)).Spec?.Arch == ModelFactory.TorchScriptArch;

    /// <summary>Parameters and buffers by name, detached.</summary>
    public static Dictionary<string, Tensor> StateDict(nn.Module module) =>
        module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value);

    /// <summary>Reads a safetensors file into the module (names and shapes must match), freeing what it read.</summary>
    public static void LoadWeights(nn.Module module, string path)
    {
        var tensors = SafeTensors.Read(path);
        try { LoadStateDict(module, tensors, path); }
        finally { foreach (var t in tensors.Values) t.Dispose(); }
    }

    /// <summary>
    /// Copies tensors into the module; every name and shape must match exactly, floating-point weights must
    /// come from floating-point tensors and be finite (a NaN model would report chance accuracy, not fail).
    /// </summary>
    public static void LoadStateDict(nn.Module module, IReadOnlyDictionary<string, Tensor> tensors, string source)
    {
        var target = module.state_dict();
        var missing = target.Keys.Where(k => !tensors.ContainsKey(k)).ToList();
        var extra = tensors.Keys.Where(k => !target.ContainsKey(k)).ToList();
        if (missing.Count > 0) throw new DataFormatException(source,
            $"missing tensor '{missing[0]}' ({missing.Count} missing)");
        if (extra.Count > 0) throw new DataFormatException(source,
            $"unexpected tensor '{extra[0]}' ({extra.Count} unexpected)");
        using var _ = no_grad();
        foreach (var (name, dest) in target)
        {
            var src = tensors[name];
            if (!src.shape.SequenceEqual(dest.shape))
                throw new DataFormatException(source,
                    $"tensor '{name}' has shape [{string.Join(",", src.shape)}], the model needs "
                    + $"[{string.Join(",", dest.shape)}]");
            if (dest.is_floating_point() && !src.is_floating_point())
                throw new DataFormatException(source,
                    $"tensor '{name}' holds {src.dtype} values, the model needs floating-point {dest.dtype}");
            if (src.is_floating_point() && !isfinite(src).all().item<bool>())
                throw new DataFormatException(source,
                    $"tensor '{name}' holds NaN or infinite values (a diverged or corrupt model)");
            dest.copy_(src.to_type(dest.dtype));
        }
    }
}
