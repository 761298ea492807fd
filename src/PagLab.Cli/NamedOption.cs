using System.CommandLine;
using PagLab.Common;

namespace PagLab.Cli;

/// <summary>
/// An option whose value is a name from a vocabulary (objective, optimizer, split, ...): the names it accepts,
/// its completions and its help come from the enum's name table; a wrong name is a one-line parse error
/// listing the names, with a did-you-mean. Read it with <see cref="ValueIn"/>. (The default is kept here, not
/// in DefaultValueFactory, because help would print it as the enum member, "Standard", not its name.)
/// </summary>
public sealed class NamedOption<T> : Option<T?> where T : struct, Enum
{
    public NamedOption(string flag, string description, T defaultValue)
        : this(flag, description, Vocabulary.Name(defaultValue)) => Default = defaultValue;

    /// <summary>An option whose default is decided later (<paramref name="defaultText"/> says how): read it with
    /// GetValue, null when not given.</summary>
    public NamedOption(string flag, string description, string defaultText) : base(flag)
    {
        Description = $"{description} ({Vocabulary.Describe<T>()}) [default: {defaultText}]";
        HelpName = string.Join("|", Vocabulary.Names<T>());
        CustomParser = result =>
        {
            string text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
            if (Vocabulary.TryParse(text, out T value)) return value;
            result.AddError(Vocabulary.Problem<T>(text, flag));
            return null;
        };
        CompletionSources.Add(Vocabulary.Names<T>().ToArray());
    }

    public T Default { get; }   // default(T) for an option whose default is decided later

    /// <summary>The value given on the command line, else the default.</summary>
    public T ValueIn(ParseResult parse) => parse.GetValue(this) ?? Default;
}

public static class NamedOption
{
    public static NamedOption<T> Create<T>(string flag, string description, T defaultValue) where T : struct, Enum =>
        new(flag, description, defaultValue);

    /// <summary>A named option without a fixed default; <paramref name="defaultText"/> says what its absence
    /// means.</summary>
    public static NamedOption<T> Optional<T>(string flag, string description, string defaultText)
        where T : struct, Enum => new(flag, description, defaultText);
}
