using System.Runtime.InteropServices;
using System.Text.Json.Serialization;
using PagLab.Common;
using PagLab.IO;
using PagLab.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PagLab.Training;

/// <summary>Where a run stands: the next batch to run and the running sums of the current epoch.</summary>
public sealed record TrainPosition
{
    public int Epoch { get; init; }
    public int Batch { get; init; }
    public long Seen { get; init; }
    public double Seconds { get; init; }
    /// <summary>The epoch's sums over its images so far, by name (loss, crossEntropy, correct, ...).</summary>
    public Dictionary<string, double> Sums { get; init; } = new();

    // Format 1 (classifier checkpoints before the shared loop) had named fields; read, never written.
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public double LossSum { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public double CrossEntropySum { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public double PenaltySum { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public long Correct { get; init; }

    /// <summary>A format-1 position in today's form.</summary>
    public TrainPosition Upgraded() => Sums.Count > 0 || Seen == 0 ? this : new TrainPosition
    {
        Epoch = Epoch, Batch = Batch, Seen = Seen, Seconds = Seconds,
        Sums = new()
        {
            ["loss"] = LossSum, ["crossEntropy"] = CrossEntropySum, ["penalty"] = PenaltySum, ["correct"] = Correct,
        },
    };
}

/// <summary>
/// checkpoint/ holds model.safetensors, optimizer.bin, position.json and any further module a step
/// keeps (ema.safetensors). A new checkpoint is written to checkpoint.new/ and swapped in by renames,
/// so a kill at any moment leaves a complete one (checkpoint/ or, between the renames, checkpoint.old/).
/// </summary>
public static class Checkpoint
{
    const string ModelFile = "model.safetensors", OptimizerFile = "optimizer.bin", PositionFile = "position.json";

    public static void Save(string runDir, nn.Module model, OptimizerHelper optimizer, TrainPosition position,
                            IReadOnlyDictionary<string, nn.Module>? extra = null)
    {
        string final = Path.Combine(runDir, RunFiles.Checkpoint), fresh = final + ".new", old = final + ".old";
        if (Directory.Exists(fresh)) Directory.Delete(fresh, recursive: true);
        Directory.CreateDirectory(fresh);
        SafeTensors.Write(Path.Combine(fresh, ModelFile), SavedModel.StateDict(model));
        foreach (var (name, module) in extra ?? new Dictionary<string, nn.Module>())
            SafeTensors.Write(Path.Combine(fresh, name + ".safetensors"), SavedModel.StateDict(module));
        using (var memory = new MemoryStream())
        {
            using (var writer = new BinaryWriter(memory, System.Text.Encoding.UTF8, leaveOpen: true))
                OptimizerStateFile.Save(optimizer, writer);
            AtomicFile.WriteAllBytes(Path.Combine(fresh, OptimizerFile), memory.ToArray());
        }
        JsonFiles.Write(Path.Combine(fresh, PositionFile), position);
        if (Directory.Exists(old)) Directory.Delete(old, recursive: true);
        if (Directory.Exists(final)) Directory.Move(final, old);
        Directory.Move(fresh, final);
        if (Directory.Exists(old)) Directory.Delete(old, recursive: true);
    }

    /// <summary>The complete checkpoint folder of a run, if any.</summary>
    public static string? Find(string runDir)
    {
        string final = Path.Combine(runDir, RunFiles.Checkpoint), old = final + ".old";
        if (File.Exists(Path.Combine(final, PositionFile))) return final;
        if (File.Exists(Path.Combine(old, PositionFile))) return old;
        return null;
    }

    /// <summary>
    /// Restores model, optimiser and extra modules; the position must fit the run's shape
    /// (epoch in 0..epochs, batch in 0..batches) or the checkpoint is refused.
    /// </summary>
    public static TrainPosition Load(string checkpointDir, nn.Module model, OptimizerHelper optimizer, int epochs,
                                     int batches, IReadOnlyDictionary<string, nn.Module>? extra = null)
    {
        string positionFile = Path.Combine(checkpointDir, PositionFile);
        var position = JsonFiles.Read<TrainPosition>(positionFile).Upgraded();
        bool fits = position.Epoch >= 0 && position.Epoch <= epochs && position.Batch >= 0 && position.Batch <= batches
                    && (position.Epoch < epochs || position.Batch == 0) && position.Seen >= 0
                    && double.IsFinite(position.Seconds) && position.Sums.Values.All(double.IsFinite);
        if (!fits)
            throw new DataFormatException(positionFile, $"epoch {position.Epoch}, batch {position.Batch} is not a " +
                $"position of this run (epochs 0..{epochs}, batches 0..{batches})");
        SavedModel.LoadWeights(model, Path.Combine(checkpointDir, ModelFile));
        foreach (var (name, module) in extra ?? new Dictionary<string, nn.Module>())
        {
            string file = Path.Combine(checkpointDir, name + ".safetensors");
            if (File.Exists(file)) SavedModel.LoadWeights(module, file);
        }
        string optimizerFile = Path.Combine(checkpointDir, OptimizerFile);
        try
        {
            using var stream = File.OpenRead(optimizerFile);
            using var reader = new BinaryReader(stream);
            OptimizerStateFile.Load(optimizer, reader);
        }
        catch (Exception e) when (e is IOException or ArgumentException or InvalidOperationException
                                      or ExternalException)
        {
            throw new DataFormatException(optimizerFile, $"unreadable optimiser state ({e.Message.Split('\n')[0]})");
        }
        return position;
    }
}
