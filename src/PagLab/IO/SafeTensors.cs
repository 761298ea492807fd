using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PagLab.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.IO;

/// <summary>
/// The safetensors format (huggingface/safetensors): 8-byte little-endian header length, a JSON
/// header {name: {dtype, shape, data_offsets}, "__metadata__": {..}}, then raw little-endian data.
/// Read and written here so every error names the file and no code can run on load.
/// </summary>
public static class SafeTensors
{
    static readonly Dictionary<string, (ScalarType Type, int Bytes)> DTypes = new()
    {
        ["F64"] = (ScalarType.Float64, 8), ["F32"] = (ScalarType.Float32, 4), ["F16"] = (ScalarType.Float16, 2),
        ["BF16"] = (ScalarType.BFloat16, 2), ["I64"] = (ScalarType.Int64, 8), ["I32"] = (ScalarType.Int32, 4),
        ["I16"] = (ScalarType.Int16, 2), ["I8"] = (ScalarType.Int8, 1), ["U8"] = (ScalarType.Byte, 1),
            ["BOOL"] = (ScalarType.Bool, 1),
    };

    const long MaxHeaderBytes = 100_000_000;

    public static void Write(string path, IReadOnlyDictionary<string, Tensor> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
        {
            var meta = new JsonObject();
            foreach (var (k, v) in metadata) meta[k] = v;
            header["__metadata__"] = meta;
        }
        var blobs = new List<byte[]>();
        long offset = 0;
        foreach (var (name, tensor) in tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            using var cpu = tensor.detach().cpu().contiguous();
            var dtype = DTypes.FirstOrDefault(d => d.Value.Type == cpu.dtype);
            if (dtype.Key is null) throw new PagLabException($"{path}: cannot store tensor '{name}' of type "
                + $"{cpu.dtype}");
            var bytes = cpu.bytes.ToArray();
            header[name] = new JsonObject
            {
                ["dtype"] = dtype.Key,
                ["shape"] = new JsonArray(cpu.shape.Select(s => (JsonNode)s).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + bytes.Length),
            };
            blobs.Add(bytes);
            offset += bytes.Length;
        }
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        int pad = (8 - headerBytes.Length % 8) % 8; // align data to 8 bytes, as the reference writer does
        headerBytes = headerBytes.Concat(Enumerable.Repeat((byte)' ', pad)).ToArray();
        AtomicFile.Write(path, stream =>
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)headerBytes.Length);
            stream.Write(len);
            stream.Write(headerBytes);
            foreach (var b in blobs) stream.Write(b);
        });
    }

    public static Dictionary<string, Tensor> Read(string path) => Read(path, out _);

    public static Dictionary<string, Tensor> Read(string path, out Dictionary<string, string> metadata)
    {
        byte[] file = UserFile.ReadBytes(path);
        return Parse(file, path, out metadata);
    }

    public static Dictionary<string, Tensor> Parse(byte[] file, string path, out Dictionary<string, string> metadata)
    {
        if (file.Length < 8) throw new DataFormatException(path,
            "not a safetensors file (shorter than its 8-byte header length)");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(file);
        if (headerLength > MaxHeaderBytes || (long)headerLength > file.Length - 8)
            throw new DataFormatException(path, "not a safetensors file (header length beyond the end of the file)");
        JsonObject header;
        try
        {
            header = JsonNode.Parse(Encoding.UTF8.GetString(file, 8, (int)headerLength)) as JsonObject
                     ?? throw new DataFormatException(path, "safetensors header is not a JSON object");
        }
        catch (JsonException) { throw new DataFormatException(path, "safetensors header is not valid JSON"); }

        long dataStart = 8 + (long)headerLength, dataLength = file.Length - dataStart;
        metadata = new Dictionary<string, string>();
        var result = new Dictionary<string, Tensor>();
        var spans = new List<(long Begin, long End, string Name)>();
        try
        {
            foreach (var (name, node) in header)
            {
                if (name == "__metadata__")
                {
                    if (node is JsonObject meta)
                        foreach (var (k, v) in meta)
                            metadata[k] = v?.GetValueKind() == JsonValueKind.String
                                ? v.GetValue<string>() : v?.ToJsonString() ?? "";
                    continue;
                }
                if (node is not JsonObject entry) throw new DataFormatException(path,
                    $"tensor '{name}' has no description");
                string dtypeName = Field<string>(entry, "dtype", name, path);
                if (!DTypes.TryGetValue(dtypeName, out var dtype)) throw new DataFormatException(path,
                    $"tensor '{name}' has unsupported dtype {dtypeName}");
                var shapeNode = entry["shape"] as JsonArray
                    ?? throw new DataFormatException(path, $"tensor '{name}' has no shape");
                var shape = shapeNode.Select(s => s?.GetValueKind() == JsonValueKind.Number ? s.GetValue<long>() : -1)
                    .ToArray();
                if (shape.Any(s => s < 0)) throw new DataFormatException(path, $"tensor '{name}' has a bad shape");
                var offsets = entry["data_offsets"] as JsonArray;
                if (offsets is not { Count: 2 } || offsets.Any(o => o?.GetValueKind() != JsonValueKind.Number))
                    throw new DataFormatException(path, $"tensor '{name}' has no data_offsets (two numbers)");
                long begin = offsets[0]!.GetValue<long>(), end = offsets[1]!.GetValue<long>();
                long elements = 1;
                foreach (var s in shape) elements = checked(elements * s);
                if (begin < 0 || end < begin || end > dataLength || end - begin != checked(elements * dtype.Bytes))
                    throw new DataFormatException(path,
                        $"tensor '{name}' lies outside the file or has the wrong size (truncated?)");
                var bytes = file.AsSpan((int)(dataStart + begin), (int)(end - begin));
                if (dtype.Type == ScalarType.Bool && bytes.IndexOfAnyExcept((byte)0, (byte)1) >= 0)
                    throw new DataFormatException(path, $"BOOL tensor '{name}' holds bytes other than 0 and 1");
                spans.Add((begin, end, name));
                var t = empty(shape, dtype.Type);
                bytes.CopyTo(t.bytes);
                result[name] = t;
            }
            CheckTiling(spans, dataLength, path);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or OverflowException or
            ArgumentException)
        {
            foreach (var t in result.Values) t.Dispose();
            throw new DataFormatException(path, $"corrupt safetensors header ({e.Message.Split('\n')[0]})");
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return result;
    }

    /// <summary>
    /// As the reference reader demands: the tensors' byte ranges, sorted, follow each other without gap or
    /// overlap and end at the end of the file (shifted or shared ranges would read other tensors' bytes).
    /// </summary>
    static void CheckTiling(List<(long Begin, long End, string Name)> spans, long dataLength, string path)
    {
        long at = 0;
        foreach (var (begin, end, name) in spans.OrderBy(s => s.Begin).ThenBy(s => s.End))
        {
            if (begin != at)
                throw new DataFormatException(path,
                    $"tensor '{name}' starts at byte {begin} of the data, expected {at} (overlapping or shifted "
                    + $"data_offsets)");
            at = end;
        }
        if (at != dataLength) throw new DataFormatException(path,
            $"the tensors cover {at} bytes of data, the file holds {dataLength} (shifted data_offsets or trailing "
            + $"bytes)");
    }

    static T Field<T>(JsonObject o, string key, string name, string path)
    {
        var node = o[key] ?? throw new DataFormatException(path, $"tensor '{name}' has no {key}");
        return node.GetValue<T>();
    }
}
