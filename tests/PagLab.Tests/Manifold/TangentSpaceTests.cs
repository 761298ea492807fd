using System.Diagnostics;
using PagLab.Common;
using PagLab.Manifold;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Tests.Manifold;

[Trait("Category", "Numeric")]
public class TangentSpaceTests
{
    static ConvAutoencoder SmallAutoencoder(int latent = 3, int channels = 1, int height = 8, int width = 8)
    {
        torch.manual_seed(7);
        var ae = new ConvAutoencoder(new AutoencoderSpec { Kind = AutoencoderKind.Ae, Latent = latent,
            Channels = channels,
            Height = height, Width = width, BaseChannels = 4 });
        ae.eval();
        return ae;
    }

    [Fact]
    public void BatchedJacobian_MatchesCentralFiniteDifferences()
    {
        using var ae = SmallAutoencoder();
        ae.to(ScalarType.Float64);
        using var z = randn(5, 3, ScalarType.Float64);
        using var j = DecoderJacobian.Compute(ae.Decode, z);                      // (5, 64, 3)
        Assert.Equal(new long[] { 5, 64, 3 }, j.shape);
        const double h = 1e-6;
        using var fd = zeros_like(j);
        using (no_grad())
            for (int i = 0; i < 3; i++)
            {
                using var e = zeros(3, ScalarType.Float64); e[i] = h;
                using var plus = ae.Decode(z + e).flatten(1);
                using var minus = ae.Decode(z - e).flatten(1);
                fd.select(2, i).copy_((plus - minus) / (2 * h));
            }
        double error = (j - fd).abs().max().item<double>(), scale = j.abs().max().item<double>();
        Assert.True(scale > 1e-3, $"Jacobian is degenerate (max {scale})");
        Assert.True(error < 1e-4 * scale, $"max |J - FD| = {error}, scale {scale}");
    }

    [Fact]
    public void BatchedJacobian_EqualsPerPixelBackwardLoop()
    {
        using var ae = SmallAutoencoder(latent: 4, channels: 1, height: 28, width: 28);
        using var z = randn(3, 4);
        using var batched = DecoderJacobian.Compute(ae.Decode, z);
        using var reference = PerPixelJacobian.Compute(ae.Decode, z);
        float error = (batched - reference).abs().max().item<float>();
        Assert.True(error < 1e-4 * Math.Max(1, reference.abs().max().item<float>()), $"max difference {error}");
    }

    [Fact]
    public void Bases_AreOrthonormal_AndProjectorIsIdempotentAndSymmetric()
    {
        using var ae = SmallAutoencoder(latent: 5);
        using var z = randn(6, 5);
        using var j = DecoderJacobian.Compute(ae.Decode, z);
        using var spaces = TangentSpaces.FromColumns(j, arange(6));
        Assert.Equal(5, spaces.Rank);
        using var gram = spaces.Bases.transpose(1, 2).bmm(spaces.Bases);
        Float32Tolerance.AssertClose(gram, eye(5).expand_as(gram), Float32Tolerance.SecondOrder, "QᵀQ = I"); // Q from an SVD

        using var u = randn(6, 64);
        using var pu = spaces.ProjectOn(u);
        using var ppu = spaces.ProjectOn(pu);
        Float32Tolerance.AssertClose(ppu, pu, Float32Tolerance.Network, "P(Pu) = Pu");
        using var v = randn(6, 64);
        // symmetric: <Pu, v> = <u, Pv> row by row
        using var left = (pu * v).sum(1);
        using var pv = spaces.ProjectOn(v);
        using var right = (u * pv).sum(1);
        Float32Tolerance.AssertClose(left, right, Float32Tolerance.Network, "<Pu, v> = <u, Pv>");
        using var off = spaces.ProjectOff(u);
        Float32Tolerance.AssertClose(pu + off, u, Float32Tolerance.Op, "on + off = u");
        using var inner = (pu * off).sum(1);
        Assert.True(inner.abs().max().item<float>() <= Float32Tolerance.Of(u.square().sum(1).max().item<float>(), Float32Tolerance.Network),
            "on and off parts are not orthogonal");
        // the projector spans exactly the Jacobian's columns: P J = J
        using var pj = TangentSpaces.Project(spaces.Bases, j.transpose(1, 2));
        Float32Tolerance.AssertClose(pj, j.transpose(1, 2), Float32Tolerance.SecondOrder, "P J = J");
    }

