using System.IO.Compression;
using PagLab.Common;
using PagLab.Data;
using PagLab.Tests.Cli;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Tests.Data;

public class DatasetsTests
{
    [Fact]
    public void SharedMnist_LoadsAsFloatImagesInUnitRange_WithInt64Labels()
    {
        var root = TestPaths.RequireDataRoot();
        var ds = Datasets.Load("mnist", new DataOptions(root));
        Assert.Equal(new long[] { 8000, 1, 28, 28 }, ds.Train.Images.shape);
        Assert.Equal(new long[] { 2000 }, ds.Test.Labels.shape);
        Assert.True(ds.Train.Images.min().item<float>() >= 0 && ds.Train.Images.max().item<float>() <= 1);
        Assert.Equal(10, ds.Train.Labels.unique().Item1.numel());
    }

    [Fact]
    public void Shapes_IsDeterministicBalancedAndSized()
    {
        var a = ShapesDataset.Generate(500, 7);
        var b = ShapesDataset.Generate(500, 7);
        var c = ShapesDataset.Generate(500, 8);
        Assert.True(a.Images.eq(b.Images).all().item<bool>());
        Assert.False(a.Images.eq(c.Images).all().item<bool>());
        Assert.Equal(new long[] { 500, 1, 28, 28 }, a.Images.shape);
        var counts = a.Labels.bincount(null, 10).data<long>().ToArray();
        Assert.All(counts, count => Assert.Equal(50, count));
    }

    [Fact]
    public void Shapes_ClassesAreNotSeparableByMeanIntensityAlone()
    {
        // A nearest-class-mean-brightness rule must be far from the >= 95% a CNN reaches.
        var d = ShapesDataset.Generate(2000, 1);
        var brightness = d.Images.mean(new long[] { 1, 2, 3 });
        var classMeans = stack(Enumerable.Range(0, 10).Select(c => brightness.index_select(0,
            d.Labels.eq(c).nonzero().flatten()).mean()).ToArray());
        var predicted = (brightness.unsqueeze(1) - classMeans.unsqueeze(0)).abs().argmin(1);
        double accuracy = predicted.eq(d.Labels).to_type(ScalarType.Float32).mean().item<float>();
        Assert.True(accuracy < 0.5, $"brightness alone gives {accuracy:P0}");
    }

    [Fact]
    public void Distractor_PutsTheSameLetterInTheOtherHalf_AndMasksAreComplementary()
    {
        var ds = Datasets.Load("shapes-distractor", new DataOptions(Seed: 3, TrainSize: 200, TestSize: 50));
        var split = ds.Train;
        Assert.Equal(new long[] { 200, 1, 56, 28 }, split.Images.shape);
        var sum = split.SignalMask! + split.DistractorMask!;
        Assert.True(sum.eq(1).all().item<bool>());
        // Distractor pixels are identical on every image and equal the letter.
        var letter = DistractorDataset.LetterA();
        var top = split.DistractorMask![.., .., 0, 0].eq(1).flatten();
        var tops = split.Images.index_select(0, top.nonzero().flatten()).narrow(2, 0, 28);
        var bottoms = split.Images.index_select(0, top.logical_not().nonzero().flatten()).narrow(2, 28, 28);
        Assert.True(tops.numel() > 0 && bottoms.numel() > 0, "both placements occur");
        Assert.True((tops - letter).abs().max().item<float>() == 0);
        Assert.True((bottoms - letter).abs().max().item<float>() == 0);
    }

    [Fact]
    public void LoadFor_RefusesImagesOfTheWrongShape_NamingBoth()
    {
        var options = new DataOptions(Seed: 1, TrainSize: 20, TestSize: 10);
        Assert.Equal(new ImageShape(1, 28, 28), Datasets.LoadFor("shapes", options, new ImageShape(1, 28, 28),
            "the model").Shape);
        var e = Assert.Throws<PagLabException>(() => Datasets.LoadFor("shapes", options, new ImageShape(3, 32, 32),
            "the model"));
        Assert.Contains("the model expects", e.Message);
        Assert.Contains("shapes has", e.Message);
    }

    [Fact]
    public void UnknownDataset_NamesTheKnownOnes()
    {
        var e = Assert.Throws<PagLabException>(() => Datasets.Load("mnits"));
        Assert.Contains("unknown dataset 'mnits'", e.Message);
        Assert.Contains("fashion-mnist", e.Message);
    }

