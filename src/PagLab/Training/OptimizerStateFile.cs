using PagLab.Common;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PagLab.Training;

/// <summary>
/// Saves and restores an optimiser's state whatever its tensors' memory layout. Adam's moments and SGD's
/// momentum buffer take their parameter's strides (channels-last convolution weights give NHWC state), but
/// TorchSharp reads and writes state tensors as raw bytes and refuses non-contiguous ones. So the state goes
/// to the file contiguous, and comes back in its parameter's layout; the file is the same as an NCHW run's.
/// </summary>
public static class OptimizerStateFile
{
    public static void Save(OptimizerHelper optimizer, BinaryWriter writer)
    {
        ToContiguous(optimizer);
        try { optimizer.save_state_dict(writer); }
        finally { ToParameterLayouts(optimizer); }
    }

    public static void Load(OptimizerHelper optimizer, BinaryReader reader)
    {
        ToContiguous(optimizer);
        try { optimizer.load_state_dict(reader); }
        finally { ToParameterLayouts(optimizer); }
    }

    static void ToContiguous(OptimizerHelper optimizer) => Relayout(optimizer, (_, t) => t.is_contiguous() ? null
        : t.contiguous());

    static void ToParameterLayouts(OptimizerHelper optimizer) => Relayout(optimizer, (p, t) =>
        t.stride().SequenceEqual(p.stride()) || !t.shape.SequenceEqual(p.shape) ? null
            : empty_strided(p.shape, p.stride(), t.dtype, t.device).copy_(t));

    /// <summary>Replaces each state tensor for which relayout gives a copy (null: keep it), disposing the old
    /// one.</summary>
    static void Relayout(OptimizerHelper optimizer, Func<Parameter, Tensor, Tensor?> relayout)
    {
        using var _ = no_grad();
        var parameters = optimizer.ParamGroups.Cast<ParamGroup>().SelectMany(g => g.Parameters).ToList();
        var states = optimizer.state_dict().State; // one per parameter, in the same order
        for (int i = 0; i < states.Count; i++)
        {
            Tensor? Swap(Tensor? t)
            {
                if (t is null || relayout(parameters[i], t) is not { } copy) return t;
                t.Dispose();
                return copy.DetachFromDisposeScope();
            }
            switch (states[i])
            {
                case Adam.State adam:
                    adam.exp_avg = Swap(adam.exp_avg)!;
                    adam.exp_avg_sq = Swap(adam.exp_avg_sq)!;
                    adam.max_exp_avg_sq = Swap(adam.max_exp_avg_sq)!;
                    break;
                case SGD.State sgd:
                    sgd.momentum_buffer = Swap(sgd.momentum_buffer)!;
                    break;
                default:
                    throw new PagLabException($"optimiser state {states[i].GetType().Name} is not known to "
                        + "OptimizerStateFile (adam and sgd are)");
            }
        }
    }
}
