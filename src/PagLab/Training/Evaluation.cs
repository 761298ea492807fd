using PagLab.Attacks;
using PagLab.Data;
using PagLab.Models;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Training;

/// <summary>Clean and robust accuracy, batched, on the model in eval mode (batch norm folded: <see
/// cref="EvalModel"/>).</summary>
public static class Evaluation
{
    public static double Accuracy(Module<Tensor, Tensor> model, DataSplit split, Device? device = null,
        int batchSize = 500)
    {
        using var eval = EvalModel.For(model);
        long correct = 0;
        using (no_grad())
            foreach (var batch in split.Batches(batchSize, shuffle: false))
            {
                using var scope = NewDisposeScope();
                using var _ = batch;
                var x = device is null ? batch.Images : batch.Images.to(device);
                correct += eval.Model.call(x).argmax(1).eq(batch.Labels.to(x.device)).sum().item<long>();
            }
        return split.Count == 0 ? 0 : (double)correct / split.Count;
    }

    /// <summary>1 where the model's prediction is the label, else 0, per image in split order.</summary>
    public static int[] CorrectPerImage(Module<Tensor, Tensor> model, DataSplit split, Device? device = null,
        int batchSize = 500)
    {
        using var eval = EvalModel.For(model);
        var correct = new List<int>((int)split.Count);
        using (no_grad())
            foreach (var batch in split.Batches(batchSize, shuffle: false))
            {
                using var scope = NewDisposeScope();
                using var _ = batch;
                var x = device is null ? batch.Images : batch.Images.to(device);
                var hits = eval.Model.call(x).argmax(1).eq(batch.Labels.to(x.device)).to_type(ScalarType.Int32).cpu();
                correct.AddRange(hits.data<int>().ToArray());
            }
        return correct.ToArray();
    }

    /// <summary>Accuracy on PGD adversarial examples of budget epsilon.</summary>
    public static double RobustAccuracy(Module<Tensor, Tensor> model, DataSplit split, double epsilon, PgdConfig attack,
        long seed = 0, int batchSize = 250)
    {
        using var eval = EvalModel.For(model);
        long correct = 0;
        int index = 0;
        foreach (var batch in split.Batches(batchSize, shuffle: false))
        {
            using var scope = NewDisposeScope();
            using var _ = batch;
            using var generator = new Generator(unchecked((ulong)(seed + index++)), device: CPU);
            var adv = Pgd.Attack(eval.Model, batch.Images, batch.Labels, tensor(epsilon), attack, generator);
            using (no_grad()) correct += eval.Model.call(adv).argmax(1).eq(batch.Labels).sum().item<long>();
        }
        return split.Count == 0 ? 0 : (double)correct / split.Count;
    }
}
