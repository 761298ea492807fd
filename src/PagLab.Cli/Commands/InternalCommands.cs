using System.CommandLine;
using PagLab.Probe;

namespace PagLab.Cli.Commands;

/// <summary>`paglab internal probe REQUEST`: hidden; the child process in which imported code runs first
/// (<see cref="ProbeProcess"/>).</summary>
public sealed class InternalCommands : ICommandGroup
{
    public void Register(RootCommand root)
    {
        var request = new Argument<string>("request") { Description = "The probe request as JSON" };
        var probe = new Command(ProbeProcess.Command[1], "Run imported code once and report (used by PagLab itself)")
            { Hidden = true };
        probe.Arguments.Add(request);
        probe.SetAction(parse => ProbeChild.Run(parse.GetValue(request)!));
        var group = new Command(ProbeProcess.Command[0], "PagLab's own child processes") { Hidden = true };
        group.Subcommands.Add(probe);
        root.Subcommands.Add(group);
    }
}
