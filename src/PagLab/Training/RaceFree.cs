using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PagLab.Training;

/// <summary>Optimisers whose steps keep every Scalar alive through the native call that reads it
/// (<see cref="Adam"/> says why; <see cref="SGD"/> has the same race).</summary>
public static class RaceFree
{
    /// <summary>
    /// Adam (Kingma and Ba 2015) as TorchSharp's: the same options, per-parameter state and state file, and the same
    /// update (as torch.optim.Adam: L2 weight decay added to the gradient, bias-corrected moments, optional
    /// AMSGrad), except that every <see cref="Scalar"/> the step hands to libtorch is made explicitly and disposed
    /// after the last native call that reads it.
    /// </summary>
    /// <remarks>
    /// Why: TorchSharp 0.107's Adam.step converts each double to a finalizable Scalar (implicit conversion) and
    /// passes only its raw handle to native code, with nothing keeping the managed object alive during the call
    /// (read from its IL: <c>Scalar</c> has a finalizer that frees the native scalar, and <c>Tensor.mul_(Scalar)</c>
    /// and its siblings call no <c>GC.KeepAlive</c>). A collection started by another thread in that window lets the
    /// finalizer free the scalar while libtorch reads it; the allocator then overwrites its type tag and
    /// <c>Scalar::toDouble</c> fails with "Expected false to be true", the error gnorm jobs hit rarely under heavy
    /// load (docs/training.md). A <c>using</c> local is read again by its Dispose after the native call, so it stays
    /// alive. The class is named Adam because TorchSharp's state file records the optimiser's type name: checkpoints
    /// written with TorchSharp's Adam resume with this one, and the other way round.
    /// </remarks>
    public sealed class Adam : TorchSharp.Modules.Adam
    {
        public Adam(IEnumerable<Parameter> parameters, double learningRate, double weightDecay = 0,
            bool amsgrad = false) : base(parameters, learningRate, weight_decay: weightDecay, amsgrad: amsgrad)
        {
        }

        public override Tensor step(Func<Tensor>? closure = null) => _step<ParamGroup>(Update, closure);

        /// <summary>One update of a parameter group: TorchSharp's Adam.step line for line, its Scalars kept alive.
        /// </summary>
        void Update(ParamGroup group)
        {
            var options = (Options)group.Options;
            double beta1 = options.beta1!.Value, beta2 = options.beta2!.Value, decay = options.weight_decay!.Value;
            bool amsgrad = options.amsgrad!.Value, maximize = options.maximize!.Value;
            double learningRate = options.LearningRate!.Value;
            using Scalar beta1Scalar = beta1, beta2Scalar = beta2, oneMinusBeta1 = 1 - beta1,
                oneMinusBeta2 = 1 - beta2, decayScalar = decay, epsilon = options.eps!.Value, one = 1.0;
            foreach (var param in group.Parameters)
            {
                var state = (State)_state[param.Handle];
                if (param.grad is not { } gradient) continue;
                if (maximize) gradient = gradient.neg();
                state.step += 1;
                double biasCorrection1 = 1 - Math.Pow(beta1, state.step);
                double biasCorrection2 = 1 - Math.Pow(beta2, state.step);
                if (decay != 0) gradient = gradient.add(param, decayScalar);
                state.exp_avg.mul_(beta1Scalar).add_(gradient, oneMinusBeta1);
                state.exp_avg_sq.mul_(beta2Scalar).addcmul_(gradient, gradient.conj(), oneMinusBeta2);
                var secondMoment = state.exp_avg_sq;
                if (amsgrad)
                {
                    var previous = state.max_exp_avg_sq;
                    state.max_exp_avg_sq = maximum(previous, state.exp_avg_sq).DetachFromDisposeScope();
                    previous.Dispose();
                    secondMoment = state.max_exp_avg_sq;
                }
                using Scalar sqrtBiasCorrection2 = Math.Sqrt(biasCorrection2),
                    negativeStepSize = -(learningRate / biasCorrection1);
                var denominator = secondMoment.sqrt().div_(sqrtBiasCorrection2).add_(epsilon, one);
                param.addcdiv_(state.exp_avg, denominator, negativeStepSize);
            }
        }
    }

    /// <summary>
    /// SGD with momentum as TorchSharp's (the authors' optimiser, docs/training.md): the same options, state, state
    /// file and update (L2 weight decay added to the gradient, momentum buffer started at the first gradient,
    /// optional dampening and Nesterov), every Scalar kept alive through its native call as in <see cref="Adam"/>;
    /// named SGD for the same reason.
    /// </summary>
    public sealed class SGD : TorchSharp.Modules.SGD
    {
        public SGD(IEnumerable<Parameter> parameters, double learningRate, double momentum = 0, double weightDecay = 0,
            double dampening = 0, bool nesterov = false)
            : base(parameters, learningRate, momentum, dampening, weightDecay, nesterov)
        {
        }

        public override Tensor step(Func<Tensor>? closure = null) => _step<ParamGroup>(Update, closure);

        /// <summary>One update of a parameter group: TorchSharp's SGD.step line for line, its Scalars kept alive.
        /// </summary>
        void Update(ParamGroup group)
        {
            var options = (Options)group.Options;
            double momentum = options.momentum!.Value, decay = options.weight_decay!.Value;
            double learningRate = options.LearningRate!.Value;
            bool nesterov = options.nesterov!.Value;
            using Scalar momentumScalar = momentum, decayScalar = decay,
                oneMinusDampening = 1 - options.dampening!.Value,
                step = options.maximize!.Value ? learningRate : -learningRate;
            foreach (var param in group.Parameters)
            {
                var state = (State)_state[param.Handle];
                if (param.grad is not { } gradient) continue;
                if (decay != 0) gradient = gradient.add(param, decayScalar);
                if (momentum != 0)
                {
                    var buffer = state.momentum_buffer;
                    if (buffer is null)
                        state.momentum_buffer = buffer = gradient.clone().detach().DetachFromDisposeScope();
                    else buffer.mul_(momentumScalar).add_(gradient, oneMinusDampening);
                    gradient = nesterov ? gradient.add(buffer, momentumScalar) : buffer;
                }
                param.add_(gradient, step);
            }
        }
    }
}
