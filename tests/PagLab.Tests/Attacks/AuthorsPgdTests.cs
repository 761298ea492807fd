using PagLab.Attacks;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Tests.Attacks;

/// <summary>The PAGs authors' PGD (pgd_l2_): one L2 norm over the whole batch, uniform start, step 2 eps / 10, no
/// clamping.</summary>
[Trait("Category", "Numeric")]
public class AuthorsPgdTests
{
    [Fact]
    public void Project_ScalesTheWholeBatchToItsLargestEpsilon_WithoutClampingToUnitRange()
    {
        var x0 = full(2, 1, 2, 2, 0.9f);
        var eps = PerExample.Broadcastable(tensor(new[] { 1f, 2f }), x0);
        var projected = new WholeBatchL2Step().Project(x0 + 1, x0, eps);           // batch delta norm sqrt(8) > 2
        Assert.Equal(2.0, (projected - x0).norm().item<float>(), 5);
        Assert.Equal(0.9 + 2 / Math.Sqrt(8), projected.max().item<float>(), 5);      // 1.607: not clamped to 1
        var inside = new WholeBatchL2Step().Project(x0 + 0.1f, x0, eps);            // batch delta norm 0.28: unchanged
        Float32Tolerance.AssertClose(inside, x0 + 0.1f, Float32Tolerance.Op, "a step inside the ball");
    }

    [Fact]
    public void RandomStart_IsAUniformDrawWithBatchNormHalfEpsilon()
    {
        var x0 = zeros(4, 3, 5, 5);
        using var generator = new Generator(1, device: CPU);
        var start = new WholeBatchL2Step().RandomPerturb(x0, PerExample.Broadcastable(tensor(3f), x0), generator);
        Assert.Equal(1.5, start.norm().item<float>(), 4);
        Assert.True((start >= 0).all().item<bool>());
    }

    [Fact]
    public void AuthorsVariant_StepsTwoEpsilonOverTen_AndEndsOnTheBatchBall()
    {
        torch.manual_seed(5);
        var model = Sequential(Flatten(), Linear(16, 3));
        var x = rand(5, 1, 4, 4);
        var y = tensor(new long[] { 0, 1, 2, 0, 1 });
        var eps = tensor(0.5f);
        Assert.Equal(2.0, PgdConfig.Authors.AlphaFactor);
        Assert.Equal(10, PgdConfig.Authors.Steps);
        var oneStep = Pgd.Attack(model, x, y, eps, PgdConfig.Authors with { RandomStart = false, Steps = 1,
            AlphaFactor = 0.2 });
        // alpha = 0.2 eps / 1 step, batch-normalised
        Assert.Equal(0.1, (oneStep - x).norm().item<float>(), 5);
        using var generator = new Generator(2, device: CPU);
        var adv = Pgd.Attack(model, x, y, eps, PgdConfig.Authors, generator);
        // 10 steps of 0.1 reach the boundary
        Assert.Equal(0.5, (adv - x).norm().item<float>(), 4);
    }
}
