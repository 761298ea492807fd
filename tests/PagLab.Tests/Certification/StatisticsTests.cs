using PagLab.Certification;

namespace PagLab.Tests.Certification;

public class StatisticsTests
{
    [Theory]
    [InlineData(0.5, 0.0)]
    [InlineData(0.975, 1.959963984540054)]
    [InlineData(0.999, 3.090232306167813)]
    [InlineData(0.01, -2.326347874040841)]
    public void NormalQuantile_MatchesTables(double p, double z) => Assert.Equal(z, Statistics.NormalQuantile(p), 9);

    [Fact]
    public void ClopperPearsonLower_MatchesClosedForms()
    {
        // k = n: the bound solves p^n = alpha, so p = alpha^(1/n).
        Assert.Equal(Math.Pow(0.001, 1.0 / 100), Statistics.ClopperPearsonLower(100, 100, 0.001), 9);
        // k = 1: Beta(1, n) quantile solves 1 - (1 - p)^n = alpha.
        Assert.Equal(1 - Math.Pow(1 - 0.05, 1.0 / 20), Statistics.ClopperPearsonLower(1, 20, 0.05), 9);
        Assert.Equal(0, Statistics.ClopperPearsonLower(0, 50, 0.05));
    }

    [Fact]
    public void ClopperPearsonLower_IsTheAlphaTailOfTheBinomial()
    {
        // At the bound p, P(X >= k | n, p) = alpha.
        int n = 60, k = 41; double alpha = 0.01;
        double p = Statistics.ClopperPearsonLower(k, n, alpha);
        double tail = 0;
        for (int j = k; j <= n; j++) tail += Math.Exp(Statistics.LogGamma(n + 1) - Statistics.LogGamma(j + 1)
            - Statistics.LogGamma(n - j + 1) + j * Math.Log(p) + (n - j) * Math.Log(1 - p));
        Assert.Equal(alpha, tail, 7);
    }
}
