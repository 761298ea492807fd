using System.Buffers.Binary;
using System.Text;
using PagLab.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.IO.Torch;

/// <summary>
/// Writes a state dict in torch.save's zip format (PyTorch >= 1.6): an uncompressed zip with
/// <c>archive/data.pkl</c> (protocol-2 pickle of an OrderedDict whose values are
/// <c>torch._utils._rebuild_tensor_v2(persistent storage, 0, size, stride, False, OrderedDict())</c>),
/// one <c>archive/data/N</c> per tensor, <c>archive/byteorder</c> and <c>archive/version</c>.
/// </summary>
public static class TorchZipWriter
{
    static readonly Dictionary<ScalarType, string> StorageNames = new()
    {
        [ScalarType.Float32] = "FloatStorage", [ScalarType.Float64] = "DoubleStorage",
            [ScalarType.Float16] = "HalfStorage",
        [ScalarType.BFloat16] = "BFloat16Storage", [ScalarType.Int64] = "LongStorage",
            [ScalarType.Int32] = "IntStorage",
        [ScalarType.Int16] = "ShortStorage", [ScalarType.Int8] = "CharStorage", [ScalarType.Byte] = "ByteStorage",
            [ScalarType.Bool] = "BoolStorage",
    };

    public static void Write(string path, IReadOnlyDictionary<string, Tensor> tensors)
    {
        var entries = new List<(string Name, byte[] Data)>();
        var pickle = new PickleBuilder();
        pickle.Proto2().Global("collections", "OrderedDict").EmptyTuple().Reduce().Mark();
        int index = 0;
        foreach (var (name, tensor) in tensors)
        {
            using var cpu = tensor.detach().cpu().contiguous();
            if (!StorageNames.TryGetValue(cpu.dtype, out var storage))
                throw new PagLabException($"{path}: cannot store tensor '{name}' of type {cpu.dtype}");
            string key = (index++).ToString(System.Globalization.CultureInfo.InvariantCulture);
            entries.Add(($"archive/data/{key}", cpu.bytes.ToArray()));
            var stride = ContiguousStride(cpu.shape);
            pickle.Unicode(name).Global("torch._utils", "_rebuild_tensor_v2").Mark()
                  .Mark().Unicode("storage").Global("torch",
                      storage).Unicode(key).Unicode("cpu").Int(cpu.numel()).Tuple().PersistentId()
                  .Int(0).Ints(cpu.shape).Ints(stride).False()
                  .Global("collections", "OrderedDict").EmptyTuple().Reduce()
                  .Tuple().Reduce();
        }
        pickle.SetItems().Stop();
        entries.Insert(0, ("archive/data.pkl", pickle.ToArray()));
        entries.Add(("archive/byteorder", Encoding.ASCII.GetBytes("little")));
        entries.Add(("archive/version", Encoding.ASCII.GetBytes("3\n")));
        AtomicFile.Write(path, stream => StoredZip.Write(stream, entries));
    }

    static long[] ContiguousStride(long[] shape)
    {
        var stride = new long[shape.Length];
        long s = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { stride[i] = s; s *= Math.Max(1, shape[i]); }
        return stride;
    }

