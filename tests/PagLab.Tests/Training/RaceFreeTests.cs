using PagLab.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PagLab.Tests.Training;

public class RaceFreeTests
{
    /// <summary>A small MLP with the same weights for every call of the same seed.</summary>
    static nn.Module<Tensor, Tensor> Model(long seed)
    {
        torch.manual_seed(seed);
        return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3));
    }

    /// <summary>Steps an optimiser on fixed random batches (a new batch each step) and returns the final
    /// weights.</summary>
    static float[][] Train(Func<IEnumerable<Parameter>, OptimizerHelper> make, int steps, double changeLrTo = 0)
    {
        using var model = Model(3);
        using var optimizer = make(model.parameters());
        var generator = new Generator(11);
        for (int i = 0; i < steps; i++)
        {
            using var scope = NewDisposeScope();
            if (i == steps / 2 && changeLrTo > 0)
                foreach (var group in optimizer.ParamGroups) group.LearningRate = changeLrTo;
            var x = randn(new long[] { 32, 6 }, generator: generator);
            var y = randint(0, 3, new long[] { 32 }, generator: generator);
            optimizer.zero_grad();
            nn.functional.cross_entropy(model.call(x), y).backward();
            optimizer.step();
        }
        return model.parameters().Select(p => p.data<float>().ToArray()).ToArray();
    }

    static void AssertClose(float[][] expected, float[][] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int p = 0; p < expected.Length; p++)
            for (int i = 0; i < expected[p].Length; i++)
                Assert.True(Math.Abs(expected[p][i] - actual[p][i]) <= 1e-6f * Math.Max(1f, Math.Abs(expected[p][i])),
                    $"parameter {p}[{i}]: TorchSharp {expected[p][i]}, ours {actual[p][i]}");
    }

    [Theory]
    [InlineData(0.0, false)]
    [InlineData(0.01, false)]
    [InlineData(0.01, true)]
    public void Steps_MatchTorchSharpsAdam(double weightDecay, bool amsgrad)
    {
        var theirs = Train(p => torch.optim.Adam(p, 3e-3, beta1: 0.9, beta2: 0.999, weight_decay: weightDecay,
            amsgrad: amsgrad), 12, changeLrTo: 1e-3);
        var ours = Train(p => new RaceFree.Adam(p, 3e-3, weightDecay, amsgrad), 12, changeLrTo: 1e-3);
        var initial = Train(p => new RaceFree.Adam(p, 3e-3, weightDecay, amsgrad), 0);
        AssertClose(theirs, ours);
        Assert.NotEqual(initial[0], ours[0]);    // the steps moved the weights
    }

    /// <summary>Writes one optimiser's state after a step, reads it into the other and returns both states of the
    /// first parameter (written, read).</summary>
    static (object Written, object Read) RoundTrip(
        Func<IEnumerable<Parameter>, OptimizerHelper> writer, Func<IEnumerable<Parameter>, OptimizerHelper> reader)
    {
        using var model = Model(5);
        var from = writer(model.parameters());
        using (var _ = NewDisposeScope())
        {
            nn.functional.cross_entropy(model.call(ones(4, 6)), zeros(4, dtype: int64)).backward();
            from.step();
        }
        using var stream = new MemoryStream();
        OptimizerStateFile.Save(from, new BinaryWriter(stream));
        stream.Position = 0;
        var to = reader(model.parameters());
        OptimizerStateFile.Load(to, new BinaryReader(stream));
        return (from.state_dict().State[0], to.state_dict().State[0]);
    }

    static void AssertRoundTrip(Func<IEnumerable<Parameter>, OptimizerHelper> writer,
        Func<IEnumerable<Parameter>, OptimizerHelper> reader)
    {
        var (from, to) = RoundTrip(writer, reader);
        var (written, read) = ((Adam.State)from, (Adam.State)to);
        Assert.Equal(1, read.step);
        Assert.True(read.exp_avg.abs().sum().item<float>() > 0);
        Assert.True(written.exp_avg.allclose(read.exp_avg) && written.exp_avg_sq.allclose(read.exp_avg_sq));
    }

    [Theory]
    [InlineData(0.9, 5e-4, false)]
    [InlineData(0.0, 0.0, false)]
    [InlineData(0.9, 0.0, true)]
    public void SgdSteps_MatchTorchSharpsSgd(double momentum, double weightDecay, bool nesterov)
    {
        var theirs = Train(p => torch.optim.SGD(p, 0.05, momentum, weight_decay: weightDecay, nesterov: nesterov), 12,
            changeLrTo: 0.01);
        var ours = Train(p => new RaceFree.SGD(p, 0.05, momentum, weightDecay, nesterov: nesterov), 12,
            changeLrTo: 0.01);
        AssertClose(theirs, ours);
        Assert.NotEqual(Train(p => new RaceFree.SGD(p, 0.05), 0)[0], ours[0]);
    }

    [Fact]
    public void SgdCheckpoints_ResumeAcrossTorchSharpsSgdAndOurs_BothWays()
    {
        foreach (var (writer, reader) in new (Func<IEnumerable<Parameter>, OptimizerHelper>,
                     Func<IEnumerable<Parameter>, OptimizerHelper>)[]
                 {
                     (p => new RaceFree.SGD(p, 0.1, 0.9), p => torch.optim.SGD(p, 0.1, 0.9)),
                     (p => torch.optim.SGD(p, 0.1, 0.9), p => new RaceFree.SGD(p, 0.1, 0.9)),
                 })
        {
            var (from, to) = RoundTrip(writer, reader);
            var written = ((SGD.State)from).momentum_buffer;
            var read = ((SGD.State)to).momentum_buffer;
            Assert.True(read.abs().sum().item<float>() > 0 && written.allclose(read));
        }
    }

    [Fact]
    public void Checkpoints_ResumeAcrossTorchSharpsAdamAndOurs_BothWays()
    {
        AssertRoundTrip(p => new RaceFree.Adam(p, 1e-2), p => torch.optim.Adam(p, 1e-2));
        AssertRoundTrip(p => torch.optim.Adam(p, 1e-2), p => new RaceFree.Adam(p, 1e-2));
    }

    /// <summary>Collections and finalizers run on another thread all through the steps (what frees a Scalar in the
    /// middle of a native call, if anything keeps it unreferenced): the steps still give the undisturbed result.
    /// </summary>
    [Fact]
    public void ManySteps_UnderForcedCollections_GiveTheUndisturbedWeights()
    {
        var undisturbed = Train(p => new RaceFree.Adam(p, 1e-3), 200);
        bool done = false;
        long collections = 0;
        var collector = new Thread(() =>
        {
            while (!Volatile.Read(ref done))
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                Interlocked.Increment(ref collections);
            }
        });
        collector.Start();
        float[][] disturbed;
        try { disturbed = Train(p => new RaceFree.Adam(p, 1e-3), 200); }
        finally { Volatile.Write(ref done, true); collector.Join(); }
        Assert.True(Interlocked.Read(ref collections) > 0);
        AssertClose(undisturbed, disturbed);
    }
}
