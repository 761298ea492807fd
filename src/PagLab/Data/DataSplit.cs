using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Data;

/// <summary>A mini-batch: rows of a split picked by index (no per-sample copies).</summary>
public sealed class Batch : IDisposable
{
    public required Tensor Images { get; init; }          // (B, C, H, W) float32 in [0,1]
    public required Tensor Labels { get; init; }          // (B) int64
    public required Tensor Indices { get; init; }         // (B) int64 rows of the split
    public Tensor? SignalMask { get; init; }               // (B, 1, H, W) 0/1, distractor datasets only
    public Tensor? DistractorMask { get; init; }           // (B, 1, H, W) 0/1, distractor datasets only
    public long Size => Images.shape[0];

    public void Dispose()
    {
        Images.Dispose(); Labels.Dispose(); Indices.Dispose();
        SignalMask?.Dispose(); DistractorMask?.Dispose();
    }
}

/// <summary>
/// One split of a dataset. Images (N, C, H, W) float32 in [0,1], labels (N) int64. Distractor
/// datasets also carry per-image masks (N, 1, H, W) of the signal and distractor halves.
/// </summary>
public sealed class DataSplit : IDisposable
{
    public DataSplit(Tensor images, Tensor labels, Tensor? signalMask = null, Tensor? distractorMask = null)
    {
        if (images.dim() != 4) throw new ArgumentException($"images must be (N, C, H, W), got "
            + $"{string.Join("x", images.shape)}");
        if (labels.dim() != 1
            || labels.shape[0] != images.shape[0]) throw new ArgumentException("labels must be (N) and match images");
        // No implicit conversion: a conversion made inside a caller's DisposeScope would be disposed with it.
        if (images.dtype != ScalarType.Float32) throw new ArgumentException($"images must be float32, got "
            + $"{images.dtype}");
        if (labels.dtype != ScalarType.Int64) throw new ArgumentException($"labels must be int64, got {labels.dtype}");
        Images = images;
        Labels = labels;
        SignalMask = signalMask;
        DistractorMask = distractorMask;
    }

    public Tensor Images { get; }
    public Tensor Labels { get; }
    public Tensor? SignalMask { get; }
    public Tensor? DistractorMask { get; }
    public long Count => Images.shape[0];

    /// <summary>The first n rows (a view, no copy).</summary>
    public DataSplit Take(long n)
    {
        n = Math.Min(n, Count);
        return new DataSplit(Images.narrow(0, 0, n), Labels.narrow(0, 0, n), SignalMask?.narrow(0, 0, n),
            DistractorMask?.narrow(0, 0, n));
    }

    /// <summary>Rows picked by index (one gather per tensor).</summary>
    public Batch Select(Tensor indices) => new()
    {
        Images = Images.index_select(0, indices),
        Labels = Labels.index_select(0, indices),
        Indices = indices.alias(),
        SignalMask = SignalMask?.index_select(0, indices),
        DistractorMask = DistractorMask?.index_select(0, indices),
    };

    /// <summary>
    /// The order of rows for one epoch: a permutation drawn from (seed, epoch) alone, so a resumed
    /// run sees exactly the batches an uninterrupted run would.
    /// </summary>
    public Tensor EpochOrder(long seed, int epoch, bool shuffle)
    {
        if (!shuffle) return arange(Count, dtype: ScalarType.Int64);
        using var generator = new Generator(unchecked((ulong)(seed * 1_000_003 + epoch)), device: CPU);
        return randperm(Count, generator: generator, dtype: ScalarType.Int64);
    }

    /// <summary>Mini-batches of one epoch, starting at batch firstBatch (for resuming mid-epoch).</summary>
    public IEnumerable<Batch> Batches(int batchSize, long seed = 0, int epoch = 0, bool shuffle = true,
        int firstBatch = 0, bool dropLast = false)
    {
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize));
        using var order = EpochOrder(seed, epoch, shuffle);
        long count = Count;
        for (long start = (long)firstBatch * batchSize; start < count; start += batchSize)
        {
            long size = Math.Min(batchSize, count - start);
            if (dropLast && size < batchSize) yield break;
            using var indices = order.narrow(0, start, size);
            yield return Select(indices);
        }
    }

    public int BatchCount(int batchSize, bool dropLast = false) =>
        (int)(dropLast ? Count / batchSize : (Count + batchSize - 1) / batchSize);

    public void Dispose()
    {
        Images.Dispose(); Labels.Dispose(); SignalMask?.Dispose(); DistractorMask?.Dispose();
    }
}
