using PagLab.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Manifold;

/// <summary>Where tangent spaces come from (the "estimator" of a tangent-space file).</summary>
public enum TangentEstimator
{
    [Name("autoencoder", "column space of the decoder's Jacobian at the encoding (PAGs, Suppl. B.6)")] Autoencoder,
    [Name("local-pca", "principal directions of each image's nearest training images")] LocalPca,
    [Name("true", "the known tangent space of a synthetic dataset (subspace-gaussians)")] True,
}

/// <summary>The two tangent-space estimators, run over a set of images in batches.</summary>
public static class TangentEstimation
{
    /// <summary>
    /// Autoencoder estimate (PAGs, Section 4 and Suppl. B.6): z = E(x), J = dD/dz at z, basis of the
    /// column space of J. images (N, C, H, W); indices (N) the rows of the split they came from.
    /// </summary>
    public static TangentSpaces FromAutoencoder(ConvAutoencoder autoencoder, Tensor images, Tensor indices,
        int batchSize = 32,
        double rankTolerance = 1e-5, IProgressSink? progress = null)
    {
        autoencoder.eval();
        return FromEncoderDecoder(autoencoder.Encode, autoencoder.Decode, images, indices, batchSize, rankTolerance,
            progress, new Dictionary<string, string>
        {
            ["estimator"] = Vocabulary.Name(TangentEstimator.Autoencoder),
            ["latent"] = autoencoder.Spec.Latent.ToString(), ["kind"] = Vocabulary.Name(autoencoder.Spec.Kind),
            ["dataset"] = autoencoder.Spec.Dataset ?? "",
        });
    }

    /// <summary>The same estimate for any encoder E: (b, C, H, W) -> (b, k) and decoder D: (b, k) -> (b,
    /// ...).</summary>
    public static TangentSpaces FromEncoderDecoder(Func<Tensor, Tensor> encode, Func<Tensor, Tensor> decode,
        Tensor images, Tensor indices,
        int batchSize, double rankTolerance, IProgressSink? progress, IReadOnlyDictionary<string, string> info)
    {
        progress ??= NullProgress.Instance;
        long n = images.shape[0];
        var parts = new List<(Tensor U, Tensor S)>();
        try
        {
            for (long start = 0; start < n; start += batchSize)
            {
                using var _ = NewDisposeScope();
                var x = images.narrow(0, start, Math.Min(batchSize, n - start));
                Tensor z;
                using (no_grad()) z = encode(x);                                 // (b, k)
                var j = DecoderJacobian.Compute(decode, z);                      // (b, d, k)
                RequireFinite(j, info, start, x.shape[0]);
                var (u, s) = TangentSpaces.Svd(j);                               // SVD per batch: J never piles up
                parts.Add((u.MoveToOuterDisposeScope(), s.MoveToOuterDisposeScope()));
                progress.Update("tangent spaces", start + x.shape[0], n);
            }
            return TangentSpaces.FromSvd(parts, indices, rankTolerance, info);
        }
        finally { foreach (var (u, s) in parts) { u.Dispose(); s.Dispose(); } }
    }

    /// <summary>A NaN or infinite Jacobian has no column space (the SVD fails on it): one line naming the decoder and
    /// the images, instead of libtorch's SVD error.</summary>
    static void RequireFinite(Tensor jacobians, IReadOnlyDictionary<string, string> info, long start, long count)
    {
        if (isfinite(jacobians).all().item<bool>()) return;
        string decoder = info.TryGetValue("decoder", out var path) ? path : "the autoencoder's decoder";
        throw new PagLabException($"{decoder}: its Jacobian at images {start + 1}-{start + count} is not finite (NaN "
            + "or infinity), so they have no tangent space; a decoder must return finite images near the codes");
    }

    /// <summary>Local-PCA estimate: r principal directions of the n nearest pool images of each image.</summary>
    public static TangentSpaces FromLocalPca(Tensor images, Tensor indices, Tensor pool, int neighbours, int dimension)
    {
        using var _ = NewDisposeScope();
        var (bases, values) = LocalPca.Estimate(images.flatten(1), pool.flatten(1), neighbours, dimension);
        var info = new Dictionary<string, string>
        {
            ["estimator"] = Vocabulary.Name(TangentEstimator.LocalPca), ["neighbours"] = neighbours.ToString(),
            ["latent"] = dimension.ToString(),
            ["rankTolerance"] = "0", ["rankDeficient"] = "0", ["minRank"] = dimension.ToString(),
        };
        var spaces = new TangentSpaces(indices.to_type(ScalarType.Int64).clone(), bases, values, info);
        spaces.Indices.MoveToOuterDisposeScope(); bases.MoveToOuterDisposeScope(); values.MoveToOuterDisposeScope();
        return spaces;
    }
}
