using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Tests.Manifold;

/// <summary>Test data on a known affine subspace: x = c + U z (+ optional isotropic noise), U (d, k) orthonormal; c = 0
/// when throughOrigin.</summary>
public sealed class SubspaceData : IDisposable
{
    public SubspaceData(int d, int k, int n, double noise = 0, long seed = 1, double spread = 1.0,
        bool throughOrigin = false)
    {
        using var g = new Generator((ulong)seed, device: CPU);
        using var _ = NewDisposeScope();
        var (q, _) = linalg.qr(randn(new long[] { d, k }, ScalarType.Float64, generator: g));
        Basis = q.MoveToOuterDisposeScope();                                        // (d, k)
        var centre = 0.5 + 0.1 * randn(new long[] { d }, ScalarType.Float64, generator: g);
        Centre = (throughOrigin ? zeros_like(centre) : centre).MoveToOuterDisposeScope();
        var z = spread * randn(new long[] { n, k }, ScalarType.Float64, generator: g);
        Codes = z.MoveToOuterDisposeScope();
        var x = Centre + z.matmul(q.t()) + noise * randn(new long[] { n, d }, ScalarType.Float64, generator: g);
        Points = x.MoveToOuterDisposeScope();                                       // (n, d)
    }

    public Tensor Basis { get; }
    public Tensor Centre { get; }
    public Tensor Codes { get; }
    public Tensor Points { get; }

    public void Dispose() { Basis.Dispose(); Centre.Dispose(); Codes.Dispose(); Points.Dispose(); }
}
