using System.CommandLine;

namespace PagLab.Cli;

/// <summary>Options shared by many commands, declared once. Create a fresh copy per command with the
/// factories.</summary>
public static class CommonOptions
{
    public static readonly Option<bool> Verbose = new("--verbose") { Description =
        "Show full error details (stack traces)", Recursive = true };

    public static Option<string?> DataRoot() => new("--data-root")
    { Description = "Folder holding datasets (default: $PAGLAB_DATA, else ~/.cache/paglab)" };

    public static Option<long> Seed(long defaultValue = 0) => new("--seed")
    { Description = "Random seed", DefaultValueFactory = _ => defaultValue };

    public static Option<string> Device() => new("--device")
    { Description = "cpu or cuda (TorchSharp's CUDA backend, where present)", DefaultValueFactory = _ => "cpu" };

    /// <summary>--threads, checked at parse time (libtorch aborts with a native stack on 0).</summary>
    public static Option<int?> Threads(string description)
    {
        var option = new Option<int?>("--threads") { Description = description };
        option.Validators.Add(result =>
        {
            // read the token, not the value: a value that does not parse (--threads abc) throws here, and the
            // parser reports it by itself
            if (result.Tokens.Count == 1 && int.TryParse(result.Tokens[0].Value, out int t)
                && t is < 1 or > 1024) result.AddError($"--threads must be in 1..1024, got {t}");
        });
        return option;
    }

    public static Option<bool> ChannelsLast(string what = "the model") => new("--channels-last")
    {
        Description = $"Run {what} in channels-last (NHWC) memory: same numbers to float rounding, 1.2-1.4x faster "
            + "convolutions (docs/training.md); --channels-last false for NCHW",
        DefaultValueFactory = _ => true,
    };

    public static Option<string?> Tensorboard(string what = "the run") => new("--tensorboard")
    { Description = $"Write TensorBoard scalars of {what} into this folder (loss and lr per step, metrics per epoch)" };

    public static Option<string> Out(bool required = true, string description = "Output file or folder") => new("--out")
    { Description = description, Required = required };
}
