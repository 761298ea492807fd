using PagLab.Common;

namespace PagLab.Models;

/// <summary>
/// Which scalar of a classifier is differentiated (PAGs, Section 3.1: "one of the C output classes"): the sum
/// of the logits (compared with an unconditional score), the predicted class or the label (compared with a
/// score conditioned on that class).
/// </summary>
public enum GradientMode
{
    [Name("sum", "the sum over the classes' logits; pairs with an unconditional score")] Sum,
    [Name("predicted", "the model's predicted class")] Predicted,
    [Name("label", "the true label")] Label,
}
