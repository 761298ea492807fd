using PagLab.Common;
using SkiaSharp;
using static TorchSharp.torch;

namespace PagLab.IO;

/// <summary>Reads PNG/JPEG/BMP/WebP images (SkiaSharp) as RGB tensors in [0, 1].</summary>
public static class RgbImage
{
    /// <summary>The largest image read (4096 x 4096): 64 MiB of RGBA, decoded only after the header says it
    /// fits.</summary>
    public const long MaxPixels = 4096L * 4096;

    /// <summary>
    /// (3, H, W) float32 in [0,1]; grayscale files come back with three equal channels; alpha is dropped
    /// (the colour as stored, never multiplied by alpha). The size is checked from the header before any
    /// pixel is inflated; a truncated or corrupt file is an error, never an image with a black remainder.
    /// </summary>
    public static Tensor Read(string path)
    {
        if (!File.Exists(path)) throw new PagLabException($"{path}: file not found");
        using var codec = SKCodec.Create(path, out var opened)
                          ?? throw new DataFormatException(path,
                              $"not an image SkiaSharp can decode (PNG, JPEG, BMP, WebP): {opened}");
        int w = codec.Info.Width, h = codec.Info.Height;
        if (w <= 0 || h <= 0 || (long)w * h > MaxPixels)
            throw new DataFormatException(path, $"image is {w}x{h}; at most {MaxPixels} pixels (4096 x 4096) are read");
        var info = new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var result = codec.GetPixels(info, out byte[] bytes);
        if (result != SKCodecResult.Success)
            throw new DataFormatException(path,
                result == SKCodecResult.IncompleteInput ? "image is truncated" : $"image is corrupt ({result})");
        using var _ = NewDisposeScope();
        var t = tensor(bytes).reshape(h, w, 4)[.., .., ..3].permute(2, 0, 1).to(float32) / 255f; // (3, H, W)
        return t.contiguous().MoveToOuterDisposeScope();
    }
}
