using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Models;

/// <summary>
/// Two 3x3 conv blocks (32, 64 channels, each followed by 2x2 max-pool) and a 128-unit head:
/// the small CPU-friendly classifier for 28x28 and 56x28 data.
/// </summary>
public sealed class SmallCnn : Module<Tensor, Tensor>
{
    private readonly Module<Tensor, Tensor> features, classifier;

    public SmallCnn(ModelSpec spec) : base(nameof(SmallCnn))
    {
        features = Sequential(
            Conv2d(spec.Channels, 32, 3, padding: 1), Activations.Make(spec.Activation), MaxPool2d(2),
            Conv2d(32, 64, 3, padding: 1), Activations.Make(spec.Activation), MaxPool2d(2));
        long flat = 64L * (spec.Height / 4) * (spec.Width / 4);
        classifier = Sequential(Flatten(), Linear(flat, 128), Activations.Make(spec.Activation),
            Linear(128, spec.Classes));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var _ = NewDisposeScope();
        return classifier.call(features.call(x)).MoveToOuterDisposeScope(); // (B, classes)
    }
}

/// <summary>LeNet-5 style: conv 6@5x5, pool, conv 16@5x5, pool, 120, 84, classes.</summary>
public sealed class LeNet : Module<Tensor, Tensor>
{
    private readonly Module<Tensor, Tensor> features, classifier;

    public LeNet(ModelSpec spec) : base(nameof(LeNet))
    {
        features = Sequential(
            Conv2d(spec.Channels, 6, 5, padding: 2), Activations.Make(spec.Activation), MaxPool2d(2),
            Conv2d(6, 16, 5), Activations.Make(spec.Activation), MaxPool2d(2));
        long h = (spec.Height / 2 - 4) / 2, w = (spec.Width / 2 - 4) / 2;
        classifier = Sequential(Flatten(), Linear(16 * h * w, 120), Activations.Make(spec.Activation),
                                Linear(120, 84), Activations.Make(spec.Activation), Linear(84, spec.Classes));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var _ = NewDisposeScope();
        return classifier.call(features.call(x)).MoveToOuterDisposeScope();
    }
}

/// <summary>Fully connected: flatten, two hidden layers, classes. Linear = no hidden layer.</summary>
public sealed class Mlp : Module<Tensor, Tensor>
{
    private readonly Module<Tensor, Tensor> layers;

    public Mlp(ModelSpec spec, bool linear = false) : base(linear ? "Linear" : nameof(Mlp))
    {
        long inputs = spec.Shape.Pixels;
        layers = linear
            ? Sequential(Flatten(), Linear(inputs, spec.Classes))
            : Sequential(Flatten(), Linear(inputs, spec.Hidden), Activations.Make(spec.Activation),
                         Linear(spec.Hidden, spec.Hidden), Activations.Make(spec.Activation),
                         Linear(spec.Hidden, spec.Classes));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => layers.call(x);
}
