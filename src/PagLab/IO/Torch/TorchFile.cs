using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using PagLab.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.IO.Torch;

/// <summary>
/// Reads the files torch.save writes, through <see cref="RestrictedUnpickler"/> only (no code runs on load):
/// <list type="bullet">
/// <item>the zip format (PyTorch >= 1.6): <c>PREFIX/data.pkl</c> + one raw little-endian storage per
/// <c>PREFIX/data/KEY</c>;</item>
/// <item>the legacy format (before 1.6, e.g. torchvision's and LPIPS' .pth files): five pickles in a row (magic number,
/// protocol version, system info, the object, the storage keys), then per key an int64 element count and the raw
/// storage;</item>
/// <item>safetensors, passed on to <see cref="SafeTensors"/>.</item>
/// </list>
/// Writing uses the zip format (<see cref="TorchZipWriter"/>), which every PyTorch since 1.6 loads.
/// </summary>
public static class TorchFile
{
    /// <summary>The magic number torch.save puts first in a legacy file (torch/serialization.py).</summary>
    static readonly System.Numerics.BigInteger LegacyMagic =
        System.Numerics.BigInteger.Parse("119547037146038801333356");
    const long LegacyProtocol = 1001;

    static readonly Dictionary<string, ScalarType> StorageDTypes = new()
    {
        ["FloatStorage"] = ScalarType.Float32, ["DoubleStorage"] = ScalarType.Float64,
            ["HalfStorage"] = ScalarType.Float16,
        ["BFloat16Storage"] = ScalarType.BFloat16, ["LongStorage"] = ScalarType.Int64,
            ["IntStorage"] = ScalarType.Int32,
        ["ShortStorage"] = ScalarType.Int16, ["CharStorage"] = ScalarType.Int8, ["ByteStorage"] = ScalarType.Byte,
            ["BoolStorage"] = ScalarType.Bool,
    };

    /// <summary>
    /// A flat state dict (name -> tensor) from a .pt/.pth (zip or legacy) or .safetensors file. A checkpoint
    /// dict holding the weights under "state_dict" or "model" is unwrapped; anything that is not a tensor is refused.
    /// </summary>
    public static Dictionary<string, Tensor> ReadStateDict(string path)
    {
        byte[] file = ReadBytes(path);
        if (LooksLikeSafeTensors(file)) return SafeTensors.Parse(file, path, out _);
        var tensors = new List<Tensor>();
        try
        {
            var root = Parse(file, path, tensors);
            if (root is PyDict wrapper && wrapper.Items.Count > 0 && !wrapper.Items.Any(kv => kv.Value is Tensor))
            {
                var inner = wrapper.Items.FirstOrDefault(kv => kv.Key is "state_dict" or "model" && kv.Value is PyDict);
                if (inner.Value is PyDict d) root = d;
            }
            if (root is not PyDict dict) throw new DataFormatException(path,
                "does not hold a state dict (a dict of tensors)");
            var result = new Dictionary<string, Tensor>();
            foreach (var (key, value) in dict.Items)
            {
                if (key is not string name) throw new DataFormatException(path,
                    $"state dict key {key} is not a string");
                if (value is not Tensor t) throw new DataFormatException(path,
                    $"state dict entry '{name}' is not a tensor");
                result[name] = t;
            }
            var kept = new HashSet<Tensor>(result.Values, ReferenceEqualityComparer.Instance);
            foreach (var t in tensors) if (!kept.Contains(t)) t.Dispose();
            return result;
        }
        catch
        {
            foreach (var t in tensors) t.Dispose();
            throw;
        }
    }

    /// <summary>The whole object of a .pt/.pth file with tensors materialised (CPU, contiguous); caller disposes the
    /// tensors.</summary>
    public static object? Load(string path) => Parse(ReadBytes(path), path, new List<Tensor>());

    /// <summary>Writes a state dict as torch.save would (zip format, an OrderedDict of tensors).</summary>
    public static void WriteStateDict(string path, IReadOnlyDictionary<string, Tensor> tensors) =>
        TorchZipWriter.Write(path, tensors);

    static byte[] ReadBytes(string path)
    {
        return UserFile.ReadBytes(path);
    }

