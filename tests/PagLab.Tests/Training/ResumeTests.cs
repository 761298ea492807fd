using System.Diagnostics;
using System.Text.Json;
using PagLab.Tests.Cli;
using PagLab.Training;

namespace PagLab.Tests.Training;

/// <summary>SIGKILL at any moment, then --resume: an uninterrupted run's bytes, for every kind of training.</summary>
public class ResumeTests
{
    public static TheoryData<string, string> Kinds => new()
    {
        { "classifier", "model.safetensors" },
        { "autoencoder", "autoencoder.safetensors" },
        { "denoiser", "denoiser.safetensors" },
    };

    /// <summary>A run's command line; extra "--name value" pairs replace the defaults, a lone flag is added.</summary>
    static string[] Args(string kind, string dir, params string[] extra)
    {
        var options = new Dictionary<string, string>
        {
            ["--dataset"] = "shapes", ["--epochs"] = "2", ["--batch-size"] = "32", ["--checkpoint-every"] = "5",
            ["--seed"] = "7", ["--threads"] = "1", ["--out"] = dir,
        };
        var flags = new List<string>();
        for (int i = 0; i < extra.Length; i++)
            if (i + 1 < extra.Length && !extra[i + 1].StartsWith("--", StringComparison.Ordinal))
                options[extra[i]] = extra[++i];
            else flags.Add(extra[i]);
        string[] command = kind switch
        {
            "classifier" => new[]
            {
                "train", "--objective", "smooth", "--lambda", "0.1", "--sigma", "0.1",
                "--train-size", "2000", "--test-size", "200", "--augment", "crop-flip",
            },
            "autoencoder" => new[]
            {
                "autoencoder", "train", "--kind", "vae", "--latent", "4", "--train-size", "1000", "--test-size", "50",
            },
            _ => new[] { "denoiser", "train", "--channels", "8", "--train-size", "800" },
        };
        return command.Concat(options.SelectMany(o => new[] { o.Key, o.Value })).Concat(flags).ToArray();
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void RunKilledMidEpoch_ResumesToBitIdenticalWeights_AndRefusesOtherOptions(string kind, string artefact)
    {
        string reference = TestPaths.TempDir("ref"), killed = TestPaths.TempDir("killed");
        Directory.Delete(reference); Directory.Delete(killed);
        var full = CliProcess.Run(Args(kind, reference));
        Assert.True(full.ExitCode == 0, full.Stderr);

        // Start the same run, SIGKILL it once it has checkpointed mid-epoch, then resume.
        using (var process = Process.Start(CliProcess.StartInfo(Args(kind, killed)))!)
        {
            var position = Path.Combine(killed, "checkpoint", "position.json");
            var clock = Stopwatch.StartNew();
            while (MidEpochBatch(position) is null && clock.Elapsed < TimeSpan.FromMinutes(2) && !process.HasExited)
                Thread.Sleep(20);
            Assert.False(process.HasExited, "the run finished before it could be killed");
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
        Assert.False(File.Exists(Path.Combine(killed, artefact)));

        var other = CliProcess.Run(Args(kind, killed, "--resume", "--batch-size", "16"));
        Assert.Equal(2, other.ExitCode);
        Assert.Contains("batchSize 32 -> 16", other.Stderr);
        Assert.Single(other.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        var resumed = CliProcess.Run(Args(kind, killed, "--resume", "--checkpoint-every", "3"));   // cadence may change
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        Assert.Contains("resuming", resumed.Stdout);
        Assert.Equal(File.ReadAllBytes(Path.Combine(reference, artefact)),
                     File.ReadAllBytes(Path.Combine(killed, artefact)));
        Assert.Equal(2, File.ReadAllLines(Path.Combine(killed, RunFiles.Metrics)).Length);
        var info = RunFiles.ReadInfo(killed)!;
        Assert.Equal((RunStatus.Completed, RunFolder.CurrentFormat, 1),
                     (info.Status, info.FormatVersion, info.Threads));
    }

    /// <summary>The batch of a mid-epoch checkpoint, or null while there is none.</summary>
    static int? MidEpochBatch(string path)
    {
        try
        {
            using var json = JsonDocument.Parse(File.ReadAllText(path));
            int batch = json.RootElement.GetProperty("batch").GetInt32();
            return batch > 0 ? batch : null;
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException) { return null; }
    }
}
