using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Models;

/// <summary>
/// A network that can give an eval-only copy of itself with every batch norm folded into the convolution
/// before it (<see cref="BatchNormFolding"/>). The copy computes what the network computes in eval mode,
/// shares no tensor with it and has no parameters: input gradients only, never training.
/// </summary>
public interface IFoldable
{
    Module<Tensor, Tensor> FoldedForEval();
}

/// <summary>
/// In eval mode batch norm is the fixed affine map y = gamma (x - mean) / sqrt(var + eps) + beta per channel
/// (Ioffe &amp; Szegedy 2015, Section 3.1), so a convolution followed by it is one convolution with
/// W' = W s and b' = (b - mean) s + beta, s = gamma / sqrt(var + eps) per output channel: one pass over the
/// activations less, forward and backward. Folds read the current parameters and running statistics, draw
/// no random numbers and copy everything, so the training model is never touched.
/// </summary>
public static class BatchNormFolding
{
    /// <summary>conv then norm (eval mode) as one convolution; an already folded pair (norm = Identity) is
    /// copied.</summary>
    public static FoldedConv2d Fold(Module<Tensor, Tensor> conv, Module<Tensor, Tensor> norm)
    {
        using var _ = no_grad();
        if (conv is FoldedConv2d done && norm is Identity) return done.Copy();
        if (conv is not Conv2d c || norm is not BatchNorm2d bn)
            throw new Common.PagLabException($"cannot fold {conv.GetName()} followed by {norm.GetName()}: "
                + "only a Conv2d followed by a BatchNorm2d folds");
        if (c.padding_mode != PaddingModes.Zeros || c.padding is null)
            throw new Common.PagLabException("cannot fold a convolution without explicit zero padding");
        if (bn.running_mean is null || bn.running_var is null)
            throw new Common.PagLabException("cannot fold a batch norm without running statistics (it normalises "
                + "with the batch's statistics even in eval mode)");
        using var scope = NewDisposeScope();
        var mean = bn.running_mean; var variance = bn.running_var;
        var s = (variance + bn.eps).rsqrt();                                        // (O)
        if (bn.affine) s = s * bn.weight;
        var weight = c.weight * s.view(-1, 1, 1, 1);                                 // (O, I/groups, kH, kW)
        var bias = c.bias is null ? -mean * s : (c.bias - mean) * s;                 // (O)
        if (bn.affine) bias = bias + bn.bias!;
        return new FoldedConv2d(weight, bias, c.stride, c.padding, c.dilation, c.groups);    // W's layout kept
    }

    /// <summary>
    /// An eval-only copy of a module without batch norm: an activation of the same kind and settings, or a
    /// linear layer as a parameter-free <see cref="FrozenLinear"/> (a folded network owns every module it holds).
    /// </summary>
    public static Module<Tensor, Tensor> Copy(Module<Tensor, Tensor> module)
    {
        using var _ = no_grad();
        return module switch
        {
            TorchSharp.Modules.ReLU => ReLU(),
            TorchSharp.Modules.Softplus s => Softplus(s.beta, s.threshold),
            Linear l => new FrozenLinear(l.weight.clone(), l.bias?.clone()),
            FrozenLinear f => f.Copy(),
            _ => throw new Common.PagLabException($"cannot copy {module.GetName()} into a folded model"),
        };
    }
}

/// <summary>A convolution with fixed weight and bias (never trained): the result of a fold. It owns the tensors
/// it is given, which must carry no gradient history (made under no_grad).</summary>
public sealed class FoldedConv2d : Module<Tensor, Tensor>
{
    private readonly Tensor weight, bias;
    private readonly long[] stride, padding, dilation;
    private readonly long groups;

    public FoldedConv2d(Tensor weight, Tensor bias, long[] stride, long[] padding, long[] dilation, long groups)
        : base(nameof(FoldedConv2d))
    {
        this.weight = weight.DetachFromDisposeScope();
        this.bias = bias.DetachFromDisposeScope();
        this.stride = stride; this.padding = padding; this.dilation = dilation; this.groups = groups;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) =>
        functional.conv2d(x, weight, bias, stride, padding, dilation, groups);

    public FoldedConv2d Copy()
    {
        using var _ = no_grad();
        return new(weight.clone(), bias.clone(), stride, padding, dilation, groups);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) { weight.Dispose(); bias.Dispose(); }
        base.Dispose(disposing);
    }
}

/// <summary>x W^T + b with fixed W and b (never trained); owns them, as <see cref="FoldedConv2d"/> does.</summary>
public sealed class FrozenLinear : Module<Tensor, Tensor>
{
    private readonly Tensor weight;
    private readonly Tensor? bias;

    public FrozenLinear(Tensor weight, Tensor? bias) : base(nameof(FrozenLinear))
    {
        this.weight = weight.DetachFromDisposeScope();
        this.bias = bias?.DetachFromDisposeScope();
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => functional.linear(x, weight, bias);

    public FrozenLinear Copy()
    {
        using var _ = no_grad();
        return new(weight.clone(), bias?.clone());
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) { weight.Dispose(); bias?.Dispose(); }
        base.Dispose(disposing);
    }
}
