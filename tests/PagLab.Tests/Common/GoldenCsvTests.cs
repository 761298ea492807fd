namespace PagLab.Tests.Common;

public class GoldenCsvTests
{
    static string Write(string text)
    {
        string path = Path.Combine(TestPaths.TempDir("golden"), "r.csv");
        File.WriteAllText(path, text);
        return path;
    }

    const string Expected = "id,regime,value\n1,weak,0.5\n2,\"bayes-aligned, by off/on\",0.25\n";

    [Fact]
    public void AssertMatches_AcceptsTheSixthDigitWithinTolerance()
    {
        // 0.5 -> 0.500001 is 2e-6 of the column's scale 0.5: 17 ulps, within the end-to-end budget
        GoldenCsv.AssertMatches(Write(Expected),
            Write("id,regime,value\n1,weak,0.500001\n2,\"bayes-aligned, by off/on\",0.25\n"),
            Float32Tolerance.EndToEnd);
    }

    [Fact]
    public void AssertMatches_RefusesANumberBeyondTolerance()
    {
        Assert.ThrowsAny<Exception>(() => GoldenCsv.AssertMatches(Write(Expected),
            Write("id,regime,value\n1,weak,0.5\n2,\"bayes-aligned, by off/on\",0.251\n"), Float32Tolerance.EndToEnd));
    }

    [Fact]
    public void AssertMatches_RefusesAnyChangeOfText()
    {
        Assert.ThrowsAny<Exception>(() => GoldenCsv.AssertMatches(Write(Expected),
            Write("id,regime,value\n1,weak,0.5\n2,\"bayes-aligned, by on\",0.25\n"), Float32Tolerance.EndToEnd));
        Assert.ThrowsAny<Exception>(() => GoldenCsv.AssertMatches(Write(Expected),
            Write("id,regime,value\n1,weak,0.5\n"), Float32Tolerance.EndToEnd));
    }

    [Fact]
    public void Float32Tolerance_ScalesWithTheQuantity()
    {
        Assert.Equal(64 * Float32Tolerance.Epsilon * 43, Float32Tolerance.Of(43, Float32Tolerance.Network), 15);
        Assert.Equal(Float32Tolerance.Of(-2, 16), Float32Tolerance.Of(2, 16));
        Assert.True(Float32Tolerance.Of(0, 16) > 0, "a zero scale must not demand exact equality");
    }
}
