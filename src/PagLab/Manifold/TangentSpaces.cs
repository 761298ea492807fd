using PagLab.Common;
using PagLab.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Manifold;

/// <summary>
/// Orthonormal bases of estimated tangent spaces, one per image: Bases (N, d, r) with Q^T Q = I,
/// the image indices they belong to (N, rows of a dataset split) and the singular values (N, k) of
/// the matrix they were taken from (decoder Jacobian or centred neighbourhood).
/// P_x u = Q (Q^T u), P_x^perp u = u - P_x u (PAGs, Section 3.1 notation).
/// </summary>
public sealed class TangentSpaces : IDisposable
{
    public const int CurrentFormat = 1;

    public TangentSpaces(Tensor indices, Tensor bases, Tensor singularValues,
        IReadOnlyDictionary<string, string>? info = null)
    {
        if (bases.dim() != 3) throw new ArgumentException("bases must be (N, d, r)");
        if (indices.dim() != 1
            || indices.shape[0] != bases.shape[0]) throw new ArgumentException("indices must be (N) and match bases");
        if (singularValues.dim() != 2
            || singularValues.shape[0] != bases.shape[0]) throw new ArgumentException("singular values must be (N, k)");
        Indices = indices; Bases = bases; SingularValues = singularValues;
        Info = info?.ToDictionary(kv => kv.Key, kv => kv.Value) ?? new();
    }

    public Tensor Indices { get; }          // (N) int64
    public Tensor Bases { get; }            // (N, d, r) float32, orthonormal columns
    public Tensor SingularValues { get; }   // (N, k) descending
    public Dictionary<string, string> Info { get; }
    public long Count => Bases.shape[0];
    public long AmbientDim => Bases.shape[1];
    public long Rank => Bases.shape[2];

    /// <summary>
    /// Orthonormal bases of the column spaces of A (N, d, k) by batched SVD. The numerical rank of each
    /// matrix counts singular values above relativeTolerance * its largest one; all bases keep the
    /// smallest rank found (so they stack), and rank-deficient images are reported in Info.
    /// </summary>
    public static TangentSpaces FromColumns(Tensor a, Tensor indices, double relativeTolerance = 1e-5,
        IReadOnlyDictionary<string, string>? info = null)
    {
        var parts = new List<(Tensor U, Tensor S)>();
        try
        {
            for (long start = 0; start < a.shape[0]; start += SvdChunk)
                parts.Add(Svd(a.narrow(0, start, Math.Min(SvdChunk, a.shape[0] - start))));
            return FromSvd(parts, indices, relativeTolerance, info);
        }
        finally { foreach (var (u, s) in parts) { u.Dispose(); s.Dispose(); } }
    }

    /// <summary>Matrices per SVD call (bounds the float64 working copy).</summary>
    public const int SvdChunk = 64;

    /// <summary>Thin SVD of A (n, d, k) in float64: left singular vectors (n, d, k) and singular values (n, k), as
    /// float32.</summary>
    public static (Tensor U, Tensor S) Svd(Tensor a)
    {
        using var _ = NewDisposeScope();
        var (u, s, vh) = linalg.svd(a.to_type(ScalarType.Float64), fullMatrices: false);
        return (u.to_type(ScalarType.Float32).MoveToOuterDisposeScope(),
            s.to_type(ScalarType.Float32).MoveToOuterDisposeScope());
    }

