using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using PagLab.Common;
using PagLab.Data;
using PagLab.Experiments;
using PagLab.IO;
using PagLab.IO.Torch;
using SkiaSharp;
using static TorchSharp.torch;

namespace PagLab.Tests.IO;

/// <summary>
/// Mutates a valid file of each format many times (bit flips, byte overwrites with extreme values, cuts,
/// insertions, duplicated spans) and requires, for every mutant, either a load or a one-line
/// PagLabException, each within 2 s and 256 MiB of managed allocation. Deterministic (fixed seeds).
/// </summary>
public class FuzzTests(ITestOutputHelper output)
{
    const int MutantsPerFormat = 200;

    sealed record Format(string Name, string Extension, byte[] Seed, Action<string> Load, bool Text = false);

    static IEnumerable<Format> Formats()
    {
        string tmp = TestPaths.TempDir("fuzz-seed");
        using (var a = arange(12, ScalarType.Float32).reshape(3, 4)) using (var b = tensor(new long[] { 1, -2, 3 }))
        {
            var tensors = new Dictionary<string, Tensor> { ["a"] = a, ["b"] = b };
            SafeTensors.Write(Path.Combine(tmp, "s.safetensors"), tensors);
            TorchFile.WriteStateDict(Path.Combine(tmp, "z.pth"), tensors);
        }
        static void DisposeAll(Dictionary<string, Tensor> d) { foreach (var t in d.Values) t.Dispose(); }
        yield return new("safetensors", ".safetensors", File.ReadAllBytes(Path.Combine(tmp, "s.safetensors")),
            p => DisposeAll(SafeTensors.Read(p)));
        yield return new("pth-zip", ".pth", File.ReadAllBytes(Path.Combine(tmp, "z.pth")),
            p => DisposeAll(TorchFile.ReadStateDict(p)));
        yield return new("pth-legacy", ".pth", File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Metrics",
            "Fixtures", "tiny_legacy.pth")),
                         p => DisposeAll(TorchFile.ReadStateDict(p)));

        var idx = new byte[16 + 5 * 28 * 28];
        BinaryPrimitives.WriteInt32BigEndian(idx, 2051);
        BinaryPrimitives.WriteInt32BigEndian(idx.AsSpan(4), 5);
        BinaryPrimitives.WriteInt32BigEndian(idx.AsSpan(8), 28);
        BinaryPrimitives.WriteInt32BigEndian(idx.AsSpan(12), 28);
        new Random(5).NextBytes(idx.AsSpan(16));
        yield return new("idx", ".idx", idx, p => IdxReader.ReadImages(p).Dispose());
        var gz = new MemoryStream();
        using (var z = new GZipStream(gz, CompressionLevel.Optimal, leaveOpen: true)) z.Write(idx);
        yield return new("idx-gz", ".gz", gz.ToArray(), p => IdxReader.ReadImages(p).Dispose());

        string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }".PadRight(117) + "\n";
        byte[] npy = [0x93, .. "NUMPY"u8, 1, 0, (byte)header.Length, 0, .. Encoding.ASCII.GetBytes(header),
            .. new byte[24]];
        var npz = new MemoryStream();
        using (var zip = new ZipArchive(npz, ZipArchiveMode.Create, leaveOpen: true))
        using (var s = zip.CreateEntry("x.npy").Open()) s.Write(npy);
        yield return new("npz", ".npz", npz.ToArray(), p => Npz.Read(p));

        using (var bitmap = new SKBitmap(new SKImageInfo(16, 12, SKColorType.Rgba8888, SKAlphaType.Unpremul)))
        {
            var random = new Random(9);
            for (int y = 0; y < 12; y++) for (int x = 0; x < 16; x++) bitmap.SetPixel(x, y,
                new SKColor((uint)random.Next()));
            using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
            yield return new("png", ".png", data.ToArray(), p => RgbImage.Read(p).Dispose());
        }

        string examples = Path.Combine(TestPaths.RepoRoot, "examples");
        yield return new("spec-yaml", ".yaml", File.ReadAllBytes(Path.Combine(examples, "tiny-sweep.yaml")),
            p => SweepSpec.Load(p), Text: true);
        yield return new("spec-json", ".json", File.ReadAllBytes(Path.Combine(examples, "tiny-sweep.json")),
            p => SweepSpec.Load(p), Text: true);
    }

    static readonly byte[][] Extremes =
    [
        [0], [0xFF], [0x7F], [0x80], [0xFF, 0xFF, 0xFF, 0x7F], [0, 0, 0, 0x80], [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0xFF, 0xFF],
        "9999999999"u8.ToArray(), "-1"u8.ToArray(), "null"u8.ToArray(), "[[[["u8.ToArray(), "*a"u8.ToArray(),
            "&a"u8.ToArray(), "<<: "u8.ToArray(), "1e400"u8.ToArray(),
    ];

    static byte[] Mutate(byte[] seed, Random random, bool text)
    {
        var b = new List<byte>(seed);
        int edits = 1 + random.Next(4);
        for (int e = 0; e < edits && b.Count > 0; e++)
        {
            int at = random.Next(b.Count);
            switch (random.Next(text ? 4 : 5))
            {
                case 0: b[at] = text
                    ? (byte)"{}[]:,\"'- \n0123456789.aeEzZ#&*!|>"[random.Next(32)] : (byte)(b[at] ^ (1 <<
                    random.Next(8))); break;
                case 1: { var x = Extremes[random.Next(Extremes.Length)]; for (int i = 0; i < x.Length && at
                    + i < b.Count; i++) b[at + i] = x[i]; break; }
                case 2: b.RemoveRange(at, Math.Min(b.Count - at, 1 + random.Next(16))); break;
                case 3: b.InsertRange(at, Extremes[random.Next(Extremes.Length)]); break;
                default: b.RemoveRange(at, b.Count - at); break; // cut
            }
        }
        return b.ToArray();
    }

    [Fact]
    public void EveryMutantOfEveryFormat_LoadsOrGivesOneLine_QuicklyAndInBoundedMemory()
    {
        string dir = TestPaths.TempDir("fuzz");
        var total = Stopwatch.StartNew();
        var failures = new List<string>();
        foreach (var format in Formats())
        {
            string original = Path.Combine(dir, "seed-" + format.Name + format.Extension);
            File.WriteAllBytes(original, format.Seed);
            using (NewDisposeScope()) format.Load(original); // the unmutated file loads
            var random = new Random(format.Name.Length * 7919 + 17);
            int loaded = 0, refused = 0;
            var slowest = TimeSpan.Zero;
            for (int i = 0; i < MutantsPerFormat; i++)
            {
                string path = Path.Combine(dir, $"{format.Name}-{i}{format.Extension}");
                File.WriteAllBytes(path, Mutate(format.Seed, random, format.Text));
                var clock = Stopwatch.StartNew();
                long before = GC.GetAllocatedBytesForCurrentThread(); // this thread only: tests run in parallel
                try
                {
                    using (NewDisposeScope()) format.Load(path);
                    loaded++;
                }
                catch (PagLabException e) when (!e.Message.Contains('\n')) { refused++; }
                catch (Exception e) { failures.Add($"{format.Name} #{i}: {e.GetType().Name}: "
                    + $"{e.Message.Split('\n')[0]}"); }
                long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                if (clock.Elapsed > TimeSpan.FromSeconds(2)) failures.Add($"{format.Name} #{i}: took {clock.Elapsed}");
                if (allocated > 256L << 20) failures.Add($"{format.Name} #{i}: allocated {allocated >> 20} MiB");
                if (clock.Elapsed > slowest) slowest = clock.Elapsed;
                File.Delete(path);
            }
            output.WriteLine($"{format.Name}: {MutantsPerFormat} mutants, {loaded} loaded, {refused} refused with "
                + $"one line, slowest {slowest.TotalMilliseconds:F0} ms");
        }
        output.WriteLine($"all formats in {total.Elapsed.TotalSeconds:F1} s");
        Assert.True(failures.Count == 0, string.Join(" | ", failures.Take(12)));
    }
}
