using static TorchSharp.torch;

/// <summary>
/// Minimal single-op twins (bench/pytorch/op_twins.py runs the same ops): each op of resnet18's most
/// frequent layer shape (batch 128, 64 channels, 32x32) alone, in its three passes: forward, backward
/// (gradients of a fixed random readout), and the gradient-norm double backward (input gradient with
/// create_graph, then the gradient of its squared norm). Same op, same shape, same pass on both sides,
/// so a difference is libtorch 2.10 (TorchSharp) against Debian's libtorch 1.13, not PagLab.
/// </summary>
static class OpTwins
{
    public static void Add(Dictionary<string, Row> rows, Func<string, bool> wanted)
    {
        foreach (var (name, action) in Passes(wanted))
        {
            rows[name] = Bench.Time(action, 1, 5, 128);
            if (!name.EndsWith("/double-backward")) continue;
            string op = name[..name.LastIndexOf('/')];
            Console.Error.WriteLine($"{op}: " + string.Join(", ", rows.Where(kv => kv.Key.StartsWith(op + "/"))
                .Select(kv => $"{kv.Key.Split('/')[2]} {kv.Value.MedianMs:F1} ms")));
        }
    }

    /// <summary>Each twin op and pass as one call, named twin/op/pass; the tensors live in the caller's scope.</summary>
    public static IEnumerable<(string Name, Action Call)> Passes(Func<string, bool> wanted)
    {
        manual_seed(0);
        var x0 = randn(128, 64, 32, 32);
        var readout = randn(128, 64, 32, 32);
        var convWeight = (randn(64, 64, 3, 3) * 0.05).requires_grad_(true);
        var bnWeight = ones(64).requires_grad_(true);
        var bnBias = zeros(64).requires_grad_(true);
        var ops = new (string Name, Func<Tensor, Tensor> Op, Tensor[] Parameters)[]
        {
            ("conv3x3", x => nn.functional.conv2d(x, convWeight, padding: new long[] { 1 }), new[] { convWeight }),
            ("batchnorm", x => nn.functional.batch_norm(x, null, null, bnWeight, bnBias, training: true),
                new[] { bnWeight, bnBias }),
            ("relu", x => nn.functional.relu(x), Array.Empty<Tensor>()),
        };
        foreach (var (name, op, parameters) in ops)
        {
            if (!wanted($"twin/{name}/")) continue;
            // The readout takes part in the graph as a parameter, so the relu's double backward has work.
            var r = readout.detach().requires_grad_(true);
            var all = parameters.Append(r).ToArray();
            void Zero() { foreach (var p in all) p.grad?.zero_(); }
            yield return ($"twin/{name}/forward", () =>
            {
                using var s = NewDisposeScope();
                using var g = no_grad();
                op(x0).sum().item<float>();
            });
            yield return ($"twin/{name}/backward", () =>
            {
                using var s = NewDisposeScope();
                Zero();
                var x = x0.detach().requires_grad_(true);
                (op(x) * r).sum().backward();
            });
            yield return ($"twin/{name}/double-backward", () =>
            {
                using var s = NewDisposeScope();
                Zero();
                var x = x0.detach().requires_grad_(true);
                var g = autograd.grad(new[] { (op(x) * r).sum() }, new[] { x }, retain_graph: true,
                    create_graph: true)[0];
                g.pow(2).sum().backward();
            });
        }
    }
}
