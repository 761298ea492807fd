using System.Buffers.Binary;
using System.IO.Compression;
using PagLab.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Data;

/// <summary>
/// The IDX format of MNIST and Fashion-MNIST (LeCun et al.): big-endian magic (0x00000803 for
/// uint8 images, 0x00000801 for uint8 labels), dimension sizes, then raw bytes. Gzipped or not.
/// The header is read first and the data inflated only up to the size it promises, so a small gzip
/// of zeros cannot grow into gigabytes before the error.
/// </summary>
public static class IdxReader
{
    const int ImagesMagic = 2051, LabelsMagic = 2049;

    /// <summary>At most 10 million items per file (MNIST has 70,000).</summary>
    public const int MaxItems = 10_000_000;

    /// <summary>Images as (N, 1, rows, cols) float32 in [0,1].</summary>
    public static Tensor ReadImages(string path)
    {
        var (dims, data) = Read(path, ImagesMagic, 3, "images");
        int n = dims[0], rows = dims[1], cols = dims[2];
        using var u8 = tensor(data, new long[] { n, 1, rows, cols });
        return u8.to_type(ScalarType.Float32).div_(255f);
    }

    /// <summary>Labels as (N) int64.</summary>
    public static Tensor ReadLabels(string path)
    {
        var (dims, data) = Read(path, LabelsMagic, 1, "labels");
        using var u8 = tensor(data, new long[] { dims[0] });
        return u8.to_type(ScalarType.Int64);
    }

    /// <summary>The header's dimensions and exactly the bytes it promises (error if fewer or more).</summary>
    static (int[] Dims, byte[] Data) Read(string path, int expectedMagic, int rank, string what)
    {
        if (!File.Exists(path)) throw new PagLabException($"{path}: file not found");
        try
        {
            using var file = File.OpenRead(path);
            bool gzipped = file.ReadByte() == 0x1f && file.ReadByte() == 0x8b;
            file.Position = 0;
            using Stream stream = gzipped ? new GZipStream(file, CompressionMode.Decompress) : file;
            var header = new byte[4 + 4 * rank];
            if (ReadFully(stream, header) < header.Length) throw new DataFormatException(path, "truncated IDX header");
            int magic = BinaryPrimitives.ReadInt32BigEndian(header);
            if (magic != expectedMagic) throw new DataFormatException(path,
                $"wrong magic number {magic} (expected {expectedMagic} for IDX {what})");
            var dims = Enumerable.Range(0,
                rank).Select(i => BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(4 + 4 * i))).ToArray();
            if (dims[0] < 0 || dims[0] > MaxItems || dims.Skip(1).Any(d => d <= 0 || d > 4096))
                throw new DataFormatException(path,
                    $"bad IDX dimensions {string.Join("x", dims)} (at most {MaxItems} items of at most 4096x4096)");
            long expected = dims.Aggregate(1L, (a, d) => a * d);
            if (expected > Array.MaxLength) throw new DataFormatException(path,
                $"IDX header promises {expected} bytes, more than one array can hold");
            var data = new byte[expected];
            int read = ReadFully(stream, data);
            bool more = stream.ReadByte() >= 0;
            if (read < expected || more)
                throw new DataFormatException(path,
                    $"IDX data {(more ? "is longer than" : $"has {read} bytes,")} its header promises {expected} "
                    + $"bytes{(more ? "" : " (truncated?)")}");
            return (dims, data);
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException and not
            FileNotFoundException)
        {
            throw new DataFormatException(path, "corrupt or truncated gzip data");
        }
    }

    static int ReadFully(Stream stream, byte[] buffer)
    {
        int read = 0, n;
        while (read < buffer.Length && (n = stream.Read(buffer, read, buffer.Length - read)) > 0) read += n;
        return read;
    }
}
