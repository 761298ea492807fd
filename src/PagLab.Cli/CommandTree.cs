using System.CommandLine;

namespace PagLab.Cli;

/// <summary>Command groups ("measure", "figure", ...) that several command files add subcommands to.</summary>
public static class CommandTree
{
    /// <summary>The root's subcommand called <paramref name="name"/>, created on first use.</summary>
    public static Command Group(RootCommand root, string name, string description)
    {
        var existing = root.Subcommands.FirstOrDefault(c => c.Name == name);
        if (existing is not null) return existing;
        var group = new Command(name, description);
        root.Subcommands.Add(group);
        return group;
    }
}
