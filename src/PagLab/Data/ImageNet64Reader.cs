using PagLab.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Data;

/// <summary>
/// Downsampled ImageNet 64x64 (Chrabaszcz et al. 2017) npz files: train_data_batch_1..10.npz and
/// val_data.npz, each with `data` (N x 12288 uint8, channel-planar R, G, B planes of 64x64) and
/// `labels` (1-based, 1..1000). Missing train batches are allowed (a partial download still works).
/// </summary>
public static class ImageNet64Reader
{
    /// <summary>The validation file, whose presence says the dataset is there.</summary>
    public static string ValidationFile(string root) =>
        Path.Combine(Datasets.Folder(root, DatasetName.ImageNet64), "val_data.npz");

    public static InMemoryDataset Load(string root)
    {
        string name = Datasets.Name(DatasetName.ImageNet64), folder = Datasets.Folder(root, name);
        string val = ValidationFile(root);
        if (!File.Exists(val))
            throw new PagLabException($"dataset '{name}' not found: no val_data.npz in {folder} (download the "
                + $"64x64 npz files from image-net.org after logging in; see 'paglab data fetch {name}')");
        var trainFiles = Enumerable.Range(1, 10).Select(i => Path.Combine(folder, $"train_data_batch_{i}.npz"))
            .Where(File.Exists).ToArray();
        if (trainFiles.Length == 0) throw new PagLabException($"dataset '{name}': no train_data_batch_N.npz in "
            + $"{folder}");
        var parts = trainFiles.Select(ReadFile).ToList();
        var train = new DataSplit(cat(parts.Select(p => p.Images).ToArray(), 0),
            cat(parts.Select(p => p.Labels).ToArray(), 0));
        foreach (var p in parts) p.Dispose();
        var classes = Enumerable.Range(0, 1000).Select(i => $"class{i}").ToArray();
        return new InMemoryDataset(name, Datasets.Entry(DatasetName.ImageNet64).Shape, classes, train, ReadFile(val));
    }

    public static DataSplit ReadFile(string path)
    {
        var arrays = Npz.Read(path);
        if (!arrays.TryGetValue("data", out var data)) throw new DataFormatException(path, "no 'data' array");
        if (!arrays.TryGetValue("labels", out var labels)) throw new DataFormatException(path, "no 'labels' array");
        if (data.Descr is not ("|u1" or "<u1") || data.Shape.Length != 2 || data.Shape[1] != 12288)
            throw new DataFormatException(path,
                $"'data' must be uint8 N x 12288, got {data.Descr} [{string.Join(",", data.Shape)}]");
        long n = data.Shape[0];
        if (labels.Count != n) throw new DataFormatException(path, $"{labels.Count} labels for {n} images");
        using var scope = NewDisposeScope();
        var y = LabelsToTensor(labels, path).sub(1);
        if (n > 0 && (y.min().item<long>() < 0 || y.max().item<long>() >= 1000)) throw new DataFormatException(path,
            "labels outside 1..1000");
        var x = tensor(data.Data, new long[] { n, 3, 64, 64 }).to_type(ScalarType.Float32).div_(255f);
        return new DataSplit(x.MoveToOuterDisposeScope(), y.MoveToOuterDisposeScope());
    }

    static Tensor LabelsToTensor(NpyArray labels, string path)
    {
        long n = labels.Count;
        return labels.Descr switch
        {
            "<i8" or "<u8" => tensor(Enumerable.Range(0, (int)n)
                .Select(i => BitConverter.ToInt64(labels.Data, i * 8)).ToArray()),
            "<i4" or "<u4" => tensor(Enumerable.Range(0, (int)n)
                .Select(i => (long)BitConverter.ToInt32(labels.Data, i * 4)).ToArray()),
            "<i2" or "<u2" => tensor(Enumerable.Range(0, (int)n)
                .Select(i => (long)BitConverter.ToInt16(labels.Data, i * 2)).ToArray()),
            "|u1" or "<u1" => tensor(labels.Data.Select(b => (long)b).ToArray()),
            _ => throw new DataFormatException(path, $"'labels' has unsupported dtype {labels.Descr}"),
        };
    }
}
