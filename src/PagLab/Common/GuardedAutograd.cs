using static TorchSharp.torch;

namespace PagLab.Common;

/// <summary>
/// torch.autograd.grad without the process abort: TorchSharp 0.107's native THSAutograd_grad has no
/// try/catch, so a c10::Error inside it ("element 0 of tensors does not require grad", "appears to not have
/// been used in the graph") ends the process with SIGABRT. Those two causes are checked here first and become
/// one-line errors; an error raised inside a backward function itself can still abort, which is why imported
/// code runs its first backward in a child process (<see cref="Probe.ProbeProcess"/>).
/// </summary>
public static class GuardedAutograd
{
    public static IList<Tensor> Grad(IList<Tensor> outputs, IList<Tensor> inputs, IList<Tensor>? gradOutputs = null,
        bool retainGraph = false, bool createGraph = false)
    {
        foreach (var output in outputs)
            if (!output.requires_grad)
                throw new PagLabException("the output has no gradient path to the input (it does not require grad: "
                    + "a detach(), argmax, one-hot or integer output inside the model?)");
        var grads = autograd.grad(outputs, inputs, gradOutputs, retain_graph: retainGraph,
            create_graph: createGraph, allow_unused: true);
        if (grads.Any(g => g is null || g.IsInvalid))
            throw new PagLabException("the output does not depend on the input (no gradient path: a detach() or a "
                + "constant output inside the model?)");
        return grads;
    }
}
