using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Models;

/// <summary>
/// ResNet-18 in the CIFAR layout the PAGs authors use (He et al. 2016; the common CIFAR variant):
/// 3x3 stem with stride 1 and no max-pool, four stages of two BasicBlocks (64, 128, 256, 512
/// channels times the width multiplier), global average pool, linear. Field names follow the
/// PyTorch parameter names (conv1, bn1, layer1.0.conv1, ..., shortcut.0, linear).
/// </summary>
public sealed partial class ResNet18 : Module<Tensor, Tensor>
{
    private readonly Module<Tensor, Tensor> conv1, bn1;    // a folded convolution and Identity in FoldedForEval
    private readonly Module<Tensor, Tensor> act;
    private readonly Sequential layer1, layer2, layer3, layer4;
    private readonly Module<Tensor, Tensor> linear;

    public ResNet18(ModelSpec spec) : base(nameof(ResNet18))
    {
        int w = Math.Max(1, (int)Math.Round(64 * spec.WidthMultiplier));
        conv1 = Conv2d(spec.Channels, w, 3, stride: 1, padding: 1, bias: false);
        bn1 = BatchNorm2d(w);
        act = Activations.Make(spec.Activation);
        int inPlanes = w;
        Sequential Stage(int planes, int stride)
        {
            var first = new BasicBlock(inPlanes, planes, stride, spec.Activation);
            inPlanes = planes;
            return Sequential(first, new BasicBlock(planes, planes, 1, spec.Activation));
        }
        layer1 = Stage(w, 1);
        layer2 = Stage(2 * w, 2);
        layer3 = Stage(4 * w, 2);
        layer4 = Stage(8 * w, 2);
        linear = Linear(8 * w, spec.Classes);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var _ = NewDisposeScope();
        var h = act.call(bn1.call(conv1.call(x)));                  // (B, w, H, W)
        h = layer4.call(layer3.call(layer2.call(layer1.call(h))));   // (B, 8w, H/8, W/8)
        h = functional.adaptive_avg_pool2d(h, 1).flatten(1);         // (B, 8w)
        return linear.call(h).MoveToOuterDisposeScope();
    }
}

/// <summary>Two 3x3 conv + BN; a 1x1 conv + BN shortcut when the shape changes.</summary>
public sealed partial class BasicBlock : Module<Tensor, Tensor>
{
    private readonly Module<Tensor, Tensor> conv1, conv2, bn1, bn2;
    private readonly Sequential shortcut;
    private readonly Module<Tensor, Tensor> act1, act2;

    public BasicBlock(int inPlanes, int planes, int stride, string activation) : base(nameof(BasicBlock))
    {
        conv1 = Conv2d(inPlanes, planes, 3, stride: stride, padding: 1, bias: false);
        bn1 = BatchNorm2d(planes);
        conv2 = Conv2d(planes, planes, 3, stride: 1, padding: 1, bias: false);
        bn2 = BatchNorm2d(planes);
        shortcut = stride != 1 || inPlanes != planes
            ? Sequential(Conv2d(inPlanes, planes, 1, stride: stride, bias: false), BatchNorm2d(planes))
            : Sequential();
        act1 = Activations.Make(activation);
        act2 = Activations.Make(activation);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var _ = NewDisposeScope();
        var h = act1.call(bn1.call(conv1.call(x)));
        h = bn2.call(conv2.call(h));
        return act2.call(h + shortcut.call(x)).MoveToOuterDisposeScope();
    }
}
