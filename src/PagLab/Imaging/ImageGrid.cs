using PagLab.Common;
using PagLab.IO;
using SkiaSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Imaging;

/// <summary>Writes image tensors as PNG grids with optional captions above each tile.</summary>
public static class ImageGrid
{
    /// <summary>
    /// images: (N, C, H, W) with C = 1 or 3, values in [0,1] (clamped). Tiles are upscaled by
    /// `scale` (nearest neighbour) and laid out `columns` per row; captions (lines split at '\n') are drawn above
    /// tiles.
    /// </summary>
    public static void SavePng(string path, Tensor images, int columns, IReadOnlyList<string>? captions = null,
        int scale = 2)
    {
        FormatFor(path);
        if (images.dim() != 4 || (images.shape[1] != 1 && images.shape[1] != 3))
            throw new PagLabException($"cannot draw images of shape [{string.Join(",", images.shape)}]: need (N, 1 "
                + $"or 3, H, W)");
        int n = (int)images.shape[0], h = (int)images.shape[2], w = (int)images.shape[3];
        Require.That(n > 0, "no images to draw");
        columns = Math.Clamp(columns, 1, n);
        scale = Math.Max(1, scale);
        int rows = (n + columns - 1) / columns;
        int textScale = Math.Max(1, scale / 2);
        // Captions may hold several lines ('\n'); every caption gets the height of the tallest.
        var lines = captions?.Select(c => c.Split('\n')).ToList();
        int lineHeight = (BitmapFont.GlyphHeight + 2) * textScale;
        int captionHeight = lines is { Count: > 0 } ? lines.Max(l => l.Length) * lineHeight + 2 : 0;
        int pad = 2 * Math.Max(1, scale / 2);
        int tileW = Math.Max(w * scale, lines?.Max(l => l.Max(BitmapFont.MeasureWidth)) * textScale + 2 * pad ?? 0);
        int cellW = tileW + pad, cellH = h * scale + captionHeight + pad;
        int width = columns * cellW + pad, height = rows * cellH + pad;

        using var rgb = images.detach().cpu().to_type(ScalarType.Float32).clamp(0, 1)
                              .expand(n, 3, h, w).mul(255).round().to_type(ScalarType.Byte)
                              .permute(0, 2, 3, 1).contiguous();
        byte[] pixels = rgb.bytes.ToArray(); // (N, H, W, 3)

        var canvas = new byte[width * height * 4];
        for (int i = 0; i < canvas.Length; i += 4) { canvas[i] = canvas[i + 1] = canvas[i + 2] = 255; canvas[i + 3] =
            255; }
        for (int k = 0; k < n; k++)
        {
            int ox = pad + (k % columns) * cellW, oy = pad + (k / columns) * cellH;
            if (lines is not null && k < lines.Count)
                for (int line = 0; line < lines[k].Length; line++)
                    BitmapFont.Draw(lines[k][line], ox, oy + 1 + line * lineHeight, textScale, (x, y) =>
                    {
                        if (x < width && y < height) { int at = (y * width + x) * 4; canvas[at] = canvas[at + 1] =
                            canvas[at + 2] = 0; }
                    });
            int ty = oy + captionHeight;
            for (int y = 0; y < h * scale; y++)
                for (int x = 0; x < w * scale; x++)
                {
                    int src = ((k * h + y / scale) * w + x / scale) * 3;
                    int dst = ((ty + y) * width + ox + x) * 4;
                    canvas[dst] = pixels[src]; canvas[dst + 1] = pixels[src + 1]; canvas[dst + 2] = pixels[src + 2];
                }
        }
        WriteRgba(path, canvas, width, height);
    }

    /// <summary>Encodes an RGBA byte canvas atomically, as PNG or JPEG by the file's extension.</summary>
    public static void WriteRgba(string path, byte[] rgba, int width, int height)
    {
        var format = FormatFor(path);
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var bitmap = new SKBitmap(info);
        System.Runtime.InteropServices.Marshal.Copy(rgba, 0, bitmap.GetPixels(), rgba.Length);
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(format, format == SKEncodedImageFormat.Jpeg ? 95 : 100);
        AtomicFile.WriteAllBytes(path, data.ToArray());
    }

    /// <summary>The image format a file name asks for: .png, or .jpg/.jpeg; anything else is refused (never PNG bytes
    /// under another name).</summary>
    public static SKEncodedImageFormat FormatFor(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".png" => SKEncodedImageFormat.Png,
        ".jpg" or ".jpeg" => SKEncodedImageFormat.Jpeg,
        var other => throw new PagLabException($"{path}: images are written as .png or .jpg, not '{other}'"),
    };

    /// <summary>
    /// Signed maps (gradients, perturbations) as images: each image divided by its own max |value|,
    /// then a diverging map (blue = negative, white = 0, red = positive), summed over channels.
    /// Returns (N, 3, H, W) in [0,1].
    /// </summary>
    public static Tensor SignedToImage(Tensor maps)
    {
        using var scope = NewDisposeScope();
        var m = maps.detach().to_type(ScalarType.Float32).sum(1, keepdim: true);          // (N, 1, H, W)
        var scaleBy = m.abs().flatten(1).amax(new long[] { 1 }).clamp_min(1e-12).reshape(-1, 1, 1, 1);
        var t = (m / scaleBy).clamp(-1, 1);
        var pos = t.clamp_min(0); var neg = (-t).clamp_min(0);
        var r = 1 - neg; var g = 1 - pos - neg; var b = 1 - pos;
        return cat(new[] { r, g, b }, 1).clamp(0, 1).MoveToOuterDisposeScope();
    }
}
