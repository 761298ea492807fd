using PagLab.Common;
using static TorchSharp.torch;

namespace PagLab.Manifold;

/// <summary>Which model outputs an output change is taken over.</summary>
public enum OutputKind { Logits, Probabilities }

/// <summary>The output changes a measurement can take, by the name specs, results and reports spell.</summary>
public enum OutputChange
{
    [Name("softmax-l1", "L1 change of the softmax output (the authors' plots)")] SoftmaxL1,
    [Name("softmax-l2", "L2 change of the softmax output (the paper's Section 4)")] SoftmaxL2,
    [Name("logits-l1", "L1 change of the logits")] LogitsL1,
    [Name("logits-l2", "L2 change of the logits")] LogitsL2,
}

/// <summary>
/// The change of a model's output ||f(x) - f(x')||_p per image. The paper's f maps onto the
/// probability simplex (PAGs, Notation, Section 2), so the default is the softmax output, in the
/// L1 norm the authors' plots use; the paper's text (Section 4) writes L2, also selectable. Logits
/// stay available: their scale shrinks under gradient-norm and smoothing penalties for reasons
/// unrelated to the manifold, so on- and off-manifold changes both fall with it.
/// </summary>
public sealed record OutputMeasure(OutputChange Kind)
{
    public static readonly OutputMeasure Default = new(OutputChange.SoftmaxL1);

    public OutputMeasure(OutputKind outputs, int norm) : this((outputs, norm) switch
    {
        (OutputKind.Probabilities, 1) => OutputChange.SoftmaxL1,
        (OutputKind.Probabilities, 2) => OutputChange.SoftmaxL2,
        (OutputKind.Logits, 1) => OutputChange.LogitsL1,
        (OutputKind.Logits, 2) => OutputChange.LogitsL2,
        _ => throw new ArgumentOutOfRangeException(nameof(norm), norm, "output change norm (1 or 2)"),
    }) { }

    public OutputKind Outputs =>
        Kind is OutputChange.SoftmaxL1 or OutputChange.SoftmaxL2 ? OutputKind.Probabilities : OutputKind.Logits;

    public int Norm => Kind is OutputChange.SoftmaxL1 or OutputChange.LogitsL1 ? 1 : 2;

    public string Name => Vocabulary.Name(Kind);

    public override string ToString() => Name;

    /// <summary>The measure of the command line's --outputs (softmax | logits) and --norm (l1 | l2).</summary>
    public static OutputMeasure FromOptions(string outputs, string norm) =>
        new(Vocabulary.Parse<OutputChange>($"{outputs}-{norm}", "--outputs/--norm"));

    /// <summary>The model's outputs (N, C): softmax probabilities or logits.</summary>
    public Tensor Of(Func<Tensor, Tensor> model, Tensor x) => ManifoldRobustness.Outputs(model, x, Outputs);

    /// <summary>||a - b||_p over the last dimension: (..., C) -> (...).</summary>
    public Tensor Change(Tensor a, Tensor b) => (a - b).norm(-1, false, Norm);
}
