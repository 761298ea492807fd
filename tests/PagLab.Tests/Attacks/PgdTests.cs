using PagLab.Attacks;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Tests.Attacks;

public class PgdTests
{
    static Module<Tensor, Tensor> Model()
    {
        torch.manual_seed(4);
        return Sequential(Flatten(), Linear(64, 16), ReLU(), Linear(16, 5));
    }

    [Theory]
    [InlineData(AttackNorm.L2)]
    [InlineData(AttackNorm.Linf)]
    public void EveryIterate_StaysInsideEachExamplesBall_AndInUnitRange(AttackNorm norm)
    {
        var model = Model();
        var x = rand(6, 1, 8, 8);
        var y = tensor(new long[] { 0, 1, 2, 3, 4, 0 });
        var eps = tensor(new[] { 0.1f, 0.5f, 1f, 2f, 0.05f, 3f });
        for (int steps = 1; steps <= 6; steps++)
        {
            var adv = Pgd.Attack(model, x, y, eps, new PgdConfig { Norm = norm, Steps = steps, AlphaFactor = 2.5,
                RandomStart = steps % 2 == 0 });
            var delta = (adv - x).flatten(1);
            var size = norm == AttackNorm.L2 ? delta.norm(1) : delta.abs().amax(new long[] { 1 });
            Assert.True((size <= eps + 1e-5).all().item<bool>(),
                $"budget exceeded after {steps} steps: {string.Join(",", size.data<float>().ToArray())}");
            Assert.True(adv.min().item<float>() >= 0 && adv.max().item<float>() <= 1);
        }
    }

    [Theory]
    [InlineData(AttackNorm.L2)]
    [InlineData(AttackNorm.Linf)]
    public void Attack_IncreasesTheLossOfEveryExample(AttackNorm norm)
    {
        var model = Model();
        var x = rand(8, 1, 8, 8) * 0.5 + 0.25;
        var y = tensor(new long[] { 0, 1, 2, 3, 4, 0, 1, 2 });
        var adv = Pgd.Attack(model, x, y, tensor(0.3f), new PgdConfig { Norm = norm, Steps = 10 });
        using var _ = no_grad();
        var before = functional.cross_entropy(model.call(x), y, reduction: Reduction.None);
        var after = functional.cross_entropy(model.call(adv), y, reduction: Reduction.None);
        Assert.True((after >= before - 1e-6).all().item<bool>());
        Assert.True(after.mean().item<float>() > before.mean().item<float>());
    }

    [Fact]
    public void L2Project_ShrinksOnlyExamplesOutsideTheBall()
    {
        var step = new L2Step();
        var x0 = full(new long[] { 2, 1, 2, 2 }, 0.5f);
        var x = x0 + tensor(new float[] { 0.1f, 0, 0, 0, 0.4f, 0, 0, 0 }).reshape(2, 1, 2, 2);
        var projected = step.Project(x, x0, PerExample.Broadcastable(tensor(0.2f), x0));
        Assert.Equal(0.6f, projected[0, 0, 0, 0].item<float>(), 5);  // inside: unchanged
        Assert.Equal(0.7f, projected[1, 0, 0, 0].item<float>(), 5);  // outside: pulled to norm 0.2
    }
}