    [Fact]
    public void MissingDataset_SaysWhereItLookedAndHowToFetch()
    {
        var e = Assert.Throws<PagLabException>(() => Datasets.Load("fashion-mnist",
            new DataOptions(TestPaths.TempDir())));
        Assert.Contains("paglab data fetch fashion-mnist", e.Message);
    }

    static string WriteIdxDataset(string root, int n)
    {
        string folder = Directory.CreateDirectory(Path.Combine(root, "mnist")).FullName;
        byte[] Images(int count)
        {
            var b = new byte[16 + count * 784];
            new byte[] { 0, 0, 8, 3 }.CopyTo(b, 0);
            BitConverter.GetBytes(count).Reverse().ToArray().CopyTo(b, 4);
            new byte[] { 0, 0, 0, 28, 0, 0, 0, 28 }.CopyTo(b, 8);
            for (int i = 16; i < b.Length; i++) b[i] = (byte)(i * 7);
            return b;
        }
        byte[] Labels(int count)
        {
            var b = new byte[8 + count];
            new byte[] { 0, 0, 8, 1 }.CopyTo(b, 0);
            BitConverter.GetBytes(count).Reverse().ToArray().CopyTo(b, 4);
            for (int i = 0; i < count; i++) b[8 + i] = (byte)(i % 10);
            return b;
        }
        void Gz(string name, byte[] bytes)
        {
            using var f = File.Create(Path.Combine(folder, name));
            using var gz = new GZipStream(f, CompressionLevel.Fastest);
            gz.Write(bytes);
        }
        Gz("train-images-idx3-ubyte.gz", Images(n)); Gz("train-labels-idx1-ubyte.gz", Labels(n));
        File.WriteAllBytes(Path.Combine(folder, "t10k-images-idx3-ubyte"), Images(n)); // plain, not gzipped
        File.WriteAllBytes(Path.Combine(folder, "t10k-labels-idx1-ubyte"), Labels(n));
        return folder;
    }

    [Fact]
    public void Idx_ReadsGzippedAndPlainFiles()
    {
        string root = TestPaths.TempDir();
        WriteIdxDataset(root, 12);
        var ds = Datasets.Load("mnist", new DataOptions(root));
        Assert.Equal(12, ds.Train.Count);
        Assert.True(ds.Train.Images.eq(ds.Test.Images).all().item<bool>());
        Assert.Equal(7f * 16 % 256 / 255f, ds.Train.Images.flatten()[0].item<float>(), 6);
    }

    [Fact]
    public void Idx_FuzzedFiles_AlwaysGiveACleanError()
    {
        string root = TestPaths.TempDir();
        string folder = WriteIdxDataset(root, 3);
        string images = Path.Combine(folder, "t10k-images-idx3-ubyte"), labels = Path.Combine(folder,
            "t10k-labels-idx1-ubyte");
        byte[] goodImages = File.ReadAllBytes(images), goodLabels = File.ReadAllBytes(labels);
        var gzImages = File.ReadAllBytes(Path.Combine(folder, "train-images-idx3-ubyte.gz"));
        var random = new Random(5);
        string target = Path.Combine(TestPaths.TempDir(), "fuzz");
        for (int trial = 0; trial < 1200; trial++)
        {
            byte[] source = (trial % 3) switch { 0 => goodImages, 1 => goodLabels, _ => gzImages };
            var bytes = Mutate(source, random);
            File.WriteAllBytes(target, bytes);
            try
            {
                using var t = trial % 3 == 1 ? IdxReader.ReadLabels(target) : IdxReader.ReadImages(target);
            }
            catch (PagLabException e) { Assert.DoesNotContain("\n", e.Message); }
        }
    }

