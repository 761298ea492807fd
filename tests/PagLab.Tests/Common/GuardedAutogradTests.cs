using PagLab.Common;
using static TorchSharp.torch;

namespace PagLab.Tests.Common;

/// <summary>The in-process guard on autograd.grad: TorchSharp's native grad call aborts the process on a
/// c10::Error, so the two causes PagLab can see are refused before libtorch runs (issue 21.2).</summary>
public class GuardedAutogradTests
{
    [Fact]
    public void Grad_OfAnOutputThatDoesNotRequireGrad_IsAOneLineError_NotAnAbort()
    {
        using var x = rand(3, 4).requires_grad_(true);
        using var y = x.detach().sum();
        var e = Assert.Throws<PagLabException>(() => GuardedAutograd.Grad(new[] { y }, new[] { x }));
        Assert.Contains("has no gradient path to the input", e.Message);
    }

    [Fact]
    public void Grad_ByAnInputTheOutputDoesNotUse_IsAOneLineError_NotAnAbort()
    {
        using var x = rand(3, 4).requires_grad_(true);
        using var w = rand(3, 4).requires_grad_(true);
        using var y = (w * 2).sum();
        var e = Assert.Throws<PagLabException>(() => GuardedAutograd.Grad(new[] { y }, new[] { x }));
        Assert.Contains("does not depend on the input", e.Message);
    }

    [Fact]
    public void Grad_OfAQuadratic_IsItsClosedForm_AndDoubleBackpropStillWorks()
    {
        using var x = tensor(new[] { 1f, -2f, 3f }).requires_grad_(true);
        using var y = x.pow(3).sum();                                               // dy/dx = 3 x^2
        var g = GuardedAutograd.Grad(new[] { y }, new[] { x }, createGraph: true)[0];
        Assert.Equal(new[] { 3f, 12f, 27f }, g.data<float>().ToArray());
        var h = GuardedAutograd.Grad(new[] { g.sum() }, new[] { x })[0];           // d/dx sum 3 x^2 = 6 x
        Assert.Equal(new[] { 6f, -12f, 18f }, h.data<float>().ToArray());
    }
}
