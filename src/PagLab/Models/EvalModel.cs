using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Models;

/// <summary>
/// The model an eval-mode pass runs (PGD steps, evaluation, measurements): for PagLab's own networks with
/// batch norm a copy with every norm folded into its convolution (<see cref="IFoldable"/>), built from the
/// current parameters and running statistics and freed on Dispose; otherwise the model itself, put in eval
/// mode and given back in the mode it had. Imported TorchScript models are opaque and run unfolded. Never
/// for training passes: there batch norm normalises with the batch's statistics.
/// </summary>
public sealed class EvalModel : IDisposable
{
    private readonly Module<Tensor, Tensor> source;
    private readonly bool wasTraining, folded;

    private EvalModel(Module<Tensor, Tensor> source, Module<Tensor, Tensor> model, bool folded)
    {
        this.source = source;
        wasTraining = source.training;
        Model = model;
        this.folded = folded;
        if (!folded) source.eval();
    }

    /// <summary>What to call: the folded copy, or the model itself in eval mode.</summary>
    public Module<Tensor, Tensor> Model { get; }

    public static EvalModel For(Module<Tensor, Tensor> model)
    {
        if (!NormLayers.HasBatchNorm(model)) return new EvalModel(model, model, folded: false);
        var copy = model switch
        {
            ImageClassifier { Network: IFoldable network } classifier => Wrap(classifier, network.FoldedForEval()),
            IFoldable foldable => foldable.FoldedForEval(),
            _ => null,
        };
        if (copy is null) return new EvalModel(model, model, folded: false);
        copy.eval();
        return new EvalModel(model, copy, folded: true);
    }

    /// <summary>The folded network behind the classifier's own input normalisation, on its device and dtype.</summary>
    static ImageClassifier Wrap(ImageClassifier classifier, Module<Tensor, Tensor> network)
    {
        var copy = new ImageClassifier(classifier.Spec, network);
        // The folded weights keep the source's memory layout; its inputs must follow (MemoryFormat).
        if (classifier.ChannelsLast) copy.TakeChannelsLastInputs();
        var reference = classifier.parameters().First();
        if (reference.dtype != ScalarType.Float32 || reference.device_type != DeviceType.CPU)
            copy.to(reference.device, reference.dtype);
        return copy;
    }

    public void Dispose()
    {
        if (folded) Model.Dispose();
        else if (wasTraining) source.train();
    }
}
