using System.CommandLine;
using PagLab.Cli;
using PagLab.Common;

namespace PagLab.Tests.Cli;

/// <summary>
/// Every command that writes goes through the output policy first (issue 21.1): with `--out ''` each one stops
/// with the policy's line before reading any input (none of the inputs named here exists). In process, through
/// the same command tree as `paglab`.
/// </summary>
public class EveryCommandOutputTests
{
    static RootCommand Root()
    {
        var root = new RootCommand("paglab");
        root.Options.Add(CommonOptions.Verbose);
        foreach (var type in typeof(CommandRunner).Assembly.GetTypes()
                     .Where(t => typeof(ICommandGroup).IsAssignableFrom(t) && !t.IsAbstract && !t.IsInterface))
            ((ICommandGroup)Activator.CreateInstance(type)!).Register(root);
        return root;
    }

    [Theory]
    [InlineData("data show shapes")]
    [InlineData("train --dataset shapes")]
    [InlineData("eval --model m --dataset shapes")]
    [InlineData("model import f.pt --dataset shapes")]
    [InlineData("model export m")]
    [InlineData("autoencoder train --dataset shapes")]
    [InlineData("tangents --dataset shapes")]
    [InlineData("tangents check")]
    [InlineData("tangents show t.safetensors --dataset shapes")]
    [InlineData("measure manifold --model m --tangents t --dataset shapes")]
    [InlineData("measure theorem1 --model m --tangents t --dataset shapes")]
    [InlineData("measure kscan --models m --dataset shapes")]
    [InlineData("measure distractor --model m")]
    [InlineData("measure alignment --model m --dataset shapes")]
    [InlineData("figure gradients --models m --dataset shapes")]
    [InlineData("denoiser train --dataset shapes")]
    [InlineData("denoiser import f.pt --form edm --dataset shapes --pixel-range 0,1")]
    [InlineData("score --denoiser d --dataset shapes")]
    [InlineData("sweep run s.json")]
    [InlineData("sweep run-one s.json --index 0")]
    [InlineData("sweep slurm s.json")]
    [InlineData("results d")]
    [InlineData("report d")]
    [InlineData("demo")]
    public void EmptyOut_IsThePolicysError_BeforeAnyInputIsRead(string command)
    {
        string[] args = [.. command.Split(' '), "--out", ""];
        var parse = Root().Parse(args);
        Assert.Empty(parse.Errors);
        var e = Record.Exception(() => parse.Invoke(new InvocationConfiguration
            { EnableDefaultExceptionHandler = false }));
        if (e is AggregateException { InnerExceptions.Count: 1 } one) e = one.InnerException;
        Assert.IsType<PagLabException>(e);
        Assert.Equal("out is empty: name a " + (e!.Message.EndsWith("folder") ? "folder" : "file"), e.Message);
    }
}
