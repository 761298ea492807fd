using PagLab.Cli;
using PagLab.Common;

namespace PagLab.Tests.Cli;

public class ConsoleProgressTests
{
    [Fact]
    public void Update_WithAKnownEta_ShowsIt_InsteadOfItsOwnRate()
    {
        var writer = new StringWriter();
        var before = Console.Out;
        Console.SetOut(writer);
        try
        {
            IProgressSink progress = new ConsoleProgress(TimeSpan.Zero);       // test output is redirected: plain lines
            progress.Update("sweep demo jobs", 1, 13, "running 2", TimeSpan.FromSeconds(75));
            progress.Update("sweep demo jobs", 2, 13, "running 2");            // no known ETA: its own rate
        }
        finally { Console.SetOut(before); }
        var lines = writer.ToString().Split('\n').Where(l => l.StartsWith("sweep demo jobs")).ToList();
        Assert.Contains("sweep demo jobs: 1/13 (8%) running 2 ETA 01:15", lines[0]);
        Assert.DoesNotContain("ETA 01:15", lines[1]);
    }
}
