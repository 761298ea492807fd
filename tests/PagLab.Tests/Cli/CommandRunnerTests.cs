namespace PagLab.Tests.Cli;

public class CommandRunnerTests
{
    [Fact]
    public void UnknownCommand_GivesOneLineErrorAndExitCode2()
    {
        var r = CliProcess.Run("no-such-command");
        Assert.Equal(2, r.ExitCode);
        var lines = r.Stderr.Trim().Split('\n');
        Assert.Single(lines);
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains("no-such-command", lines[0]);
    }

    [Fact]
    public void Help_ListsCommandsAndExitsZero()
    {
        var r = CliProcess.Run("--help");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("paglab", r.Stdout);
    }
}
