using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Metrics;

/// <summary>
/// The ImageNet feature extractors LPIPS taps (torchvision's <c>features</c> Sequential, same layer
/// indices, so parameter names are <c>features.N.weight</c>). <see cref="Taps"/> lists the layer
/// indices after which LPIPS reads a stage (the ends of the original's slice1..sliceL).
/// </summary>
public sealed class LpipsBackbone : Module<Tensor, Tensor[]>
{
    private readonly Sequential features;
    private readonly Module<Tensor, Tensor>[] layers;

    public LpipsNet Net { get; }
    public int[] Taps { get; }
    public int[] Channels { get; }

    /// <summary>Smallest image side the network accepts (its pooling layers need at least one output pixel), measured
    /// on the original.</summary>
    public int MinimumSide { get; }

    LpipsBackbone(LpipsNet net, (string, Module<Tensor, Tensor>)[] named, int[] taps, int[] channels,
        int minimumSide) : base(nameof(LpipsBackbone))
    {
        Net = net;
        layers = named.Select(n => n.Item2).ToArray();
        features = Sequential(named);
        Taps = taps;
        Channels = channels;
        MinimumSide = minimumSide;
        RegisterComponents();
    }

    public static LpipsBackbone Create(LpipsNet net) => net switch
    {
        LpipsNet.Squeeze => SqueezeNet11(),
        LpipsNet.Alex => AlexNet(),
        LpipsNet.Vgg => Vgg16(),
        _ => throw new ArgumentOutOfRangeException(nameof(net), net, "LPIPS network"),
    };

    /// <summary>Per-stage features, each (B, C_l, H_l, W_l).</summary>
    public override Tensor[] forward(Tensor x)
    {
        using var _ = NewDisposeScope();
        var outputs = new List<Tensor>();
        int next = 0;
        for (int i = 0; i <= Taps[^1]; i++)
        {
            x = layers[i].call(x);
            if (i == Taps[next]) { outputs.Add(x); next++; }
        }
        return outputs.Select(o => o.MoveToOuterDisposeScope()).ToArray();
    }

    static (string, Module<Tensor, Tensor>) L(int index, Module<Tensor, Tensor> m) =>
        (index.ToString(System.Globalization.CultureInfo.InvariantCulture), m);

    /// <summary>SqueezeNet 1.1 (Iandola et al. 2016; torchvision squeezenet1_1): max-pools use ceil_mode.</summary>
    static LpipsBackbone SqueezeNet11() => new(LpipsNet.Squeeze, new[]
    {
        L(0, Conv2d(3, 64, 3, stride: 2)), L(1, ReLU(inplace: true)), L(2, MaxPool2d(3, 2, ceil_mode: true)),
        L(3, new Fire(64, 16, 64)), L(4, new Fire(128, 16, 64)), L(5, MaxPool2d(3, 2, ceil_mode: true)),
        L(6, new Fire(128, 32, 128)), L(7, new Fire(256, 32, 128)), L(8, MaxPool2d(3, 2, ceil_mode: true)),
        L(9, new Fire(256, 48, 192)), L(10, new Fire(384, 48, 192)), L(11, new Fire(384, 64, 256)),
        L(12, new Fire(512, 64, 256)),
    }, taps: new[] { 1, 4, 7, 9, 10, 11, 12 }, channels: new[] { 64, 128, 256, 384, 384, 512, 512 }, minimumSide: 17);

    /// <summary>AlexNet (Krizhevsky et al. 2012; torchvision alexnet) up to its fifth ReLU.</summary>
    static LpipsBackbone AlexNet() => new(LpipsNet.Alex, new[]
    {
        L(0, Conv2d(3, 64, 11, stride: 4, padding: 2)), L(1, ReLU(inplace: true)), L(2, MaxPool2d(3, 2)),
        L(3, Conv2d(64, 192, 5, padding: 2)), L(4, ReLU(inplace: true)), L(5, MaxPool2d(3, 2)),
        L(6, Conv2d(192, 384, 3, padding: 1)), L(7, ReLU(inplace: true)),
        L(8, Conv2d(384, 256, 3, padding: 1)), L(9, ReLU(inplace: true)),
        L(10, Conv2d(256, 256, 3, padding: 1)), L(11, ReLU(inplace: true)),
    }, taps: new[] { 1, 4, 7, 9, 11 }, channels: new[] { 64, 192, 384, 256, 256 }, minimumSide: 31);

    /// <summary>VGG-16 (Simonyan and Zisserman 2015; torchvision vgg16, configuration D) up to relu5_3.</summary>
    static LpipsBackbone Vgg16()
    {
        var named = new List<(string, Module<Tensor, Tensor>)>();
        int inChannels = 3, index = 0;
        // 0 = max-pool
        foreach (int width in new[] { 64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512 })
        {
            if (width == 0) { named.Add(L(index++, MaxPool2d(2, 2))); continue; }
            named.Add(L(index++, Conv2d(inChannels, width, 3, padding: 1)));
            named.Add(L(index++, ReLU(inplace: true)));
            inChannels = width;
        }
        return new(LpipsNet.Vgg, named.ToArray(), taps: new[] { 3, 8, 15, 22, 29 },
            channels: new[] { 64, 128, 256, 512, 512 }, minimumSide: 16);
    }
}

/// <summary>SqueezeNet's Fire module: 1x1 squeeze, then 1x1 and 3x3 expands concatenated, each followed by
/// ReLU.</summary>
public sealed class Fire : Module<Tensor, Tensor>
{
    private readonly Conv2d squeeze, expand1x1, expand3x3;

    public Fire(int inChannels, int squeezeChannels, int expandChannels) : base(nameof(Fire))
    {
        squeeze = Conv2d(inChannels, squeezeChannels, 1);
        expand1x1 = Conv2d(squeezeChannels, expandChannels, 1);
        expand3x3 = Conv2d(squeezeChannels, expandChannels, 3, padding: 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var _ = NewDisposeScope();
        // In place, as torchvision's: a convolution's backward needs its input, not its output, so the ReLU may
        // overwrite it, and each saves an allocation of the activation's size.
        var s = squeeze.call(x).relu_();
        var expanded = new[] { expand1x1.call(s).relu_(), expand3x3.call(s).relu_() };
        return cat(expanded, 1).MoveToOuterDisposeScope();
    }
}
