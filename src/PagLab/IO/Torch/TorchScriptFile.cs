using System.IO.Compression;
using System.Text.RegularExpressions;
using PagLab.Common;
using static TorchSharp.torch;

namespace PagLab.IO.Torch;

/// <summary>What a PyTorch file holds: a TorchScript archive (code + weights) or plain weights.</summary>
public enum PyTorchFileKind { TorchScript, StateDict }

/// <summary>
/// TorchScript archives (torch.jit.trace(...).save / torch.jit.script(...).save). Unlike state dicts, which
/// only ever go through <see cref="RestrictedUnpickler"/>, a TorchScript file carries code that libtorch runs:
/// load it only from a source you trust (PyTorch's own docs say the same of torch.jit.load).
/// </summary>
public static partial class TorchScriptFile
{
    /// <summary>
    /// TorchScript zips hold PREFIX/constants.pkl and PREFIX/code/; torch.save zips hold only PREFIX/data.pkl
    /// and PREFIX/data/*. Legacy (pre-1.6) pickles and safetensors are always weights.
    /// </summary>
    public static PyTorchFileKind Detect(string path)
    {
        if (!File.Exists(path)) throw new PagLabException($"{path}: file not found");
        using var stream = File.OpenRead(path);
        Span<byte> magic = stackalloc byte[4];
        if (stream.Read(magic) < 4 || magic[0] != 'P' || magic[1] != 'K') return PyTorchFileKind.StateDict;
        stream.Position = 0;
        try
        {
            using var zip = new ZipArchive(stream, ZipArchiveMode.Read);
            bool script = zip.Entries.Any(e => e.FullName.EndsWith("/constants.pkl", StringComparison.Ordinal)
                                                || e.FullName.Contains("/code/", StringComparison.Ordinal));
            return script ? PyTorchFileKind.TorchScript : PyTorchFileKind.StateDict;
        }
        catch (InvalidDataException e) { throw new DataFormatException(path,
            $"not a readable zip archive ({e.Message})"); }
    }

    /// <summary>Refuses a state dict with one line saying what it is and what to do instead.</summary>
    public static void RequireTorchScript(string path, string whatFor)
    {
        if (Detect(path) == PyTorchFileKind.StateDict)
            throw new PagLabException($"{path} is a PyTorch state dict (weights only), not a TorchScript archive: "
                + $"{whatFor} "
                + "needs the network itself, saved with torch.jit.trace(net, example).save(FILE) "
                    + "(docs/pytorch-files.md)"
                + "; a ResNet-18 state dict in the PAGs authors' names imports with 'paglab model import FILE'");
    }

    /// <summary>Loads a one-input module (classifier, encoder, decoder) on the CPU, in eval mode.</summary>
    public static jit.ScriptModule<Tensor, Tensor> LoadOneInput(string path, string whatFor) =>
        Load(path, whatFor, () => jit.load<Tensor, Tensor>(path));

    /// <summary>Loads a module of any arity (called through <see cref="jit.ScriptModule.call"/>).</summary>
    public static jit.ScriptModule LoadAny(string path, string whatFor) => Load(path, whatFor, () => jit.load(path));

    static T Load<T>(string path, string whatFor, Func<T> load) where T : jit.ScriptModule
    {
        RequireTorchScript(path, whatFor);
        T module;
        try { module = load(); }
        catch (Exception e) when (e is not PagLabException)
        {
            throw new DataFormatException(path,
                $"libtorch cannot load this TorchScript archive: {FirstLine(e.Message)}");
        }
        module.eval();
        return module;
    }

    /// <summary>
    /// The informative line of a libtorch error: the last "SomethingError: message" line of a TorchScript
    /// traceback, else the first line that is not part of a C++ trace ("Exception raised from", "frame #N").
    /// </summary>
    public static string FirstLine(string message)
    {
        var lines = message.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var error = lines.LastOrDefault(l => PythonError().IsMatch(l));
        if (error is not null) return error[(error.IndexOf(": ", StringComparison.Ordinal) + 2)..];
        return lines.FirstOrDefault(l => !l.StartsWith("frame #", StringComparison.Ordinal)
                                         && !l.StartsWith("Exception raised from", StringComparison.Ordinal)) ?? "";
    }

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_.]*(Error|Exception): ")]
    private static partial Regex PythonError();
}
