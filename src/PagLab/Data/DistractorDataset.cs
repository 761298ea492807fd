using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Data;

/// <summary>
/// Signal + distractor data (PAGs, Suppl. B.9): 1x56x28 images with the 28x28 source image in one
/// half and a fixed letter "A" in the other, top or bottom chosen per image from the seed. The "A"
/// is the same pixels on every image, drawn here from three strokes (no font). Each image carries
/// its signal mask (the source half) and distractor mask (the letter half).
/// </summary>
public static class DistractorDataset
{
    /// <summary>The fixed 28x28 letter "A": two slanted strokes and a crossbar, intensity 1.</summary>
    public static Tensor LetterA()
    {
        using var scope = NewDisposeScope();
        var coords = arange(28, dtype: ScalarType.Float32).add(0.5f);
        var u = coords.reshape(1, 28).expand(28, 28); var v = coords.reshape(28, 1).expand(28, 28);
        var d = minimum(minimum(
            ShapesDataset.Segment(u, v, 14, 4, 6, 24),
            ShapesDataset.Segment(u, v, 14, 4, 22, 24)),
            ShapesDataset.Segment(u, v, 9.2, 16, 18.8, 16));
        return (2.0 - d).clamp(0, 1).reshape(1, 1, 28, 28).MoveToOuterDisposeScope(); // stroke ~3 px
    }

    /// <summary>The distractor set of <paramref name="source"/>, named as the registry names it
    /// (<paramref name="name"/>).</summary>
    public static InMemoryDataset Create(string name, IDataset source, long seed = 0)
    {
        if (source.Shape != new ImageShape(1, 28, 28))
            throw new Common.PagLabException($"distractor datasets need 1x28x28 source images, {source.Name} has "
                + $"{source.Shape}");
        return new InMemoryDataset(name, new ImageShape(1, 56, 28), source.ClassNames,
            Compose(source.Train, seed * 2 + 1), Compose(source.Test, seed * 2 + 2));
    }

    public static DataSplit Compose(DataSplit source, long seed)
    {
        using var scope = NewDisposeScope();
        long n = source.Count;
        using var g = new Generator(unchecked((ulong)seed), device: CPU);
        var signalOnTop = rand(new long[] { n, 1, 1, 1 }, generator: g).lt(0.5);       // (n,1,1,1) bool
        var letter = LetterA().expand(n, 1, 28, 28);
        var top = where(signalOnTop, source.Images, letter);
        var bottom = where(signalOnTop, letter, source.Images);
        var images = cat(new[] { top, bottom }, dim: 2).contiguous();                  // (n, 1, 56, 28)
        var one = torch.ones(n, 1, 28, 28); var zero = torch.zeros(n, 1, 28, 28);
        var signalMask = cat(new[] { where(signalOnTop, one, zero), where(signalOnTop, zero, one) },
            dim: 2).contiguous();
        var distractorMask = (1 - signalMask).contiguous();
        return new DataSplit(images.MoveToOuterDisposeScope(), source.Labels.clone().MoveToOuterDisposeScope(),
                             signalMask.MoveToOuterDisposeScope(), distractorMask.MoveToOuterDisposeScope());
    }
}