    [Fact]
    public void Cifar10_ReadsRecords_AndFuzzedFilesGiveCleanErrors()
    {
        string path = Path.Combine(TestPaths.TempDir(), "test_batch.bin");
        var bytes = new byte[Cifar10Reader.RecordBytes * 4];
        for (int r = 0; r < 4; r++)
        {
            bytes[r * Cifar10Reader.RecordBytes] = (byte)(r * 3);
            for (int i = 1; i < Cifar10Reader.RecordBytes; i++) bytes[r * Cifar10Reader.RecordBytes + i] = (byte)(i
                + r);
        }
        File.WriteAllBytes(path, bytes);
        var split = Cifar10Reader.ReadBatch(path);
        Assert.Equal(new long[] { 4, 3, 32, 32 }, split.Images.shape);
        Assert.Equal(new long[] { 0, 3, 6, 9 }, split.Labels.data<long>().ToArray());
        // Record 1, green plane (offset 1024), first pixel: byte value (1 + 1024 + 1) % 256.
        Assert.Equal((1 + 1024 + 1) % 256 / 255f, split.Images[1, 1, 0, 0].item<float>(), 6);

        var random = new Random(9);
        for (int trial = 0; trial < 1000; trial++)
        {
            File.WriteAllBytes(path, Mutate(bytes, random));
            try { Cifar10Reader.ReadBatch(path).Dispose(); }
            catch (PagLabException e) { Assert.DoesNotContain("\n", e.Message); }
        }
    }

    [Fact]
    public void ImageNet64Npz_ReadsChannelPlanarDataAndOneBasedLabels_AndFuzzedFilesGiveCleanErrors()
    {
        string path = Path.Combine(TestPaths.TempDir(), "val_data.npz");
        byte[] Npy(string descr, string shape, byte[] data)
        {
            string header = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': ({shape}), }}";
            header = header.PadRight(((10 + header.Length + 1 + 63) / 64) * 64 - 10 - 1) + "\n";
            var h = System.Text.Encoding.ASCII.GetBytes(header);
            return new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, (byte)h.Length,
                (byte)(h.Length >> 8) }
                .Concat(h).Concat(data).ToArray();
        }
        var pixels = Enumerable.Range(0, 2 * 12288).Select(i => (byte)(i % 251)).ToArray();
        var labelBytes = BitConverter.GetBytes(5L).Concat(BitConverter.GetBytes(1000L)).ToArray();
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Create))
        {
            using (var s = zip.CreateEntry("data.npy").Open()) s.Write(Npy("|u1", "2, 12288", pixels));
            using (var s = zip.CreateEntry("labels.npy").Open()) s.Write(Npy("<i8", "2,", labelBytes));
        }
        var split = ImageNet64Reader.ReadFile(path);
        Assert.Equal(new long[] { 2, 3, 64, 64 }, split.Images.shape);
        Assert.Equal(new long[] { 4, 999 }, split.Labels.data<long>().ToArray());
        Assert.Equal((4096 + 1) % 251 / 255f, split.Images[0, 1, 0, 1].item<float>(), 6); // green plane starts at 4096

        byte[] good = File.ReadAllBytes(path);
        var random = new Random(13);
        for (int trial = 0; trial < 1000; trial++)
        {
            File.WriteAllBytes(path, Mutate(good, random));
            try { ImageNet64Reader.ReadFile(path).Dispose(); }
            catch (PagLabException e) { Assert.DoesNotContain("\n", e.Message); }
        }
    }

    [Fact]
    public void Cli_TruncatedIdxFile_GivesOneLineErrorNamingTheFile()
    {
        string root = TestPaths.TempDir();
        string folder = WriteIdxDataset(root, 5);
        string images = Path.Combine(folder, "t10k-images-idx3-ubyte");
        File.WriteAllBytes(images, File.ReadAllBytes(images)[..500]);
        var r = CliProcess.Run("data", "show", "mnist", "--split", "test", "--data-root", root, "--out",
            Path.Combine(root, "g.png"));
        Assert.Equal(2, r.ExitCode);
        var line = Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.StartsWith("error: ", line);
        Assert.Contains("t10k-images-idx3-ubyte", line);
        Assert.Contains("truncated", line);
    }

    /// <summary>Flips a few bytes (mostly in the header) and/or truncates.</summary>
    public static byte[] Mutate(byte[] good, Random random)
    {
        var bytes = (byte[])good.Clone();
        int kind = random.Next(3);
        if (kind != 1)
            for (int k = 0; k < 1 + random.Next(4); k++)
                bytes[random.Next(random.Next(2) == 0 ? Math.Min(64,
                    bytes.Length) : bytes.Length)] = (byte)random.Next(256);
        if (kind != 0) bytes = bytes[..random.Next(bytes.Length)];
        return bytes;
    }
}
