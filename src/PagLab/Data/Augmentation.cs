using PagLab.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Data;

/// <summary>The training-time augmentations ("augment" in configs and specs).</summary>
public enum AugmentationKind
{
    [Name("none", "the images as they are")] None,
    [Name("crop-flip", "random crop of the zero-padded image, mirrored left-right with probability 1/2")] CropFlip,
}

/// <summary>
/// Training-time data augmentation, on whole batches. `crop-flip` is the authors' CIFAR-10 recipe
/// (tml-tuebingen/pags utils/datasets.py: torchvision RandomCrop(32, padding=4) then RandomHorizontalFlip):
/// each image is zero-padded by P pixels on every side, an H x W window at a random offset in 0..2P is
/// cut out, and the window is mirrored left-right with probability 1/2. The draws come from the batch's
/// noise generator, so a resumed run augments exactly as an uninterrupted one.
/// </summary>
public static class Augmentation
{
    /// <summary>The augmented batch (a new tensor), or <paramref name="images"/> itself for `none`.</summary>
    public static Tensor Apply(AugmentationKind kind, Tensor images, int padding, Generator generator) =>
        kind == AugmentationKind.CropFlip ? RandomCropFlip(images, padding, generator) : images;

    /// <summary>Draws the offsets (B) in 0..2P and the flips (B) with probability 1/2, then crops and flips.</summary>
    public static Tensor RandomCropFlip(Tensor images, int padding, Generator generator)
    {
        using var _ = NewDisposeScope();
        long batch = images.shape[0];
        var dy = randint(0, 2 * padding + 1, new[] { batch }, dtype: ScalarType.Int64, generator: generator);
        var dx = randint(0, 2 * padding + 1, new[] { batch }, dtype: ScalarType.Int64, generator: generator);
        var flip = rand(new[] { batch }, generator: generator).lt(0.5);
        return CropFlipAt(images, padding, dy, dx, flip).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Image i is the window of its padded copy starting at row dy_i, column dx_i, mirrored when flip_i:
    /// out[i, c, r, k] = padded[i, c, dy_i + r, dx_i + (flip_i ? W - 1 - k : k)]. Two gathers, no loop.
    /// </summary>
    public static Tensor CropFlipAt(Tensor images, int padding, Tensor dy, Tensor dx, Tensor flip)
    {
        Require.That(images.dim() == 4, $"crop-flip needs (B, C, H, W) images, got [{string.Join(",", images.shape)}]");
        Require.That(padding >= 0, $"augmentPadding must be >= 0, got {padding}");
        using var _ = NewDisposeScope();
        long b = images.shape[0], c = images.shape[1], h = images.shape[2], w = images.shape[3];
        var device = images.device;
        var padded = nn.functional.pad(images, new long[] { padding, padding, padding, padding }); // (B,C,H+2P,W+2P)
        var r = arange(h, dtype: ScalarType.Int64, device: device).unsqueeze(0);                    // (1, H)
        var k = arange(w, dtype: ScalarType.Int64, device: device).unsqueeze(0);                    // (1, W)
        var rows = dy.to(device).unsqueeze(1) + r;                                                  // (B, H)
        var columns = dx.to(device).unsqueeze(1) + where(flip.to(device).unsqueeze(1), (w - 1) - k, k); // (B, W)
        var cropRows = padded.gather(2, rows.view(b, 1, h, 1).expand(b, c, h, w + 2 * padding));   // (B, C, H, W+2P)
        var cropped = cropRows.gather(3, columns.view(b, 1, 1, w).expand(b, c, h, w));               // (B, C, H, W)
        return cropped.MoveToOuterDisposeScope();
    }
}
