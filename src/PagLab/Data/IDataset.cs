using PagLab.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Data;

/// <summary>Channels x height x width of one image.</summary>
public sealed record ImageShape(int Channels, int Height, int Width)
{
    public long Pixels => (long)Channels * Height * Width;
    public long[] WithBatch(long n) => new[] { n, Channels, Height, Width };
    public override string ToString() => $"{Channels}x{Height}x{Width}";
}

/// <summary>The two splits of every dataset.</summary>
public enum Split
{
    [Name("train", "the training split")] Train,
    [Name("test", "the test split")] Test,
}

/// <summary>
/// A labelled image dataset: float images in [0,1] (N, C, H, W) and int64 labels (N), already
/// split into train and test. Every gradient PagLab takes is with respect to these pixels.
/// </summary>
public interface IDataset
{
    string Name { get; }
    ImageShape Shape { get; }
    int Classes { get; }
    IReadOnlyList<string> ClassNames { get; }
    DataSplit Train { get; }
    DataSplit Test { get; }
}

public static class DatasetSplits
{
    /// <summary>The split of a dataset named by a <see cref="Split"/>.</summary>
    public static DataSplit Part(this IDataset dataset, Split split) =>
        split == Split.Train ? dataset.Train : dataset.Test;
}

/// <summary>A dataset held in memory.</summary>
public sealed class InMemoryDataset : IDataset, IDisposable
{
    public InMemoryDataset(string name, ImageShape shape, IReadOnlyList<string> classNames, DataSplit train,
        DataSplit test)
    {
        Name = name; Shape = shape; ClassNames = classNames; Train = train; Test = test;
    }

    public string Name { get; }
    public ImageShape Shape { get; }
    public int Classes => ClassNames.Count;
    public IReadOnlyList<string> ClassNames { get; }
    public DataSplit Train { get; }
    public DataSplit Test { get; }

    public void Dispose() { Train.Dispose(); Test.Dispose(); }
}
