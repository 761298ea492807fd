using PagLab.Common;
using PagLab.Metrics;
using static TorchSharp.torch;

namespace PagLab.Tests.Metrics;

[Trait("Category", "Numeric")]
public class SsimTests
{
    /// <summary>Straightforward float64 SSIM: every valid 11x11 window, weighted sums written out.</summary>
    static double NaiveSsim(double[,,] x, double[,,] y, double range)
    {
        int c = x.GetLength(0), h = x.GetLength(1), w = x.GetLength(2);
        var g = new double[11, 11];
        double total = 0;
        for (int i = 0; i < 11; i++) for (int j = 0; j < 11; j++) total += g[i,
            j] = Math.Exp(-((i - 5) * (i - 5) + (j - 5) * (j - 5)) / (2 * 1.5 * 1.5));
        double c1 = Math.Pow(0.01 * range, 2), c2 = Math.Pow(0.03 * range, 2), sum = 0;
        int count = 0;
        for (int ch = 0; ch < c; ch++)
            for (int top = 0; top + 11 <= h; top++)
                for (int left = 0; left + 11 <= w; left++)
                {
                    double mx = 0, my = 0, sxx = 0, syy = 0, sxy = 0;
                    for (int i = 0; i < 11; i++)
                        for (int j = 0; j < 11; j++)
                        {
                            double wt = g[i, j] / total, a = x[ch, top + i, left + j], b = y[ch, top + i, left + j];
                            mx += wt * a; my += wt * b; sxx += wt * a * a; syy += wt * b * b; sxy += wt * a * b;
                        }
                    double vx = sxx - mx * mx, vy = syy - my * my, cxy = sxy - mx * my;
                    sum += (2 * mx * my + c1) * (2 * cxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2));
                    count++;
                }
        return sum / count;
    }

    static double[,,] ToArray(Tensor t)
    {
        int c = (int)t.shape[0], h = (int)t.shape[1], w = (int)t.shape[2];
        var v = t.to(float64).data<double>().ToArray();
        var a = new double[c, h, w];
        for (int i = 0; i < v.Length; i++) a[i / (h * w), i / w % h, i % w] = v[i];
        return a;
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(255.0)]
    public void Compute_MatchesAStraightforwardFloat64Reference(double range)
    {
        manual_seed(3);
        using var x = rand(2, 3, 16, 14, dtype: float64) * range;
        using var y = (x + randn(2, 3, 16, 14, dtype: float64) * 0.1 * range).clamp(0, range);
        using var ours = Ssim.Compute(x, y, range);
        for (int i = 0; i < 2; i++)
            Assert.Equal(NaiveSsim(ToArray(x[i]), ToArray(y[i]), range), ours[i].item<double>(), 1e-10);
    }

    [Fact]
    public void Compute_OfAnImageWithItself_IsOne()
    {
        using var x = rand(3, 1, 28, 28);
        using var s = Ssim.Compute(x, x);
        Assert.True(s.allclose(ones(3, dtype: float64), rtol: 0, atol: 1e-9));
    }

    [Fact]
    public void Compute_OfTwoConstantImages_IsTheLuminanceTermInClosedForm()
    {
        using var a = full(1, 1, 20, 20, 0.2, dtype: float64);
        using var b = full(1, 1, 20, 20, 0.7, dtype: float64);
        double c1 = 1e-4, expected = (2 * 0.2 * 0.7 + c1) / (0.2 * 0.2 + 0.7 * 0.7 + c1); // sigma terms give C2/C2 = 1
        using var s = Ssim.Compute(a, b);
        Assert.Equal(expected, s.item<double>(), 1e-12);
    }

    [Fact]
    public void Compute_OnImagesSmallerThanTheWindow_SaysSo()
    {
        using var x = rand(1, 1, 10, 28);
        Assert.Contains("11x11", Assert.Throws<PagLabException>(() => Ssim.Compute(x, x)).Message);
    }
}

public class CosineSimilarityTests
{
    [Fact]
    public void Compute_IsPerImage_OverAllPixels()
    {
        using var a = tensor(new float[] { 1, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0 }).reshape(3, 1, 2, 2);
        using var b = tensor(new float[] { 0, 1, 0, 0, -2, -4, -6, -8, 1, 1, 1, 1 }).reshape(3, 1, 2, 2);
        using var c = CosineSimilarity.Compute(a, b);
        Assert.True(c.allclose(tensor(new float[] { 0, -1, 0 }), rtol: 0, atol: 1e-6));
    }
}
