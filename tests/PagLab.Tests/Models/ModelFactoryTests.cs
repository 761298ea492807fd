using PagLab.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Tests.Models;

public class ModelFactoryTests
{
    static ModelSpec Spec(string arch, int c = 1, int h = 28, int w = 28) => new()
    {
        Arch = PagLab.Common.Vocabulary.Parse<Architecture>(arch, "arch"), Channels = c, Height = h, Width = w,
            Classes = 10, WidthMultiplier = 0.25,
        Mean = Enumerable.Repeat(0.5f, c).ToArray(), Std = Enumerable.Repeat(0.25f, c).ToArray(),
    };

    [Theory]
    [InlineData("smallcnn", 1, 28, 28)]
    [InlineData("smallcnn", 1, 56, 28)]
    [InlineData("lenet", 1, 28, 28)]
    [InlineData("mlp", 1, 28, 28)]
    [InlineData("linear", 1, 28, 28)]
    [InlineData("resnet18", 3, 32, 32)]
    [InlineData("resnet18", 1, 56, 28)]
    public void Create_GivesLogitsOfShapeBatchByClasses(string arch, int c, int h, int w)
    {
        using var model = ModelFactory.Create(Spec(arch, c, h, w), seed: 1);
        using var x = rand(4, c, h, w);
        using var y = model.call(x);
        Assert.Equal(new long[] { 4, 10 }, y.shape);
    }

    [Fact]
    public void SaveLoad_RoundTrip_GivesIdenticalOutputs()
    {
        var spec = Spec("resnet18", 3, 32, 32) with { Activation = "softplus:10" };
        using var model = ModelFactory.Create(spec, seed: 3);
        model.eval();
        string dir = TestPaths.TempDir();
        SavedModel.Save(dir, model, objective: "standard");
        using var loaded = SavedModel.Load(dir);
        using var x = rand(2, 3, 32, 32);
        using var a = model.call(x);
        using var b = loaded.call(x);
        Assert.Equal(a.data<float>().ToArray(), b.data<float>().ToArray());
        Assert.Equal("softplus:10", loaded.Spec.Activation);
    }

    [Fact]
    public void ModelSpec_WithUnknownArchitecture_IsRefusedWithOneLineMessage()
    {
        const string json = "{\"arch\": \"vgg99\", \"channels\": 1, \"height\": 28, \"width\": 28, \"classes\": 10}";
        var e = Assert.ThrowsAny<System.Text.Json.JsonException>(() =>
            System.Text.Json.JsonSerializer.Deserialize<ModelSpec>(json, PagLab.IO.JsonFiles.Options));
        Assert.Contains("must be one of resnet18, lenet, smallcnn, mlp, linear, torchscript, got 'vgg99'", e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }
}