    /// <summary>Stacks per-chunk SVDs (see Svd) into bases of the common numerical rank.</summary>
    public static TangentSpaces FromSvd(IReadOnlyList<(Tensor U, Tensor S)> parts, Tensor indices,
        double relativeTolerance = 1e-5, IReadOnlyDictionary<string, string>? info = null)
    {
        using var _ = NewDisposeScope();
        var s = cat(parts.Select(p => p.S).ToList(), 0);                                    // (N, k) descending
        long k = s.shape[1];
        var relative = s / s.narrow(1, 0, 1).clamp_min(float.Epsilon);
        var ranks = (relative > relativeTolerance).sum(1);                                 // (N)
        long minRank = ranks.numel() == 0 ? k : ranks.min().item<long>();
        var meta = info?.ToDictionary(kv => kv.Key, kv => kv.Value) ?? new();
        meta["rankTolerance"] = relativeTolerance.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        meta["rankDeficient"] = (ranks < k).sum().item<long>().ToString();
        meta["minRank"] = minRank.ToString();
        if (minRank < 1) throw new PagLabException("tangent estimation: a matrix has rank 0 (all columns vanish)");
        var bases = cat(parts.Select(p => p.U.narrow(2, 0, minRank)).ToList(),
            0).contiguous().MoveToOuterDisposeScope();
        var values = s.contiguous().MoveToOuterDisposeScope();
        return new TangentSpaces(indices.to_type(ScalarType.Int64).clone().MoveToOuterDisposeScope(), bases, values,
            meta);
    }

    /// <summary>P_x u for each row: u (N, d) or (N, n, d) -> same shape, Q_i applied to row i.</summary>
    public Tensor ProjectOn(Tensor u) => Project(Bases, u);

    /// <summary>P_x^perp u = u - P_x u.</summary>
    public Tensor ProjectOff(Tensor u)
    {
        using var _ = NewDisposeScope();
        return (u - Project(Bases, u)).MoveToOuterDisposeScope();
    }

    /// <summary>Q (Q^T u) for bases q (N, d, r) and u (N, d) or (N, n, d).</summary>
    public static Tensor Project(Tensor q, Tensor u)
    {
        using var _ = NewDisposeScope();
        var qq = q.to_type(u.dtype);
        bool single = u.dim() == 2;
        var rows = single ? u.unsqueeze(1) : u;                     // (N, n, d)
        var coefficients = rows.bmm(qq);                            // (N, n, r)
        var projected = coefficients.bmm(qq.transpose(1, 2));       // (N, n, d)
        return (single ? projected.squeeze(1) : projected).MoveToOuterDisposeScope();
    }

    /// <summary>A subset of rows (one gather per tensor).</summary>
    public TangentSpaces Select(Tensor rows) =>
        new(Indices.index_select(0, rows), Bases.index_select(0, rows), SingularValues.index_select(0, rows), Info);

    public void Save(string path)
    {
        var meta = new Dictionary<string, string>(Info) { ["format"] = "paglab-tangents",
            ["formatVersion"] = CurrentFormat.ToString() };
        SafeTensors.Write(path, new Dictionary<string, Tensor> { ["indices"] = Indices, ["bases"] = Bases,
            ["singular_values"] = SingularValues }, meta);
    }

    public static TangentSpaces Load(string path)
    {
        var tensors = SafeTensors.Read(path, out var meta);
        void Fail(string problem)
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw new DataFormatException(path, problem);
        }
        if (!meta.TryGetValue("format", out var format)
            || format != "paglab-tangents") Fail("not a PagLab tangent-space file (no format=paglab-tangents "
            + "metadata)");
        if (int.TryParse(meta.GetValueOrDefault("formatVersion"), out int version)
            && version > CurrentFormat) Fail($"tangent format {version} is newer than this PagLab understands");
        foreach (var name in new[] { "indices", "bases", "singular_values" })
            if (!tensors.ContainsKey(name)) Fail($"missing tensor '{name}'");
        var (indices, bases, values) = (tensors["indices"], tensors["bases"], tensors["singular_values"]);
        if (bases.dim() != 3) Fail($"bases must be (N, d, r), got [{string.Join(",", bases.shape)}]");
        if (indices.dim() != 1
            || indices.shape[0] != bases.shape[0]) Fail("indices must be (N) with one row per basis");
        if (values.dim() != 2
            || values.shape[0] != bases.shape[0]) Fail("singular_values must be (N, k) with one row per basis");
        if (indices.dtype != ScalarType.Int64
            || bases.dtype != ScalarType.Float32) Fail("indices must be I64 and bases F32");
        return new TangentSpaces(indices, bases, values, meta);
    }

    public void Dispose() { Indices.Dispose(); Bases.Dispose(); SingularValues.Dispose(); }
}