    static bool LooksLikeSafeTensors(byte[] file) =>
        file.Length >= 10 && BinaryPrimitives.ReadUInt64LittleEndian(file) < (ulong)file.Length && file[8] == (byte)'{';

    /// <summary>Parses either PyTorch format from memory; every tensor created is added to <paramref
    /// name="created"/>.</summary>
    public static object? Parse(byte[] file, string path, List<Tensor> created)
    {
        try { return ParseAny(file, path, created); }
        catch (Exception e) when (e is OverflowException or ArgumentException or InvalidCastException or
            KeyNotFoundException or IndexOutOfRangeException
                                       or NullReferenceException or InvalidOperationException)
        {
            throw new DataFormatException(path, $"corrupt PyTorch file ({FirstLine(e.Message)})");
        }
    }

    static object? ParseAny(byte[] file, string path, List<Tensor> created)
    {
        if (file.Length >= 4 && file[0] == (byte)'P' && file[1] == (byte)'K' && file[2] == 3
            && file[3] == 4) return ParseZip(file, path, created);
        if (file.Length >= 2 && file[0] == 0x80) return ParseLegacy(file, path, created);
        if (file.Length > 262 && Encoding.ASCII.GetString(file, 257, 5) == "ustar")
            throw new DataFormatException(path,
                "is a PyTorch tar checkpoint (before 0.4), which is not supported; re-save it with a newer PyTorch");
        throw new DataFormatException(path,
            "not a PyTorch file (neither the zip nor the legacy pickle format) nor safetensors");
    }

