using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Data;

/// <summary>
/// The embedded `shapes` dataset: 10 classes of procedurally drawn grayscale 28x28 outlines
/// (circle, square, triangle, plus, X, line, ellipse, diamond, T, L). Position, size, rotation
/// (within +-20 degrees, so square/diamond and plus/X stay distinct), stroke width and intensity
/// vary per image; light Gaussian pixel noise is added. Deterministic from the seed; needs no file.
/// </summary>
public static class ShapesDataset
{
    public static readonly IReadOnlyList<string> ClassNames =
        new[] { "circle", "square", "triangle", "plus", "x", "line", "ellipse", "diamond", "t", "l" };

    public const int Size = 28;

    public static InMemoryDataset Create(long seed = 0, int trainSize = 10_000, int testSize = 2_000)
    {
        var train = Generate(trainSize, seed * 2 + 1);
        var test = Generate(testSize, seed * 2 + 2);
        return new InMemoryDataset(Datasets.Name(DatasetName.Shapes), new ImageShape(1, Size, Size), ClassNames, train,
            test);
    }

    /// <summary>n images with balanced labels in shuffled order.</summary>
    public static DataSplit Generate(int n, long seed)
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(unchecked((ulong)seed), device: CPU);
        var labels = arange(n, dtype: ScalarType.Int64).remainder(ClassNames.Count)
                        .index_select(0, randperm(n, generator: g, dtype: ScalarType.Int64));
        Tensor U(double lo, double hi) => rand(new long[] { n, 1, 1 }, generator: g).mul(hi - lo).add(lo);
        var cx = U(10, 18); var cy = U(10, 18);                 // centre (pixels)
        var half = U(6, 10);                                     // half size (pixels)
        var angle = U(-Math.PI / 9, Math.PI / 9);               // rotation
        var stroke = U(1.0, 2.2);                                // stroke width (pixels)
        var intensity = U(0.55, 1.0);

        // Pixel grid -> each image's local shape coordinates (u, v), shape of unit half-size.
        var coords = arange(Size, dtype: ScalarType.Float32).add(0.5f);
        var ys = coords.reshape(1, Size, 1); var xs = coords.reshape(1, 1, Size);
        var dx = xs - cx; var dy = ys - cy;                     // (n, 28, 28)
        var cos = angle.cos(); var sin = angle.sin();
        var u = (dx * cos + dy * sin) / half;
        var v = (-dx * sin + dy * cos) / half;

        var distance = zeros(n, Size, Size);                     // distance to the outline, in shape units
        for (int c = 0; c < ClassNames.Count; c++)
        {
            var rows = labels.eq(c).nonzero().flatten();
            if (rows.numel() == 0) continue;
            distance.index_copy_(0, rows, Outline(c, u.index_select(0, rows), v.index_select(0, rows)));
        }
        // Anti-aliased stroke: full inside width/2 of the outline, fading over one pixel.
        var pixels = distance * half;
        var ink = (stroke / 2 + 0.5 - pixels).clamp(0, 1) * intensity;
        var noise = randn(new long[] { n, Size, Size }, generator: g) * 0.05;
        var images = (ink + noise).clamp(0, 1).unsqueeze(1);     // (n, 1, 28, 28)
        return new DataSplit(images.MoveToOuterDisposeScope(), labels.MoveToOuterDisposeScope());
    }

    /// <summary>Distance of (u, v) to the outline of class c, in units of the half size.</summary>
    static Tensor Outline(int c, Tensor u, Tensor v)
    {
        var au = u.abs(); var av = v.abs();
        switch (c)
        {
            case 0: return ((u * u + v * v).sqrt() - 1).abs();                              // circle
            case 1: return (maximum(au, av) - 1).abs();                                       // square
            case 2:                                                                            // triangle (equilateral)
            {
                var e1 = v - 0.5;                                                              // bottom edge
                var e2 = (-v * 0.5 + u * 0.866) - 0.5;
                var e3 = (-v * 0.5 - u * 0.866) - 0.5;
                return maximum(maximum(e1, e2), e3).abs();
            }
            case 3: return minimum(Segment(u, v, -1, 0, 1, 0), Segment(u, v, 0, -1, 0, 1));   // plus
            // X
            case 4: return minimum(Segment(u, v, -0.75, -0.75, 0.75, 0.75), Segment(u, v, -0.75, 0.75, 0.75, -0.75));
            case 5: return Segment(u, v, -1, 0, 1, 0);                                         // line
            // ellipse (approx. distance)
            case 6: return ((u * u + v * v * 4).sqrt() - 1).abs() * 0.6;
            case 7: return (au + av - 1).abs() / Math.Sqrt(2);                                 // diamond
            case 8: return minimum(Segment(u, v, -1, -1, 1, -1), Segment(u, v, 0, -1, 0, 1)); // T
            default: return minimum(Segment(u, v, -0.7, -1, -0.7, 1), Segment(u, v, -0.7, 1, 0.8, 1)); // L
        }
    }

    /// <summary>Distance from points (u, v) to the segment (x0, y0)-(x1, y1).</summary>
    public static Tensor Segment(Tensor u, Tensor v, double x0, double y0, double x1, double y1)
    {
        double ex = x1 - x0, ey = y1 - y0, len2 = ex * ex + ey * ey;
        var t = (((u - x0) * ex + (v - y0) * ey) / len2).clamp(0, 1);
        var px = u - (t * ex + x0); var py = v - (t * ey + y0);
        return (px * px + py * py).sqrt();
    }
}
