using System.Text.Json;
using System.Text.Json.Nodes;
using PagLab.IO;
using TorchSharp;

namespace PagLab.Training;

/// <summary>
/// TensorBoard log of a training run through TorchSharp's own SummaryWriter (an events.out.tfevents.* file
/// per session in the folder; a resumed run adds a file, TensorBoard merges them): per optimiser step
/// `step/loss` and `step/lr`, per epoch every number of the epoch's metrics line as `epoch/NAME`
/// (nested numbers as `epoch/NAME/KEY`, e.g. the denoiser's loss per sigma bucket; the classifier's test loss
/// as `epoch/testLoss`), the run's config as text (`config`, TensorBoard's Text tab) and images a step draws
/// per epoch (the classifier's input gradients of fixed test images, `gradients`, Images tab).
/// </summary>
public sealed class TensorboardLog
{
    readonly TorchSharp.Modules.SummaryWriter writer;

    public TensorboardLog(string dir)
    {
        Directory.CreateDirectory(dir);
        writer = torch.utils.tensorboard.SummaryWriter(dir);
    }

    public string Dir => writer.LogDir;

    public void Step(long step, double loss, double learningRate)
    {
        Add("step/loss", loss, step);
        Add("step/lr", learningRate, step);
    }

    public void Epoch<TEpoch>(TEpoch line) where TEpoch : IEpochRecord
    {
        var node = JsonSerializer.SerializeToNode(line, JsonFiles.Options)!.AsObject();
        foreach (var (name, value) in node)
            if (name != "epoch") AddNumbers($"epoch/{name}", value, line.Epoch);
    }

    /// <summary>Text at step 0 (the text plugin renders it as Markdown: a code block keeps JSON readable).</summary>
    public void Text(string tag, string markdown) =>
        writer.add_text(tag, markdown, 0, DateTimeOffset.UtcNow.ToUnixTimeSeconds());

    /// <summary>An RGB image (3, H, W) with values in [0, 1], written as PNG.</summary>
    public void Image(string tag, torch.Tensor image, long step) =>
        writer.add_img(tag, image, checked((int)step), DateTimeOffset.UtcNow.ToUnixTimeSeconds());

    void AddNumbers(string tag, JsonNode? node, long step)
    {
        if (node is JsonObject obj)
            foreach (var (key, value) in obj) AddNumbers($"{tag}/{key}", value, step);
        else if (node is JsonValue value && value.TryGetValue(out double number))
            Add(tag, number, step);
    }

    void Add(string tag, double value, long step) =>
        writer.add_scalar(tag, (float)value, checked((int)step), DateTimeOffset.UtcNow.ToUnixTimeSeconds());
}
