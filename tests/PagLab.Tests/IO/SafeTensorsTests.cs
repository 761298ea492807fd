using PagLab.Common;
using PagLab.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Tests.IO;

public class SafeTensorsTests
{
    [Fact]
    public void WriteRead_RoundTrip_KeepsValuesTypesShapesAndMetadata()
    {
        string path = Path.Combine(TestPaths.TempDir(), "t.safetensors");
        var tensors = new Dictionary<string, Tensor>
        {
            ["a"] = randn(3, 4), ["b"] = arange(5, dtype: ScalarType.Int64), ["c"] = randn(2,
                dtype: ScalarType.Float64),
            ["d"] = tensor(new byte[] { 1, 2, 250 }),
        };
        SafeTensors.Write(path, tensors, new Dictionary<string, string> { ["k"] = "v" });
        var back = SafeTensors.Read(path, out var meta);
        Assert.Equal("v", meta["k"]);
        foreach (var (name, t) in tensors)
        {
            Assert.Equal(t.dtype, back[name].dtype);
            Assert.Equal(t.shape, back[name].shape);
            Assert.True(t.eq(back[name]).all().item<bool>());
        }
    }

    [Fact]
    public void Read_GivesCleanError_OnEveryMutationOrTruncation()
    {
        string path = Path.Combine(TestPaths.TempDir(), "t.safetensors");
        SafeTensors.Write(path, new Dictionary<string, Tensor> { ["w"] = randn(4, 3), ["b"] = randn(4) });
        byte[] good = File.ReadAllBytes(path);
        var random = new Random(11);
        for (int trial = 0; trial < 1000; trial++)
        {
            var bytes = (byte[])good.Clone();
            if (trial % 2 == 0) bytes = bytes[..random.Next(bytes.Length)];
            else for (int k = 0; k < 1 + random.Next(3); k++) bytes[random.Next(Math.Min(bytes.Length,
                120))] = (byte)random.Next(256);
            try { foreach (var t in SafeTensors.Parse(bytes, path, out _).Values) t.Dispose(); }
            catch (DataFormatException e) { Assert.DoesNotContain("\n", e.Message); }
        }
    }
}
