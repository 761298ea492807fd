using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Tests.Build;

[Trait("Category", "Numeric")]
public class TorchLoadsTests
{
    [Fact]
    public void Torch_Loads_AndDoubleBackpropMatchesClosedForm()
    {
        // f(x) = sum(x^3); g = df/dx = 3x^2; d/dx sum(g^2) = 36 x^3.
        using var x = torch.tensor(new float[] { 0.5f, -1f, 2f }).requires_grad_();
        using var f = x.pow(3).sum();
        var g = torch.autograd.grad(new[] { f }, new[] { x }, create_graph: true, retain_graph: true)[0];
        using var penalty = g.pow(2).sum();
        var h = torch.autograd.grad(new[] { penalty }, new[] { x })[0];
        var expected = new float[] { 36 * 0.125f, -36f, 36 * 8f };
        double tolerance = Float32Tolerance.Of(expected.Max(Math.Abs), Float32Tolerance.SecondOrder);
        Assert.Equal(expected, h.data<float>().ToArray(), (a, b) => Math.Abs(a - b) <= tolerance);
    }
}
