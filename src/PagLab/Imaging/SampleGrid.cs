using PagLab.Data;
using static TorchSharp.torch;

namespace PagLab.Imaging;

/// <summary>`paglab data show`: a labelled grid of a split's first images (distractor sets with their masks).</summary>
public static class SampleGrid
{
    public static void Save(string path, IDataset dataset, DataSplit part)
    {
        using var scope = NewDisposeScope();
        var labels = part.Labels.data<long>().ToArray();
        var captions = labels.Select(l => dataset.ClassNames[(int)l]).ToList();
        var images = part.Images;
        int columns = Math.Min(8, (int)part.Count);
        if (part.SignalMask is not null && part.DistractorMask is not null)
        {
            // Each image, then its signal mask, then its distractor mask, side by side.
            images = stack(new[] { part.Images, part.SignalMask, part.DistractorMask }, 1).flatten(0, 1);
            captions = captions.SelectMany(c => new[] { c, "signal", "distr." }).ToList();
            columns = 3 * Math.Min(4, (int)part.Count);
        }
        ImageGrid.SavePng(path, images, columns, captions, scale: 3);
    }
}
