using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PagLab.Common;
using static TorchSharp.torch;

namespace PagLab.IO.Torch;

/// <summary>
/// Every call into imported TorchScript code goes through here: a libtorch error becomes one line naming the
/// file, the operation and the interpreter's first message line; the output must be one floating-point tensor
/// (or the element <see cref="Call"/> is told to take from a tuple or list) with only finite values, so that a
/// broken model gives an error, never a number.
/// </summary>
public static class ScriptCall
{
    /// <param name="outputIndex">The element of a tuple or list output to use (null: the output is a tensor).</param>
    public static Tensor Call(jit.ScriptModule script, string source, string operation, int? outputIndex,
        params object[] inputs)
    {
        object output;
        try { output = script.call(inputs); }
        catch (ExternalException e)
        {
            throw new ScriptException(source, operation, TorchScriptFile.FirstLine(e.Message));
        }
        catch (Exception e) when (e is ArgumentException or NotImplementedException or InvalidCastException)
        {
            // libtorch ran the code; TorchSharp cannot convert what it returned (a dict, a string)
            throw new DataFormatException(source, $"{operation} returns a value that is not a tensor, a tuple or a "
                + $"list (a dict or a string?): {e.Message}");
        }
        var tensor = Select(output, source, operation, outputIndex);
        if (!tensor.is_floating_point())
            throw new DataFormatException(source, $"{operation} returns {tensor.dtype} values; PagLab needs "
                + "floating-point outputs (integer or boolean outputs have no gradient)");
        bool finite;
        using (no_grad()) finite = isfinite(tensor).all().item<bool>();
        if (!finite)
            throw new DataFormatException(source, $"{operation} returns NaN or infinite values; a broken model gives "
                + "no numbers");
        return tensor;
    }

    static Tensor Select(object output, string source, string operation, int? index)
    {
        if (output is Tensor tensor && index is null) return tensor;
        object[]? items = output switch
        {
            ITuple tuple => Enumerable.Range(0, tuple.Length).Select(i => tuple[i]!).ToArray(),
            Tensor[] list => list.Cast<object>().ToArray(),
            object[] mixed => mixed,
            _ => null,
        };
        if (items is null)
            throw new DataFormatException(source, $"{operation} returns {Describe(output)}, not a tensor"
                + (index is null ? "" : $" or a tuple to take element {index} of"));
        if (index is null)
            throw new DataFormatException(source, $"{operation} returns {Describe(output)}, not a tensor: pass "
                + "`outputIndex` to say which element is the output");
        if (index < 0 || index >= items.Length || items[index.Value] is not Tensor chosen)
            throw new DataFormatException(source, $"{operation} returns {Describe(output)}; `outputIndex` {index} "
                + "is not a tensor element of it");
        return chosen;
    }

    /// <summary>What a script returned, in TorchScript's words (a tuple of 2, a list of 3, an int).</summary>
    public static string Describe(object? output) => output switch
    {
        null => "nothing (None)",
        Tensor t => $"a tensor ({string.Join(", ", t.shape)})",
        ITuple tuple => $"a tuple of {tuple.Length}",
        Tensor[] list => $"a list of {list.Length} tensors",
        object[] mixed => $"a tuple or list of {mixed.Length} values",
        TorchSharp.Scalar => "a number",
        _ => $"a {output.GetType().Name}",
    };
}

/// <summary>libtorch raised an error inside imported code: <see cref="Cause"/> is the interpreter's first message
/// line, the message names the file and the operation too.</summary>
public sealed class ScriptException : PagLabException
{
    public ScriptException(string source, string operation, string cause)
        : base($"{source}: {operation} fails: {cause}") => Cause = cause;

    public string Cause { get; }
}
