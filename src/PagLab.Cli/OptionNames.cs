using System.CommandLine;

namespace PagLab.Cli;

/// <summary>
/// Library messages name a config property ("learningRate must be ..."), as a sweep spec spells it;
/// on the command line the user typed a flag, so a message that opens with a property of the running
/// command is shown with that command's flag ("--lr must be ...").
/// </summary>
public static class OptionNames
{
    // Properties whose flag is not their kebab-case name.
    static readonly Dictionary<string, string> Renamed = new()
    {
        ["learningRate"] = "--lr", ["checkpointEveryBatches"] = "--checkpoint-every", ["baseChannels"] = "--channels",
        ["epsilons"] = "--eps", ["pgd.steps"] = "--steps", ["pgd.alphaFactor"] = "--alpha-factor",
    };

    public static string AsFlags(string message, Command command)
    {
        int end = message.IndexOf(' ');
        string property = end > 0 ? message[..end] : "";
        bool isProperty = property.Length > 0 && char.IsLower(property[0])
                          && property.All(c => char.IsLetterOrDigit(c) || c == '.');
        if (!isProperty)
            return message;
        string kebab = string.Concat(property.Select(c => char.IsUpper(c) ? $"-{char.ToLowerInvariant(c)}" : $"{c}"));
        string flag = Renamed.GetValueOrDefault(property) ?? "--" + kebab;
        return command.Options.Any(o => o.Name == flag || o.Aliases.Contains(flag)) ? flag + message[end..] : message;
    }
}
