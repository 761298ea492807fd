using System.Diagnostics;
using PagLab.Manifold;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Tests.Manifold;

/// <summary>
/// Timing of 32 tangent spaces of a 784 x 16 decoder Jacobian (MNIST-size autoencoder): the batched
/// double-VJP path against the authors' per-pixel loop. Runs only with PAGLAB_BENCH=1; the numbers go to the test
/// output and, when PAGLAB_BENCH_LOG names a file, are appended there.
/// </summary>
public class JacobianBenchmark(ITestOutputHelper output)
{
    [Fact]
    public void Time_32_TangentSpaces_784x16_BatchedVersusPerPixel()
    {
        Assert.SkipWhen(Environment.GetEnvironmentVariable("PAGLAB_BENCH") != "1", "benchmark: set PAGLAB_BENCH=1");
        torch.manual_seed(1);
        using var ae = new ConvAutoencoder(new AutoencoderSpec { Kind = "ae", Latent = 16, Channels = 1, Height = 28, Width = 28 });
        ae.eval();
        using var z = randn(32, 16);
        using (var warm = DecoderJacobian.Compute(ae.Decode, z.narrow(0, 0, 2))) { }
        var clock = Stopwatch.StartNew();
        const int repeats = 5;
        Tensor? batched = null;
        for (int i = 0; i < repeats; i++) { batched?.Dispose(); batched = DecoderJacobian.Compute(ae.Decode, z); }
        double batchedMs = clock.Elapsed.TotalMilliseconds / repeats;
        clock.Restart();
        using var reference = PerPixelJacobian.Compute(ae.Decode, z);
        double loopMs = clock.Elapsed.TotalMilliseconds;
        clock.Restart();
        using (var spaces = TangentSpaces.FromColumns(batched!, arange(32))) { }
        double svdMs = clock.Elapsed.TotalMilliseconds;
        double error = (batched! - reference).abs().max().item<float>();
        batched!.Dispose();
        string line = $"threads {torch.get_num_threads()}: batched Jacobian {batchedMs:F1} ms, per-pixel loop {loopMs:F0} ms ({loopMs / batchedMs:F0}x), batched SVD {svdMs:F1} ms, max difference {error:G3}";
        output.WriteLine(line);
        if (Environment.GetEnvironmentVariable("PAGLAB_BENCH_LOG") is { Length: > 0 } log) File.AppendAllText(log, line + "\n");
        Assert.True(error < 1e-4);
    }
}
