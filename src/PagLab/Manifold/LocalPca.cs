using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Manifold;

/// <summary>
/// Tangent spaces without an autoencoder (beyond the paper): the top-r principal directions of the
/// n nearest neighbours of each query in a pool of points, centred on the neighbourhood mean.
/// Distances by cdist + topk, neighbourhoods by one gather, SVDs batched.
/// </summary>
public static class LocalPca
{
    /// <param name="queries">(M, d) points whose tangent spaces are wanted</param>
    /// <param name="pool">(N, d) points the neighbours are taken from (may contain the queries)</param>
    /// <param name="neighbours">n, the neighbourhood size (including a query found in the pool)</param>
    /// <param name="dimension">r, the tangent dimension kept</param>
    /// <param name="chunk">queries per distance computation (bounds memory at chunk x N)</param>
    /// <returns>bases (M, d, r) and singular values (M, min(n, d))</returns>
    public static (Tensor Bases, Tensor SingularValues) Estimate(Tensor queries, Tensor pool, int neighbours,
        int dimension, int chunk = 256)
    {
        if (neighbours > pool.shape[0]) throw new Common.PagLabException($"local PCA: {neighbours} neighbours "
            + $"requested but the pool has {pool.shape[0]} points");
        if (dimension > Math.Min(neighbours - 1, pool.shape[1]))
            throw new Common.PagLabException(
                $"local PCA: dimension {dimension} needs more than {dimension} neighbours");
        using var _ = NewDisposeScope();
        var p = pool.to_type(ScalarType.Float32);
        var bases = new List<Tensor>();
        var values = new List<Tensor>();
        for (long start = 0; start < queries.shape[0]; start += chunk)
        {
            // (m, d)
            var q = queries.narrow(0, start, Math.Min(chunk, queries.shape[0] - start)).to_type(ScalarType.Float32);
            var distances = cdist(q, p);                                        // (m, N)
            var nearest = distances.topk(neighbours, dim: 1, largest: false).indexes; // (m, n)
            // (m, n, d)
            var hood = p.index_select(0, nearest.flatten()).view(q.shape[0], neighbours, -1)
                .to_type(ScalarType.Float64);
            var centred = hood - hood.mean(new long[] { 1 }, keepdim: true);
            var (_, s, vh) = linalg.svd(centred, fullMatrices: false);         // vh (m, min(n,d), d)
            bases.Add(vh.narrow(1, 0, dimension).transpose(1, 2).to_type(ScalarType.Float32)); // (m, d, r)
            values.Add(s.to_type(ScalarType.Float32));
        }
        return (cat(bases, 0).MoveToOuterDisposeScope(), cat(values, 0).MoveToOuterDisposeScope());
    }
}
