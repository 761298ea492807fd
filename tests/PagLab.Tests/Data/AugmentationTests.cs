using PagLab.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Tests.Data;

/// <summary>The authors' CIFAR-10 augmentation (random crop of the 4-pixel zero-padded image, flip).</summary>
public class AugmentationTests
{
    /// <summary>One image at a time, the way torchvision does it: pad, slice the window, mirror.</summary>
    static Tensor Reference(Tensor images, int padding, long[] dy, long[] dx, bool[] flip)
    {
        var outputs = new List<Tensor>();
        for (int i = 0; i < images.shape[0]; i++)
        {
            var padded = nn.functional.pad(images[i], new long[] { padding, padding, padding, padding }); // (C,H',W')
            var window = padded.narrow(1, dy[i], images.shape[2]).narrow(2, dx[i], images.shape[3]);
            outputs.Add(flip[i] ? window.flip(2) : window);
        }
        return stack(outputs);
    }

    [Fact]
    public void CropFlipAt_EqualsPerImagePadSliceAndMirror()
    {
        var images = rand(new long[] { 6, 3, 5, 7 }, generator: new Generator(3));
        long[] dy = { 0, 8, 3, 4, 1, 7 }, dx = { 8, 0, 5, 4, 2, 6 };
        bool[] flip = { false, true, true, false, true, false };
        var actual = Augmentation.CropFlipAt(images, 4, tensor(dy), tensor(dx), tensor(flip));
        Assert.Equal(images.shape, actual.shape);
        Assert.True(actual.eq(Reference(images, 4, dy, dx, flip)).all().item<bool>());
    }

    [Fact]
    public void RandomCropFlip_AtPaddingZero_OnlyFlips_AndFlipsAboutHalfTheImages()
    {
        const int n = 4000;
        var images = rand(new long[] { n, 1, 2, 3 }, generator: new Generator(5));
        var output = Augmentation.RandomCropFlip(images, 0, new Generator(11));
        var same = output.flatten(1).eq(images.flatten(1)).all(1);                    // (B)
        var mirrored = output.flatten(1).eq(images.flip(3).flatten(1)).all(1);        // (B)
        Assert.True(same.logical_or(mirrored).all().item<bool>());
        double rate = mirrored.to_type(ScalarType.Float64).mean().item<double>();
        // binomial(4000, 1/2): standard error 0.0079, so +-0.04 is five standard errors
        Assert.InRange(rate, 0.46, 0.54);
    }

    [Fact]
    public void RandomCropFlip_SameSeed_SameBatch_OtherSeed_Other()
    {
        var images = rand(new long[] { 16, 3, 8, 8 }, generator: new Generator(1));
        var a = Augmentation.RandomCropFlip(images, 4, new Generator(42));
        var b = Augmentation.RandomCropFlip(images, 4, new Generator(42));
        var c = Augmentation.RandomCropFlip(images, 4, new Generator(43));
        Assert.Equal(images.shape, a.shape);
        Assert.True(a.eq(b).all().item<bool>());
        Assert.False(a.eq(c).all().item<bool>());
    }

    [Fact]
    public void RandomCropFlip_MovesContentByAtMostThePadding_AndFillsWithZeros()
    {
        var images = ones(new long[] { 200, 1, 6, 6 });
        var output = Augmentation.RandomCropFlip(images, 2, new Generator(9));
        var zerosPerImage = output.eq(0).sum(new long[] { 1, 2, 3 });                 // (B)
        // a shift (a, b) with |a|, |b| <= 2 leaves 36 - (6 - |a|)(6 - |b|) zeros: 0 .. 20
        Assert.True(zerosPerImage.le(20).all().item<bool>());
        Assert.True(zerosPerImage.gt(0).any().item<bool>());
    }
}
