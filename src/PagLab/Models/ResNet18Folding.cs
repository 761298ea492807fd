using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Models;

// The eval-only ResNet-18: the same forward over folded convolutions, Identity where the batch norms were.
public sealed partial class ResNet18 : IFoldable
{
    private ResNet18(Module<Tensor, Tensor> conv1, Module<Tensor, Tensor> act, Sequential[] layers,
        Module<Tensor, Tensor> linear) : base(nameof(ResNet18))
    {
        (this.conv1, bn1, this.act, this.linear) = (conv1, Identity(), act, linear);
        (layer1, layer2, layer3, layer4) = (layers[0], layers[1], layers[2], layers[3]);
        RegisterComponents();
    }

    public Module<Tensor, Tensor> FoldedForEval()
    {
        var stages = new[] { layer1, layer2, layer3, layer4 }
            .Select(stage => Sequential(stage.children().Select(block => ((BasicBlock)block).FoldedForEval())))
            .ToArray();
        return new ResNet18(BatchNormFolding.Fold(conv1, bn1), BatchNormFolding.Copy(act), stages,
            BatchNormFolding.Copy(linear));
    }
}

public sealed partial class BasicBlock
{
    private BasicBlock(Module<Tensor, Tensor> conv1, Module<Tensor, Tensor> conv2, Sequential shortcut,
        Module<Tensor, Tensor> act1, Module<Tensor, Tensor> act2) : base(nameof(BasicBlock))
    {
        (this.conv1, this.conv2, this.shortcut, this.act1, this.act2) = (conv1, conv2, shortcut, act1, act2);
        (bn1, bn2) = (Identity(), Identity());
        RegisterComponents();
    }

    /// <summary>This block with conv1+bn1, conv2+bn2 and the shortcut's conv+bn each folded into one convolution
    /// (the shortcut keeps its (conv, norm) shape, the norm as Identity).</summary>
    public Module<Tensor, Tensor> FoldedForEval()
    {
        var parts = shortcut.children().Cast<Module<Tensor, Tensor>>().ToArray();    // () or (conv, norm)
        var folded = parts.Length == 0
            ? Sequential() : Sequential(BatchNormFolding.Fold(parts[0], parts[1]), Identity());
        return new BasicBlock(BatchNormFolding.Fold(conv1, bn1), BatchNormFolding.Fold(conv2, bn2), folded,
            BatchNormFolding.Copy(act1), BatchNormFolding.Copy(act2));
    }
}
