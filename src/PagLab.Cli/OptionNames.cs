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
    };

    public static string AsFlags(string message, Command command)
    {
        int end = message.IndexOf(' ');
        if (end <= 0 || !char.IsLower(message[0]) || !message[..end].All(char.IsLetterOrDigit)) return message;
        string property = message[..end];
        string kebab = string.Concat(property.Select(c => char.IsUpper(c) ? $"-{char.ToLowerInvariant(c)}" : $"{c}"));
        string flag = Renamed.GetValueOrDefault(property) ?? "--" + kebab;
        return command.Options.Any(o => o.Name == flag || o.Aliases.Contains(flag)) ? flag + message[end..] : message;
    }
}
