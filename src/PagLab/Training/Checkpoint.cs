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
    public double LossSum { get; init; }
    public double CrossEntropySum { get; init; }
    public double PenaltySum { get; init; }
    public long Correct { get; init; }
    public long Seen { get; init; }
    public double Seconds { get; init; }
}

/// <summary>
/// checkpoint/ holds model.safetensors, optimizer.bin and position.json. A new checkpoint is written
/// to checkpoint.new/ and swapped in by renames, so a kill at any moment leaves a complete one
/// (checkpoint/ or, between the two renames, checkpoint.old/).
/// </summary>
public static class Checkpoint
{
    const string ModelFile = "model.safetensors", OptimizerFile = "optimizer.bin", PositionFile = "position.json";

    public static void Save(string runDir, nn.Module model, OptimizerHelper optimizer, TrainPosition position)
    {
        string final = Path.Combine(runDir, RunFiles.Checkpoint), fresh = final + ".new", old = final + ".old";
        if (Directory.Exists(fresh)) Directory.Delete(fresh, recursive: true);
        Directory.CreateDirectory(fresh);
        SafeTensors.Write(Path.Combine(fresh, ModelFile), SavedModel.StateDict(model));
        using (var memory = new MemoryStream())
        {
            using (var writer = new BinaryWriter(memory, System.Text.Encoding.UTF8, leaveOpen: true)) optimizer.save_state_dict(writer);
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

    public static TrainPosition Load(string checkpointDir, nn.Module model, OptimizerHelper optimizer)
    {
        var tensors = SafeTensors.Read(Path.Combine(checkpointDir, ModelFile));
        try { SavedModel.LoadStateDict(model, tensors, Path.Combine(checkpointDir, ModelFile)); }
        finally { foreach (var t in tensors.Values) t.Dispose(); }
        using (var stream = File.OpenRead(Path.Combine(checkpointDir, OptimizerFile)))
        using (var reader = new BinaryReader(stream)) optimizer.load_state_dict(reader);
        return JsonFiles.Read<TrainPosition>(Path.Combine(checkpointDir, PositionFile));
    }
}
