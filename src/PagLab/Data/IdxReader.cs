using System.Buffers.Binary;
using System.IO.Compression;
using PagLab.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Data;

/// <summary>
/// The IDX format of MNIST and Fashion-MNIST (LeCun et al.): big-endian magic (0x00000803 for
/// uint8 images, 0x00000801 for uint8 labels), dimension sizes, then raw bytes. Gzipped or not.
/// </summary>
public static class IdxReader
{
    const int ImagesMagic = 2051, LabelsMagic = 2049;

    /// <summary>Reads the file, transparently un-gzipping; at most maxBytes (guards against gzip bombs).</summary>
    public static byte[] ReadMaybeGzip(string path, long maxBytes = 1L << 31)
    {
        if (!File.Exists(path)) throw new PagLabException($"{path}: file not found");
        byte[] raw = File.ReadAllBytes(path);
        if (raw.Length >= 2 && raw[0] == 0x1f && raw[1] == 0x8b)
        {
            try
            {
                using var gz = new GZipStream(new MemoryStream(raw), CompressionMode.Decompress);
                using var output = new MemoryStream();
                var buffer = new byte[1 << 16];
                int n;
                while ((n = gz.Read(buffer)) > 0)
                {
                    output.Write(buffer, 0, n);
                    if (output.Length > maxBytes) throw new DataFormatException(path, "decompressed data is larger than expected");
                }
                return output.ToArray();
            }
            catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException)
            {
                throw new DataFormatException(path, "corrupt or truncated gzip data");
            }
        }
        return raw;
    }

    /// <summary>Images as (N, 1, rows, cols) float32 in [0,1].</summary>
    public static Tensor ReadImages(string path)
    {
        var bytes = ReadMaybeGzip(path);
        if (bytes.Length < 16) throw new DataFormatException(path, "truncated IDX header");
        int magic = BinaryPrimitives.ReadInt32BigEndian(bytes);
        if (magic != ImagesMagic) throw new DataFormatException(path, $"wrong magic number {magic} (expected {ImagesMagic} for IDX images)");
        int n = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(4)), rows = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(8)), cols = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(12));
        if (n < 0 || rows <= 0 || cols <= 0 || rows > 4096 || cols > 4096) throw new DataFormatException(path, $"bad IDX dimensions {n}x{rows}x{cols}");
        long expected = 16 + (long)n * rows * cols;
        if (bytes.Length != expected) throw new DataFormatException(path, $"IDX file has {bytes.Length} bytes, its header promises {expected} (truncated?)");
        using var u8 = tensor(bytes.AsSpan(16).ToArray(), new long[] { n, 1, rows, cols });
        return u8.to_type(ScalarType.Float32).div_(255f);
    }

    /// <summary>Labels as (N) int64.</summary>
    public static Tensor ReadLabels(string path)
    {
        var bytes = ReadMaybeGzip(path);
        if (bytes.Length < 8) throw new DataFormatException(path, "truncated IDX header");
        int magic = BinaryPrimitives.ReadInt32BigEndian(bytes);
        if (magic != LabelsMagic) throw new DataFormatException(path, $"wrong magic number {magic} (expected {LabelsMagic} for IDX labels)");
        int n = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(4));
        if (n < 0 || bytes.Length != 8L + n) throw new DataFormatException(path, $"IDX label file has {bytes.Length} bytes, its header promises {8L + n} (truncated?)");
        using var u8 = tensor(bytes.AsSpan(8).ToArray(), new long[] { n });
        return u8.to_type(ScalarType.Int64);
    }
}
