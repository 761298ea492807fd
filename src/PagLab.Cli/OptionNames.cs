using System.CommandLine;
using System.Text.RegularExpressions;

namespace PagLab.Cli;

/// <summary>
/// The library never names a flag: its messages name config properties in camelCase, as a sweep spec spells
/// them, either at the start ("learningRate must be ...", "pixelRange: expected ...") or elsewhere in backticks
/// ("pass `resume` to continue it"). On the command line the user typed flags, so each property of the
/// running command is shown as its flag ("--lr must be ...", "pass --resume to continue it"); a property the
/// command has no flag for keeps its spelling.
/// </summary>
public static partial class OptionNames
{
    // Properties whose flag is not their kebab-case name (the first one the command has is used).
    static readonly Dictionary<string, string[]> Renamed = new()
    {
        ["learningRate"] = ["--lr"], ["checkpointEveryBatches"] = ["--checkpoint-every"],
        ["baseChannels"] = ["--channels"], ["hiddenWidth"] = ["--width"], ["epsilons"] = ["--eps"],
        ["pgd.steps"] = ["--steps"],
        ["pgd.alphaFactor"] = ["--alpha-factor"], ["lpipsWeights"] = ["--lpips-weights", "--weights"],
    };

    [GeneratedRegex("^([a-z][A-Za-z0-9.]*)(?=[ :])")]
    private static partial Regex Leading();

    [GeneratedRegex("`([a-z][A-Za-z0-9.]*)`")]
    private static partial Regex Quoted();

    public static string AsFlags(string message, Command command)
    {
        var lead = Leading().Match(message);
        if (lead.Success && FlagOf(lead.Groups[1].Value, command) is string flag)
            message = flag + message[lead.Length..];
        return Quoted().Replace(message, m => FlagOf(m.Groups[1].Value, command) ?? m.Value);
    }

    /// <summary>The command's flag for a property, or null when it has none.</summary>
    public static string? FlagOf(string property, Command command)
    {
        string kebab = "--" + string.Concat(property.Select(c =>
            char.IsUpper(c) ? $"-{char.ToLowerInvariant(c)}" : $"{c}"));
        var candidates = Renamed.GetValueOrDefault(property) ?? [kebab];
        return candidates.FirstOrDefault(f => command.Options.Any(o => o.Name == f || o.Aliases.Contains(f)));
    }
}
