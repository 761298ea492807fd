using PagLab.Common;
using SkiaSharp;
using static TorchSharp.torch;

namespace PagLab.IO;

/// <summary>Reads PNG/JPEG/BMP/WebP images (SkiaSharp) as RGB tensors in [0, 1].</summary>
public static class RgbImage
{
    /// <summary>(3, H, W) float32 in [0,1]; grayscale files come back with three equal channels, alpha is dropped.</summary>
    public static Tensor Read(string path)
    {
        if (!File.Exists(path)) throw new PagLabException($"{path}: file not found");
        using var decoded = SKBitmap.Decode(path) ?? throw new DataFormatException(path, "not an image SkiaSharp can decode (PNG, JPEG, BMP, WebP)");
        var info = new SKImageInfo(decoded.Width, decoded.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var rgba = new SKBitmap(info);
        if (!decoded.CopyTo(rgba, SKColorType.Rgba8888))
            throw new DataFormatException(path, "cannot convert the image to RGBA");
        int w = info.Width, h = info.Height;
        var bytes = new byte[w * h * 4];
        var span = rgba.GetPixelSpan();
        for (int y = 0; y < h; y++) span.Slice(y * rgba.RowBytes, w * 4).CopyTo(bytes.AsSpan(y * w * 4, w * 4));
        using var _ = NewDisposeScope();
        var t = tensor(bytes).reshape(h, w, 4)[.., .., ..3].permute(2, 0, 1).to(float32) / 255f; // (3, H, W)
        return t.contiguous().MoveToOuterDisposeScope();
    }
}
