using System.Globalization;
using PagLab.Data;
using PagLab.IO;
using static TorchSharp.torch;

namespace PagLab.Score;

/// <summary>
/// `paglab score`: the scores of test images in one safetensors file (indices, images, scores, labels; and
/// the exact scores on subspace-gaussians), with sigma and the dataset in its metadata.
/// </summary>
public static class ScoreFile
{
    /// <summary>Writes the file; returns the mean cosine to the exact score where the dataset has one.</summary>
    public static double? Write(string path, IDenoiser denoiser, IDataset data, DataSplit test, double sigma)
    {
        using var scope = NewDisposeScope();
        var scores = ScoreFunction.Batched(denoiser, test.Images, test.Labels, sigma);
        var tensors = new Dictionary<string, Tensor>
        {
            ["indices"] = arange(test.Count, dtype: ScalarType.Int64), ["images"] = test.Images, ["scores"] = scores,
            ["labels"] = test.Labels,
        };
        double? cosine = null;
        if (data is SubspaceGaussians exact)
        {
            var labels = denoiser.Conditional ? test.Labels : null;     // the exact score conditioned as the denoiser's
            var truth = exact.Score(test.Images, sigma, labels).to_type(ScalarType.Float32);
            tensors["exactScores"] = truth;
            cosine = Metrics.CosineSimilarity.Compute(scores.to_type(ScalarType.Float64),
                truth.to_type(ScalarType.Float64)).mean().item<double>();
        }
        SafeTensors.Write(path, tensors, new Dictionary<string, string>
        {
            ["sigma"] = sigma.ToString(CultureInfo.InvariantCulture), ["dataset"] = data.Name,
        });
        return cosine;
    }
}