    [Fact]
    public void RankCheck_KeepsOnlyTheNumericalRank()
    {
        using var a = randn(4, 20, 3, ScalarType.Float64);
        a.select(2, 2).copy_(a.select(2, 0) * 2 - a.select(2, 1));   // third column dependent
        using var spaces = TangentSpaces.FromColumns(a, arange(4));
        Assert.Equal(2, spaces.Rank);
        Assert.Equal("4", spaces.Info["rankDeficient"]);
    }

    [Fact]
    public void TangentFile_RoundTrips_AndRejectsForeignFiles()
    {
        string dir = TestPaths.TempDir();
        using var a = randn(3, 10, 2);
        using var spaces = TangentSpaces.FromColumns(a, tensor(new long[] { 5, 7, 9 }));
        string path = Path.Combine(dir, "t.safetensors");
        spaces.Save(path);
        using var back = TangentSpaces.Load(path);
        Assert.Equal(new long[] { 5, 7, 9 }, back.Indices.data<long>().ToArray());
        Assert.True(back.Bases.eq(spaces.Bases).all().item<bool>());
        Assert.True(back.SingularValues.eq(spaces.SingularValues).all().item<bool>());

        string other = Path.Combine(dir, "other.safetensors");
        PagLab.IO.SafeTensors.Write(other, new Dictionary<string, Tensor> { ["x"] = a });
        var error = Assert.Throws<DataFormatException>(() => TangentSpaces.Load(other));
        Assert.Contains("other.safetensors", error.Message);
    }

    [Fact]
    public void LinearAutoencoder_OnSubspaceData_RecoversTangentSpace()
    {
        // A trained linear autoencoder spans the principal subspace; bound: mean angle < 3 degrees.
        const int d = 64, k = 4;
        using var data = new SubspaceData(d, k, 512, noise: 0.01, seed: 3);
        torch.manual_seed(3);
        using var encoder = nn.Linear(d, k);
        using var decoder = nn.Linear(k, d);
        var parameters = encoder.parameters().Concat(decoder.parameters());
        using var adam = optim.Adam(parameters, lr: 0.02);
        using var x = data.Points.to_type(ScalarType.Float32);
        for (int step = 0; step < 400; step++)
        {
            using var _ = NewDisposeScope();
            adam.zero_grad();
            var loss = (decoder.call(encoder.call(x)) - x).pow(2).mean();
            loss.backward();
            adam.step();
        }
        Tensor z;
        using (no_grad()) z = encoder.call(x.narrow(0, 0, 32));
        using var _z = z;
        using var j = DecoderJacobian.Compute(decoder.call, z);
        using var spaces = TangentSpaces.FromColumns(j, arange(32));
        using var angles = PrincipalAngles.Between(spaces.Bases, data.Basis);
        var summary = PrincipalAngles.Summarise(angles);
        Assert.True(summary.MeanDegrees < 3, $"mean principal angle {summary.MeanDegrees:F2} deg");
    }

    [Fact]
    public void LocalPca_OnSubspaceData_RecoversTangentSpace()
    {
        const int d = 64, k = 4;
        using var data = new SubspaceData(d, k, 1000, noise: 0.01, seed: 4);
        var (bases, values) = LocalPca.Estimate(data.Points.narrow(0, 0, 20), data.Points, neighbours: 40,
            dimension: k);
        using var _b = bases; using var _v = values;
        using var angles = PrincipalAngles.Between(bases, data.Basis);
        var summary = PrincipalAngles.Summarise(angles);
        Assert.True(summary.MeanDegrees < 5, $"mean principal angle {summary.MeanDegrees:F2} deg");
        // and a wrong subspace is far: a random basis makes large angles
        var (randomBasis, r) = linalg.qr(randn(d, k, ScalarType.Float64));
        using var _q = randomBasis; using var _r = r;
        using var wrong = PrincipalAngles.Between(bases, randomBasis);
        Assert.True(PrincipalAngles.Summarise(wrong).MeanDegrees > 45);
    }

    [Fact]
    public void PrincipalAngles_OfKnownRotation_AreExact()
    {
        // span{e1, e2} vs span{e1, cos(t) e2 + sin(t) e3}: angles 0 and t
        double t = 0.3;
        using var a = zeros(1, 4, 2, ScalarType.Float64);
        a[0, 0, 0] = 1; a[0, 1, 1] = 1;
        using var b = zeros(1, 4, 2, ScalarType.Float64);
        b[0, 0, 0] = 1; b[0, 1, 1] = Math.Cos(t); b[0, 2, 1] = Math.Sin(t);
        using var angles = PrincipalAngles.Between(a, b);
        var values = angles.data<double>().OrderBy(v => v).ToArray();
        Assert.True(Math.Abs(values[0]) < 1e-6 && Math.Abs(values[1] - t) < 1e-9, string.Join(",", values));
    }
}
