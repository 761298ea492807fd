using PagLab.Common;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Models;

/// <summary>
/// A classifier on pixels in [0,1]: optional per-channel normalisation, then the network.
/// Parameter names are "net.&lt;pytorch name&gt;" (and "normalize.mean/std" buffers).
/// </summary>
public sealed class ImageClassifier : Module<Tensor, Tensor>
{
    private readonly Module<Tensor, Tensor>? normalize;
    private readonly Module<Tensor, Tensor> net;

    public ImageClassifier(ModelSpec spec, Module<Tensor, Tensor> network) : base(nameof(ImageClassifier))
    {
        Spec = spec;
        if (spec.InputTransform() is { } input) normalize = new Normalize(input.Mean, input.Std);
        net = network;
        RegisterComponents();
    }

    public ModelSpec Spec { get; }

    /// <summary>The network without normalisation (for importing and exporting PyTorch weights).</summary>
    public Module<Tensor, Tensor> Network => net;

    /// <summary>Whether the convolutions run in NHWC memory (<see cref="ToChannelsLast"/>).</summary>
    public bool ChannelsLast { get; private set; }

    /// <summary>
    /// Convolution weights to NHWC memory in place, and inputs at this forward's entry from then on: the whole
    /// network then runs channels-last. Outputs are equal to the NCHW model's to float rounding; a model without
    /// convolutions (mlp, linear, an imported TorchScript network) is left as it is. Saved files stay NCHW.
    /// </summary>
    public ImageClassifier ToChannelsLast()
    {
        ChannelsLast |= MemoryFormat.ConvertConvolutions(net);
        return this;
    }

    /// <summary>Inputs to NHWC at this forward's entry, for a network whose weights are NHWC already (a folded
    /// copy of a channels-last model).</summary>
    internal void TakeChannelsLastInputs() => ChannelsLast = true;

    public override Tensor forward(Tensor x) // (B, C, H, W) in [0,1] -> (B, classes) logits
    {
        if (normalize is null && !ChannelsLast && !Spec.Adapts) return net.call(x);
        using var _ = NewDisposeScope();
        x = Adapt(x);
        if (ChannelsLast) x = MemoryFormat.ChannelsLast(x);
        return net.call(normalize is null ? x : normalize.call(x)).MoveToOuterDisposeScope();
    }

    /// <summary>The dataset's image as the network takes it (<see cref="ModelSpec.GreyToRgb"/>,
    /// <see cref="ModelSpec.Resize"/>); both are differentiable, so gradients reach the dataset's pixels.</summary>
    Tensor Adapt(Tensor x)
    {
        if (Spec.GreyToRgb) x = x.expand(-1, 3, -1, -1);                    // (B, 3, H, W)
        if (Spec.Resize is [int h, int w])
            x = nn.functional.interpolate(x, new long[] { h, w }, mode: InterpolationMode.Bilinear,
                align_corners: false);                                      // (B, C, h, w)
        return x;
    }
}

/// <summary>The classifier networks, by the name model.json, specs and `--arch` spell.</summary>
public enum Architecture
{
    [Name("resnet18", "ResNet-18 (He et al. 2016), CIFAR stem, width scaled by widthMultiplier")] ResNet18,
    [Name("lenet", "LeNet-5-like convolutional network")] LeNet,
    [Name("smallcnn", "small convolutional network")] SmallCnn,
    [Name("mlp", "multilayer perceptron (hidden width `hidden`)")] Mlp,
    [Name("linear", "one linear layer")] Linear,
    [Name("torchscript", "an imported TorchScript network, loaded from its folder (never trained here)")]
    TorchScript,
}

public static class ModelFactory
{
    /// <summary>The architectures PagLab builds and trains: all but an imported TorchScript network.</summary>
    public static readonly IReadOnlyList<Architecture> Architectures =
        Vocabulary.All<Architecture>().Where(a => a != Architecture.TorchScript).ToArray();

    /// <summary>The arch of an imported TorchScript network: loaded from its folder, never built here.</summary>
    public const Architecture TorchScriptArch = Architecture.TorchScript;

    /// <summary>Builds a freshly initialised model; seed makes the initialisation reproducible.</summary>
    public static ImageClassifier Create(ModelSpec spec, long? seed = null)
    {
        spec.Validate();
        if (seed is long s) torch.manual_seed(s);
        Module<Tensor, Tensor> network = spec.Arch switch
        {
            Architecture.ResNet18 => new ResNet18(spec),
            Architecture.LeNet => new LeNet(spec),
            Architecture.SmallCnn => new SmallCnn(spec),
            Architecture.Mlp => new Mlp(spec),
            Architecture.Linear => new Mlp(spec, linear: true),
            Architecture.TorchScript =>
                throw new PagLabException("a TorchScript model is loaded from its model folder, not built "
                + "from a spec"),
            _ => throw new ArgumentOutOfRangeException(nameof(spec), spec.Arch, "architecture"),
        };
        return new ImageClassifier(spec, network);
    }
}
