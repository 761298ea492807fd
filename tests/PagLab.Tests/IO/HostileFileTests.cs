using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using PagLab.Common;
using PagLab.Data;
using PagLab.Imaging;
using PagLab.IO;
using PagLab.IO.Torch;
using PagLab.Models;
using PagLab.Tests.Cli;
using SkiaSharp;
using static TorchSharp.torch;

namespace PagLab.Tests.IO;

/// <summary>Small hostile files, made here: each gives one line naming the file within seconds and bounded memory, or a
/// correct load.</summary>
public class HostileFileTests
{
    static string Temp(string name) => Path.Combine(TestPaths.TempDir("hostile"), name);

    static DataFormatException Refused(Action load, string expected)
    {
        var clock = Stopwatch.StartNew();
        long before = GC.GetTotalAllocatedBytes();
        var e = Assert.ThrowsAny<PagLabException>(load);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        Assert.True(GC.GetTotalAllocatedBytes() - before < 256L << 20, "allocated more than 256 MiB");
        Assert.True(e.Message.Contains(expected, StringComparison.Ordinal), e.Message);
        Assert.DoesNotContain("\n", e.Message);
        return Assert.IsType<DataFormatException>(e);
    }

    // ---- .pth (zip + pickle) ----

    static byte[] Unicode(string s) { var b = Encoding.UTF8.GetBytes(s); return [(byte)'X',
        .. BitConverter.GetBytes(b.Length), .. b]; }
    static byte[] Global(string module, string name) => Encoding.ASCII.GetBytes($"c{module}\n{name}\n");
    static byte[] BinInt(int v) => [(byte)'J', .. BitConverter.GetBytes(v)];

    static string Pth(byte[] pickle, params (string Key, byte[] Data)[] storages)
    {
        string path = Temp("x.pth");
        var entries = new List<(string, byte[])> { ("archive/data.pkl", pickle) };
        entries.AddRange(storages.Select(s => ($"archive/data/{s.Key}", s.Data)));
        using (var f = File.Create(path)) StoredZip.Write(f, entries);
        return path;
    }

    /// <summary>{"w": tensor on a 1-element float storage with the given size and stride}.</summary>
    static byte[] OneTensorPickle(int[] size, int[] stride) =>
    [
        0x80, 2, .. Global("collections", "OrderedDict"), (byte)')', (byte)'R', (byte)'(',
        .. Unicode("w"), .. Global("torch._utils", "_rebuild_tensor_v2"), (byte)'(',
        (byte)'(', .. Unicode("storage"), .. Global("torch", "FloatStorage"), .. Unicode("0"), .. Unicode("cpu"),
            (byte)'K', 1, (byte)'t', (byte)'Q',
        (byte)'K', 0, (byte)'(', .. size.SelectMany(BinInt), (byte)'t', (byte)'(', .. stride.SelectMany(BinInt),
            (byte)'t', 0x89,
        .. Global("collections", "OrderedDict"), (byte)')', (byte)'R', (byte)'t', (byte)'R', (byte)'u', (byte)'.',
    ];

    [Fact]
    public void Pth_WhosePickleSharesReferences45Deep_IsWalkedOnce()
    {
        // l0 = []; l(i) = [l(i-1), l(i-1)]: 2^45 paths to the bottom, 46 objects.
        var p = new List<byte> { 0x80, 2, (byte)']', (byte)'q', 0 };
        for (byte i = 1; i <= 45; i++) p.AddRange(new byte[] { (byte)'0', (byte)'(', (byte)'h', (byte)(i - 1),
            (byte)'h', (byte)(i - 1), (byte)'l', (byte)'q', i });
        p.Add((byte)'.');
        string path = Pth(p.ToArray());
        Refused(() => TorchFile.ReadStateDict(path), "does not hold a state dict");
    }

    [Fact]
    public void Pth_WithAStrideZeroTensor_IsRefusedBeforeAllocating()
    {
        string path = Pth(OneTensorPickle([30000, 30000], [0, 0]), ("0", new byte[4]));
        Assert.True(new FileInfo(path).Length < 1000);
        Refused(() => TorchFile.ReadStateDict(path), "overlaps itself");
    }

    [Fact]
    public void Pth_WithAnOrdinaryTensor_StillLoads()
    {
        string path = Pth(OneTensorPickle([1], [1]), ("0", BitConverter.GetBytes(2.5f)));
        var sd = TorchFile.ReadStateDict(path);
        Assert.Equal(2.5f, sd["w"].item<float>());
    }

    // ---- safetensors ----

    static string SafeTensorsFile(string header, byte[] data)
    {
        string path = Temp("x.safetensors");
        var h = Encoding.UTF8.GetBytes(header);
        File.WriteAllBytes(path, [.. BitConverter.GetBytes((ulong)h.Length), .. h, .. data]);
        return path;
    }

