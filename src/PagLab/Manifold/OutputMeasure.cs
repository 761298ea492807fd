using PagLab.Common;
using static TorchSharp.torch;

namespace PagLab.Manifold;

/// <summary>Which model outputs an output change is taken over.</summary>
public enum OutputKind { Logits, Probabilities }

/// <summary>
/// The change of a model's output ||f(x) - f(x')||_p per image. The paper's f maps onto the
/// probability simplex (PAGs, Notation, Section 2), so the default is the softmax output, in the
/// L1 norm the authors' plots use; the paper's text (Section 4) writes L2, also selectable. Logits
/// stay available: their scale shrinks under gradient-norm and smoothing penalties for reasons
/// unrelated to the manifold, so on- and off-manifold changes both fall with it.
/// Names: softmax-l1 (default), softmax-l2, logits-l1, logits-l2.
/// </summary>
public sealed record OutputMeasure(OutputKind Outputs, int Norm)
{
    public static readonly OutputMeasure Default = new(OutputKind.Probabilities, 1);

    public string Name => $"{(Outputs == OutputKind.Probabilities ? "softmax" : "logits")}-l{Norm}";

    public override string ToString() => Name;

    /// <summary>Reads a name; `what` is the option or key the user wrote, for the message.</summary>
    public static OutputMeasure Parse(string name, string what)
    {
        string[] parts = name.Trim().ToLowerInvariant().Split('-');
        OutputKind? kind = parts[0] switch
        {
            "softmax" or "probabilities" => OutputKind.Probabilities, "logits" => OutputKind.Logits, _ => null,
        };
        int? norm = parts.Length == 2 ? parts[1] switch { "l1" => 1, "l2" => 2, _ => null } : null;
        if (kind is null || norm is null)
            throw new PagLabException($"{what} must be softmax-l1, softmax-l2, logits-l1 or logits-l2, got '{name}'");
        return new OutputMeasure(kind.Value, norm.Value);
    }

    /// <summary>The model's outputs (N, C): softmax probabilities or logits.</summary>
    public Tensor Of(Func<Tensor, Tensor> model, Tensor x) => ManifoldRobustness.Outputs(model, x, Outputs);

    /// <summary>||a - b||_p over the last dimension: (..., C) -> (...).</summary>
    public Tensor Change(Tensor a, Tensor b) => (a - b).norm(-1, false, Norm);
}
