using PagLab.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Data;

/// <summary>
/// CIFAR-10 "binary version" (Krizhevsky 2009): data_batch_1..5.bin and test_batch.bin, each a run
/// of 3073-byte records: 1 label byte, then 1024 red, 1024 green, 1024 blue bytes (32x32, row-major).
/// </summary>
public static class Cifar10Reader
{
    public const int RecordBytes = 3073;
    public static readonly IReadOnlyList<string> ClassNames =
        new[] { "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck" };

    /// <summary>The folder holding the .bin files: &lt;root&gt;/cifar10 or
    /// &lt;root&gt;/cifar10/cifar-10-batches-bin.</summary>
    public static string? FindFolder(string root)
    {
        string own = Datasets.Folder(root, DatasetName.Cifar10);
        foreach (var folder in new[] { own, Path.Combine(own, "cifar-10-batches-bin"),
            Path.Combine(root, "cifar-10-batches-bin") })
            if (File.Exists(Path.Combine(folder, "test_batch.bin"))) return folder;
        return null;
    }

    public static InMemoryDataset Load(string root)
    {
        string name = Datasets.Name(DatasetName.Cifar10);
        string folder = FindFolder(root) ?? throw new PagLabException(
            $"dataset '{name}' not found: no test_batch.bin in {Datasets.Folder(root, name)}"
            + $" (run 'paglab data fetch {name}' or pass `dataRoot`)");
        var trainFiles = Enumerable.Range(1, 5).Select(i => Path.Combine(folder, $"data_batch_{i}.bin")).ToArray();
        foreach (var f in trainFiles)
            if (!File.Exists(f)) throw new PagLabException($"{f}: file not found ({name} needs data_batch_1..5.bin "
                + $"and test_batch.bin)");
        var parts = trainFiles.Select(ReadBatch).ToList();
        var train = new DataSplit(cat(parts.Select(p => p.Images).ToArray(), 0),
            cat(parts.Select(p => p.Labels).ToArray(), 0));
        foreach (var p in parts) p.Dispose();
        return new InMemoryDataset(name, Datasets.Entry(DatasetName.Cifar10).Shape, ClassNames, train,
            ReadBatch(Path.Combine(folder, "test_batch.bin")));
    }

    /// <summary>One .bin file as a split: images (N, 3, 32, 32) in [0,1], labels (N).</summary>
    public static DataSplit ReadBatch(string path)
    {
        byte[] bytes = IO.UserFile.ReadBytes(path);
        if (bytes.Length == 0 || bytes.Length % RecordBytes != 0)
            throw new DataFormatException(path,
                $"size {bytes.Length} is not a multiple of the {RecordBytes}-byte CIFAR-10 record (truncated?)");
        int n = bytes.Length / RecordBytes;
        using var scope = NewDisposeScope();
        var records = tensor(bytes, new long[] { n, RecordBytes });
        var labels = records.select(1, 0).to_type(ScalarType.Int64);
        if (labels.max().item<long>() >= 10) throw new DataFormatException(path,
            "label byte outside 0..9 (not a CIFAR-10 binary file?)");
        var images = records.narrow(1, 1, 3072).reshape(n, 3, 32, 32).to_type(ScalarType.Float32).div_(255f);
        return new DataSplit(images.MoveToOuterDisposeScope(), labels.MoveToOuterDisposeScope());
    }
}