    [Theory]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
        "starts at byte 4 of the data, expected 0")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
        + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "overlapping or shifted")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "the file holds 8")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[null,4]}}", 4, "has no data_offsets")]
    [InlineData("{\"a\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2,
        "holds bytes other than 0 and 1")]
    public void SafeTensors_WithShiftedOverlappingNullOrBadBoolData_AreRefused(string header, int dataBytes,
        string expected)
    {
        var data = new byte[dataBytes];
        data[^1] = 2;
        string path = SafeTensorsFile(header, data);
        Refused(() => SafeTensors.Read(path), expected);
    }

    [Fact]
    public void Weights_ThatAreNaNOrBool_AreRefusedOnLoad()
    {
        using var layer = nn.Linear(2, 2);
        var good = SavedModel.StateDict(layer);
        using var nan = full(new long[] { 2, 2 }, float.NaN);
        var e = Assert.Throws<DataFormatException>(() => SavedModel.LoadStateDict(layer, new Dictionary<string,
            Tensor>(good) { ["weight"] = nan }, "m.safetensors"));
        Assert.Contains("tensor 'weight' holds NaN or infinite values", e.Message);
        using var flags = ones(new long[] { 2, 2 }, ScalarType.Bool);
        e = Assert.Throws<DataFormatException>(() => SavedModel.LoadStateDict(layer, new Dictionary<string,
            Tensor>(good) { ["weight"] = flags }, "m.safetensors"));
        Assert.Contains("holds Bool values", e.Message);
    }

    // ---- npz / npy ----

    [Fact]
    public void Npy_WhoseShapeOverflows_GivesOneLine()
    {
        string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }";
        header = header.PadRight(118) + "\n";
        byte[] npy = [0x93, .. "NUMPY"u8, 1, 0, (byte)header.Length, 0, .. Encoding.ASCII.GetBytes(header)];
        string path = Temp("x.npz");
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Create))
        using (var s = zip.CreateEntry("x.npy").Open()) s.Write(npy);
        Refused(() => Npz.Read(path), "overflows 64 bits");
    }

    // ---- IDX gzip ----

    [Fact]
    public void GzipOfZeros_IsStoppedAtTheSizeItsHeaderPromises()
    {
        string path = Temp("train-images-idx3-ubyte.gz");
        using (var gz = new GZipStream(File.Create(path), CompressionLevel.Fastest))
        {
            var header = new byte[16];
            BinaryPrimitives.WriteInt32BigEndian(header, 2051);
            BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), 100);
            BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(8), 28);
            BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(12), 28);
            gz.Write(header);
            var zeros = new byte[1 << 20];
            for (int i = 0; i < 200; i++) gz.Write(zeros); // 200 MB inflated, a few hundred KB on disk
        }
        Refused(() => IdxReader.ReadImages(path).Dispose(), "longer than its header promises");
    }

    // ---- images ----

    static byte[] Png(int w, int h, SKColor color)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        bitmap.Erase(color);
        var random = new Random(1);
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x += 3) bitmap.SetPixel(x, y,
            new SKColor((byte)random.Next(256), (byte)random.Next(256), 0, color.Alpha));
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    [Fact]
    public void TruncatedPng_IsAnError_NotABlackImage()
    {
        var png = Png(64, 64, SKColors.White);
        string path = Temp("cut.png");
        File.WriteAllBytes(path, png[..(png.Length / 2)]);
        Refused(() => RgbImage.Read(path), "truncated");
    }

    [Fact]
    public void HugePngHeader_IsRefusedBeforeDecoding()
    {
        var png = Png(8, 8, SKColors.White);
        BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(16), 20000);
        BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(20), 20000);
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(29), StoredZip.Crc32(png.AsSpan(12, 17)));
        string path = Temp("huge.png");
        File.WriteAllBytes(path, png);
        Refused(() => RgbImage.Read(path), "20000x20000");
    }

    [Fact]
    public void RgbaPng_DropsAlpha_WithoutPremultiplying()
    {
        string path = Temp("rgba.png");
        File.WriteAllBytes(path, Png(4, 4, new SKColor(200, 100, 50, 64)));
        using var image = RgbImage.Read(path);
        Assert.Equal(new[] { 200f / 255, 100f / 255, 50f / 255 }, new[] { image[0, 0, 1].item<float>(), image[1, 0,
            1].item<float>(), image[2, 0, 1].item<float>() });
    }

    [Fact]
    public void ImageOutputs_AreJpegForJpg_AndRefusedForOtherExtensions()
    {
        using var images = rand(2, 3, 8, 8);
        string jpg = Temp("grid.jpg");
        ImageGrid.SavePng(jpg, images, columns: 2);
        Assert.Equal(new byte[] { 0xFF, 0xD8 }, File.ReadAllBytes(jpg)[..2]);
        var e = Assert.Throws<PagLabException>(() => ImageGrid.SavePng(Temp("grid.gif"), images, columns: 2));
        Assert.Contains(".png or .jpg", e.Message);
    }

    // ---- sizes and numbers from the command line ----

    [Fact]
    public void GeneratedDatasetOfABillionImages_IsRefusedAtOnce()
    {
        var e = Assert.Throws<PagLabException>(() => Datasets.Load("shapes-distractor",
            new DataOptions(TrainSize: 999_999_999)));
        Assert.Contains($"at most {Datasets.MaxGenerated} images", e.Message);
    }

    [Theory]
    [InlineData("train", "--threads", "0", "--threads must be in 1..1024")]
    [InlineData("eval", "--steps", "0", "--steps must be in 1..1000")]
    [InlineData("eval", "--eps", "1e20", "--eps values must be in (0, 1000000]")]
    [InlineData("eval", "--eps", "NaN", "--eps values must be in")]
    [InlineData("eval", "--count", "0", "--count must be >= 1")]
    public void AbsurdOptions_GiveOneLine_BeforeAnyWork(string command, string option, string value, string expected)
    {
        string[] args = command == "train"
            ? ["train", "--dataset", "shapes", "--out", Temp("run"), option, value]
            : ["eval", "--model", Temp("no-such-model"), "--dataset", "shapes", "--attack", "pgd-l2", option, value];
        var r = CliProcess.Run(args);
        Assert.Equal(2, r.ExitCode);
        var line = Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.Contains(expected, line);
    }
}
