using System.IO.Compression;
using System.Text.RegularExpressions;
using PagLab.Common;

namespace PagLab.Data;

/// <summary>One array from a .npy file: dtype descriptor, shape, raw little-endian bytes (C order).</summary>
public sealed record NpyArray(string Descr, long[] Shape, byte[] Data)
{
    public long Count => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// Reads NumPy .npz archives (a zip of .npy files) without Python: the .npy header is a magic
/// "\x93NUMPY", a version, a header length and a Python-literal dict {'descr', 'fortran_order', 'shape'}.
/// Only plain little-endian numeric dtypes in C order are accepted; nothing is ever evaluated.
/// </summary>
public static partial class Npz
{
    static readonly Dictionary<string, int> ItemBytes = new()
    {
        ["|u1"] = 1, ["|i1"] = 1, ["|b1"] = 1, ["<u1"] = 1, ["<i2"] = 2, ["<u2"] = 2, ["<i4"] = 4, ["<u4"] = 4,
        ["<i8"] = 8, ["<u8"] = 8, ["<f4"] = 4, ["<f8"] = 8,
    };

    public static Dictionary<string, NpyArray> Read(string path, long maxBytes = 1L << 32)
    {
        if (!File.Exists(path)) throw new PagLabException($"{path}: file not found");
        try
        {
            using var zip = ZipFile.OpenRead(path);
            var result = new Dictionary<string, NpyArray>();
            foreach (var entry in zip.Entries)
            {
                if (!entry.FullName.EndsWith(".npy", StringComparison.Ordinal)) continue;
                if (entry.Length > maxBytes) throw new DataFormatException(path,
                    $"array {entry.FullName} is too large");
                using var stream = entry.Open();
                result[entry.FullName[..^4]] = ParseNpy(ReadBounded(stream, entry.Length, $"{path}:{entry.FullName}"),
                    $"{path}:{entry.FullName}");
            }
            return result;
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or NotSupportedException or
            IOException and not FileNotFoundException)
        {
            throw new DataFormatException(path, $"not a valid npz archive ({e.Message.Split('\n')[0]})");
        }
    }

    public static NpyArray ParseNpy(byte[] bytes, string where)
    {
        if (bytes.Length < 10 || bytes[0] != 0x93 || bytes[1] != (byte)'N' || bytes[2] != (byte)'U'
            || bytes[3] != (byte)'M' || bytes[4] != (byte)'P' || bytes[5] != (byte)'Y')
            throw new DataFormatException(where, "not a .npy array (bad magic)");
        int major = bytes[6];
        int headerLength, offset;
        if (major == 1) { headerLength = bytes[8] | bytes[9] << 8; offset = 10; }
        else if (major is 2 or 3)
        {
            if (bytes.Length < 12) throw new DataFormatException(where, "truncated .npy header");
            headerLength = BitConverter.ToInt32(bytes, 8); offset = 12;
        }
        else throw new DataFormatException(where, $"unsupported .npy version {major}");
        if (headerLength < 0 || offset + (long)headerLength > bytes.Length) throw new DataFormatException(where,
            "truncated .npy header");
        string header = System.Text.Encoding.ASCII.GetString(bytes, offset, headerLength);
        var descr = DescrPattern().Match(header);
        var fortran = FortranPattern().Match(header);
        var shape = ShapePattern().Match(header);
        if (!descr.Success || !fortran.Success || !shape.Success) throw new DataFormatException(where,
            "unreadable .npy header");
        if (fortran.Groups[1].Value == "True") throw new DataFormatException(where,
            "Fortran-order arrays are not supported");
        string d = descr.Groups[1].Value;
        if (!ItemBytes.TryGetValue(d, out int item)) throw new DataFormatException(where, $"unsupported dtype '{d}'");
        long[] dims;
        try
        {
            dims = shape.Groups[1].Value.Split(',',
                StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(long.Parse).ToArray();
        }
        catch (Exception e) when (e is FormatException or OverflowException) { throw new DataFormatException(where,
            "bad shape in .npy header"); }
        long count = 1, dataStart = offset + headerLength, promised;
        try
        {
            foreach (var s in dims)
            {
                if (s < 0) throw new DataFormatException(where, "negative dimension in .npy header");
                count = checked(count * s);
            }
            promised = checked(count * item);
        }
        catch (OverflowException) { throw new DataFormatException(where,
            $"the .npy shape ({shape.Groups[1].Value}) overflows 64 bits"); }
        if (bytes.Length - dataStart != promised)
            throw new DataFormatException(where,
                $"array data has {bytes.Length - dataStart} bytes, its header promises {promised} (truncated?)");
        return new NpyArray(d, dims, bytes.AsSpan((int)dataStart).ToArray());
    }

    /// <summary>An entry's bytes, refusing more than the zip directory declared (a lying header cannot inflate without
    /// bound).</summary>
    static byte[] ReadBounded(Stream stream, long declared, string where)
    {
        if (declared > Array.MaxLength) throw new DataFormatException(where,
            $"declares {declared} bytes, more than one array can hold");
        var buffer = new byte[declared];
        int read = 0, n;
        while (read < buffer.Length && (n = stream.Read(buffer, read, buffer.Length - read)) > 0) read += n;
        if (read < buffer.Length) throw new DataFormatException(where,
            $"holds {read} bytes, the archive declares {declared} (truncated)");
        if (stream.ReadByte() >= 0) throw new DataFormatException(where,
            $"inflates beyond the {declared} bytes the archive declares");
        return buffer;
    }

    [GeneratedRegex(@"'descr'\s*:\s*'([^']*)'")] private static partial Regex DescrPattern();
    [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")] private static partial Regex FortranPattern();
    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")] private static partial Regex ShapePattern();
}
