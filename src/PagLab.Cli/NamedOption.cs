using System.CommandLine;
using PagLab.Common;

namespace PagLab.Cli;

/// <summary>
/// An option whose value is a name from a vocabulary (objective, optimizer, split, ...): the names it accepts,
/// its completions and its help come from the enum's name table; a wrong name is a one-line parse error
/// listing the names, with a did-you-mean.
/// </summary>
public static class NamedOption
{
    public static Option<T> Create<T>(string flag, string description, T defaultValue) where T : struct, Enum
    {
        var option = new Option<T>(flag)
        {
            Description = $"{description} ({Vocabulary.Describe<T>()}; default {Vocabulary.Name(defaultValue)})",
            HelpName = string.Join("|", Vocabulary.Names<T>()),
            DefaultValueFactory = _ => defaultValue,
            CustomParser = result =>
            {
                string text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
                if (Vocabulary.TryParse(text, out T value)) return value;
                result.AddError(Vocabulary.Problem<T>(text, flag));
                return default;
            },
        };
        option.CompletionSources.Add(Vocabulary.Names<T>().ToArray());
        return option;
    }
}