    /// <summary>The few pickle opcodes a state dict needs (Lib/pickletools.py).</summary>
    sealed class PickleBuilder
    {
        readonly MemoryStream s = new();
        PickleBuilder Op(byte b) { s.WriteByte(b); return this; }
        public PickleBuilder Proto2() { s.WriteByte(0x80); s.WriteByte(2); return this; }
        public PickleBuilder Mark() => Op((byte)'(');
        public PickleBuilder Tuple() => Op((byte)'t');
        public PickleBuilder EmptyTuple() => Op((byte)')');
        public PickleBuilder Reduce() => Op((byte)'R');
        public PickleBuilder SetItems() => Op((byte)'u');
        public PickleBuilder Stop() => Op((byte)'.');
        public PickleBuilder False() => Op(0x89);
        public PickleBuilder PersistentId() => Op((byte)'Q');
        public PickleBuilder Global(string module, string name)
        {
            s.WriteByte((byte)'c');
            s.Write(Encoding.ASCII.GetBytes($"{module}\n{name}\n"));
            return this;
        }
        public PickleBuilder Unicode(string text)
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            Span<byte> len = stackalloc byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(len, bytes.Length);
            s.WriteByte((byte)'X'); s.Write(len); s.Write(bytes);
            return this;
        }
        public PickleBuilder Int(long v)
        {
            Span<byte> b = stackalloc byte[8];
            if (v is >= int.MinValue and <= int.MaxValue)
            {
                BinaryPrimitives.WriteInt32LittleEndian(b, (int)v);
                s.WriteByte((byte)'J'); s.Write(b[..4]);
            }
            else
            {
                BinaryPrimitives.WriteInt64LittleEndian(b, v);
                s.WriteByte(0x8a); s.WriteByte(8); s.Write(b);
            }
            return this;
        }
        public PickleBuilder Ints(long[] values)
        {
            Mark();
            foreach (var v in values) Int(v);
            return Tuple();
        }
        public byte[] ToArray() => s.ToArray();
    }
}

/// <summary>A minimal zip writer: stored (uncompressed) entries, CRC-32, no zip64 (PKWARE APPNOTE 4.3).</summary>
public static class StoredZip
{
    static readonly uint[] CrcTable = Enumerable.Range(0, 256).Select(n =>
    {
        uint c = (uint)n;
        for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        return c;
    }).ToArray();

    public static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFFu;
        foreach (byte b in data) c = CrcTable[(c ^ b) & 0xFF] ^ (c >> 8);
        return c ^ 0xFFFFFFFFu;
    }

    public static void Write(Stream stream, IReadOnlyList<(string Name, byte[] Data)> entries)
    {
        var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        var central = new List<(byte[] Name, uint Crc, uint Size, uint Offset)>();
        long position = 0;
        foreach (var (name, data) in entries)
        {
            if (position > uint.MaxValue
                || data.LongLength > uint.MaxValue) throw new PagLabException("state dict too large for a zip "
                + "without zip64 (over 4 GB)");
            var nameBytes = Encoding.UTF8.GetBytes(name);
            uint crc = Crc32(data);
            central.Add((nameBytes, crc, (uint)data.Length, (uint)position));
            // signature, version, flags, stored
            w.Write(0x04034b50u); w.Write((ushort)20); w.Write((ushort)0); w.Write((ushort)0);
            w.Write((ushort)0); w.Write((ushort)0x21); // time, date (1980-01-01)
            w.Write(crc); w.Write((uint)data.Length); w.Write((uint)data.Length);
            w.Write((ushort)nameBytes.Length); w.Write((ushort)0);
            w.Write(nameBytes); w.Write(data);
            position += 30 + nameBytes.Length + data.Length;
        }
        long centralStart = position;
        foreach (var (name, crc, size, offset) in central)
        {
            w.Write(0x02014b50u); w.Write((ushort)20); w.Write((ushort)20); w.Write((ushort)0); w.Write((ushort)0);
            w.Write((ushort)0); w.Write((ushort)0x21);
            w.Write(crc); w.Write(size); w.Write(size);
            w.Write((ushort)name.Length); w.Write((ushort)0); w.Write((ushort)0); // name, extra, comment lengths
            w.Write((ushort)0); w.Write((ushort)0); w.Write(0u); // disk, internal attrs, external attrs
            w.Write(offset); w.Write(name);
            position += 46 + name.Length;
        }
        if (position > uint.MaxValue) throw new PagLabException("state dict too large for a zip without zip64 (over "
            + "4 GB)");
        w.Write(0x06054b50u); w.Write((ushort)0); w.Write((ushort)0);
        w.Write((ushort)central.Count); w.Write((ushort)central.Count);
        w.Write((uint)(position - centralStart)); w.Write((uint)centralStart); w.Write((ushort)0);
        w.Flush();
    }
}