    static object? ParseZip(byte[] file, string path, List<Tensor> created)
    {
        ZipArchive zip;
        try { zip = new ZipArchive(new MemoryStream(file, writable: false), ZipArchiveMode.Read); }
        catch (InvalidDataException e) { throw new DataFormatException(path,
            $"corrupt zip archive ({FirstLine(e.Message)})"); }
        using (zip)
        {
            try
            {
                var pkl = zip.Entries.FirstOrDefault(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal)
                    && e.FullName.Count(c => c == '/') == 1)
                          ?? throw new DataFormatException(path,
                              "zip archive has no PREFIX/data.pkl (not written by torch.save)");
                string prefix = pkl.FullName[..^"data.pkl".Length];
                var order = zip.GetEntry(prefix + "byteorder");
                if (order is not null && Encoding.ASCII.GetString(ReadEntry(order, path)).Trim() != "little")
                    throw new DataFormatException(path, "stores big-endian tensors, which are not supported");
                var storages = new Dictionary<string, Tensor>();
                object? Persistent(object? pid)
                {
                    var (type, key, numel) = StorageId(pid, path);
                    if (!storages.TryGetValue(key, out var storage))
                    {
                        var entry = zip.GetEntry($"{prefix}data/{key}") ?? throw new DataFormatException(path,
                            $"storage '{key}' is missing from the archive");
                        storage = StorageTensor(ReadEntry(entry, path), 0, type, numel, key, path, created);
                        storages[key] = storage;
                    }
                    return new StorageRef(key, type, numel);
                }
                var value = RestrictedUnpickler.Load(ReadEntry(pkl, path), path, Persistent);
                return Materialise(value, storages, path, created);
            }
            catch (InvalidDataException e) { throw new DataFormatException(path,
                $"corrupt zip archive ({FirstLine(e.Message)})"); }
        }
    }

    static byte[] ReadEntry(ZipArchiveEntry entry, string path)
    {
        if (entry.Length > int.MaxValue) throw new DataFormatException(path,
            $"zip entry {entry.FullName} is too large");
        using var s = entry.Open();
        var buffer = new byte[entry.Length];
        int read = 0;
        while (read < buffer.Length)
        {
            int n = s.Read(buffer, read, buffer.Length - read);
            if (n == 0) throw new DataFormatException(path, $"zip entry {entry.FullName} is truncated");
            read += n;
        }
        return buffer;
    }

    static object? ParseLegacy(byte[] file, string path, List<Tensor> created)
    {
        var magic = RestrictedUnpickler.Load(file, path, null, 0, out int at);
        if (magic is not System.Numerics.BigInteger m || m != LegacyMagic)
            throw new DataFormatException(path, "not a PyTorch file (a pickle without torch.save's magic number)");
        if (RestrictedUnpickler.Load(file, path, null, at, out at) is not long protocol || protocol != LegacyProtocol)
            throw new DataFormatException(path, "unsupported legacy PyTorch protocol version");
        if (RestrictedUnpickler.Load(file, path, null, at, out at) is PyDict info &&
            info.Items.FirstOrDefault(kv => Equals(kv.Key, "little_endian")).Value is false)
            throw new DataFormatException(path, "stores big-endian tensors, which are not supported");

        var views = new Dictionary<string, StorageRef>(); // key -> (root, offset) as seen in the object pickle
        object? Persistent(object? pid)
        {
            if (pid is PyTuple { Items.Count: 6 } t && t.Items[5] is PyTuple { Items.Count: 3 } view)
            {
                var (type, root, _) = StorageId(new PyTuple(t.Items.Take(5).ToArray()), path);
                if (view.Items[0] is not string viewKey || view.Items[1] is not long offset
                    || view.Items[2] is not long size || offset < 0 || size < 0)
                    throw new DataFormatException(path, "malformed storage view in pickle");
                return views[viewKey] = new StorageRef(root, type, size, offset);
            }
            if (pid is PyTuple { Items.Count: 6 } plain && plain.Items[5] is null) pid =
                new PyTuple(plain.Items.Take(5).ToArray());
            var (type2, key, numel) = StorageId(pid, path);
            return views[key] = new StorageRef(key, type2, numel);
        }
        var value = RestrictedUnpickler.Load(file, path, Persistent, at, out at);
        if (RestrictedUnpickler.Load(file, path, null, at, out at) is not List<object?> keys
            || keys.Any(k => k is not string))
            throw new DataFormatException(path, "legacy PyTorch file has no list of storage keys");

        var storages = new Dictionary<string, Tensor>();
        foreach (string key in keys.Cast<string>())
        {
            var typeName = views.Values.FirstOrDefault(v => v.Key == key)?.StorageType
                           ?? throw new DataFormatException(path, $"storage '{key}' is listed but never used");
            if (at > file.Length - 8) throw new DataFormatException(path, "is truncated (storage data missing)");
            long numel = BinaryPrimitives.ReadInt64LittleEndian(file.AsSpan(at));
            at += 8;
            int elementSize = RestrictedUnpickler.StorageTypes[typeName];
            if (numel < 0 || numel > (file.Length - at) / elementSize) throw new DataFormatException(path,
                "is truncated (storage data missing)");
            storages[key] = StorageTensor(file, at, typeName, numel, key, path, created);
            at += (int)(numel * elementSize);
        }
        return Materialise(value, storages, path, created);
    }

    static (string Type, string Key, long Numel) StorageId(object? pid, string path)
    {
        if (pid is PyTuple { Items.Count: 5 } t && t.Items[0] is "storage"
            && t.Items[1] is PyGlobal { Module: "torch" } g &&
            RestrictedUnpickler.StorageTypes.ContainsKey(g.Name) && t.Items[2] is string key
                && t.Items[4] is long numel && numel >= 0)
            return (g.Name, key, numel);
        throw new DataFormatException(path, "pickle has a persistent id that is not a torch storage");
    }

    static Tensor StorageTensor(byte[] bytes, int start, string type, long numel, string key, string path,
        List<Tensor> created)
    {
        int elementSize = RestrictedUnpickler.StorageTypes[type];
        if (numel > (bytes.Length - start) / elementSize) throw new DataFormatException(path,
            $"storage '{key}' is shorter than its {numel} elements (truncated?)");
        var t = empty(new[] { numel }, StorageDTypes[type]);
        created.Add(t);
        bytes.AsSpan(start, checked((int)(numel * elementSize))).CopyTo(t.bytes);
        return t;
    }

    /// <summary>
    /// Replaces each TensorRef by a contiguous tensor, after checking it lies inside its storage, does not
    /// overlap itself (stride 0 repeats one element: a 600-byte file could ask for gigabytes) and keeps the
    /// total within <see cref="MaterialisedBudget"/>. Shared references are visited once (memo), so a pickle
    /// that refers to one object many times, at any depth, costs its size, not the number of paths to it.
    /// </summary>
    static object? Materialise(object? value, Dictionary<string, Tensor> storages, string path, List<Tensor> created)
    {
        long budget = MaterialisedBudget(storages.Values.Sum(s => s.shape[0] * s.element_size()));
        var memo = new Dictionary<object, object?>(ReferenceEqualityComparer.Instance);
        long total = 0;
        object? Visit(object? v, int depth)
        {
            if (depth > 100) throw new DataFormatException(path, "pickle nests too deeply (or refers to itself)");
            if (v is null || v is string || v.GetType().IsValueType) return v;
            if (memo.TryGetValue(v, out var done)) return done;
            object? result = v switch
            {
                TensorRef r => Tensor(r),
                PyDict d => MaterialiseDict(d),
                List<object?> l => l.Select(x => Visit(x, depth + 1)).ToList(),
                PyTuple t => new PyTuple(t.Items.Select(x => Visit(x, depth + 1)).ToArray()),
                StorageRef => throw new DataFormatException(path, "holds a bare storage, not a tensor"),
                PyGlobal g => throw new DataFormatException(path,
                    $"holds the global '{g.FullName}' itself, not a state dict"),
                _ => v,
            };
            memo[v] = result;
            return result;

            PyDict MaterialiseDict(PyDict d)
            {
                var copy = new PyDict();
                foreach (var (k, x) in d.Items) copy.Items.Add(new(k, Visit(x, depth + 1)));
                return copy;
            }
        }
        Tensor Tensor(TensorRef r)
        {
            if (!storages.TryGetValue(r.Storage.Key, out var storage)) throw new DataFormatException(path,
                $"storage '{r.Storage.Key}' has no data");
            if (r.Size.Length != r.Stride.Length || r.Size.Any(s => s < 0) || r.Stride.Any(s => s < 0) || r.Offset < 0)
                throw new DataFormatException(path, "tensor with a malformed size or stride");
            long offset = checked(r.Storage.ElementOffset + r.Offset), last = offset, numel = 1;
            bool emptyTensor = r.Size.Any(s => s == 0);
            for (int i = 0; i < r.Size.Length; i++)
            {
                last = checked(last + (r.Size[i] - 1) * r.Stride[i]);
                numel = checked(numel * r.Size[i]);
            }
            if (!emptyTensor && (last >= storage.shape[0] || offset >= storage.shape[0]))
                throw new DataFormatException(path,
                    $"tensor reaches beyond its storage '{r.Storage.Key}' (truncated or corrupt)");
            if (!emptyTensor && !NonOverlapping(r.Size, r.Stride))
                throw new DataFormatException(path,
                    $"a tensor on storage '{r.Storage.Key}' overlaps itself (stride 0 or overlapping strides), which "
                    + $"a state dict never holds");
            total = checked(total + numel * storage.element_size());
            if (total > budget)
                throw new DataFormatException(path,
                    $"its tensors would take more than {budget >> 20} MiB (views share storages many times?)");
            var t = emptyTensor ? empty(r.Size, storage.dtype)
                : storage.as_strided(r.Size, r.Stride, offset).contiguous();
            created.Add(t);
            return t;
        }
        return Visit(value, 0);
    }

    /// <summary>At most 4x the storage bytes in the file (views of shared storages) plus 64 MiB.</summary>
    public static long MaterialisedBudget(long storageBytes) => checked(4 * storageBytes + (64L << 20));

    /// <summary>
    /// True when no two indices reach one element: with the dimensions of size > 1 sorted by stride, each
    /// stride is at least the extent of the ones before it (the sufficient test torch itself uses).
    /// </summary>
    static bool NonOverlapping(long[] size, long[] stride)
    {
        long extent = 1;
        foreach (int i in Enumerable.Range(0, size.Length).Where(i => size[i] > 1).OrderBy(i => stride[i]))
        {
            if (stride[i] < extent) return false;
            extent = checked(stride[i] * size[i]);
        }
        return true;
    }

    static string FirstLine(string s) => s.Split('\n')[0];
}
