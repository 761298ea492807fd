using System.CommandLine;
using PagLab.Common;

namespace PagLab.Cli;

/// <summary>A group of related subcommands (data, train, measure, ...), found by reflection.</summary>
public interface ICommandGroup
{
    void Register(RootCommand root);
}

/// <summary>Runs the parsed command; turns every failure into one line on stderr and a non-zero exit.</summary>
public static class CommandRunner
{
    public static int Run(RootCommand root, string[] args)
    {
        if (args.Length == 0) args = new[] { "--help" };
        var parse = root.Parse(args);
        bool verbose = parse.GetValue(CommonOptions.Verbose);
        if (parse.Errors.Count > 0)
        {
            // One line, not the whole help page: the user sees what is wrong at once.
            // The most specific problem first: an unknown word beats "a subcommand is required".
            var first = parse.Errors
                .OrderBy(e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal) ? 0 : 1).First();
            Console.Error.WriteLine($"error: {Escaped(first.Message)} (see "
                + $"'{string.Join(' ', CommandPath(parse).Prepend("paglab"))} --help')");
            return 2;
        }
        try
        {
            // Every tensor a command makes belongs to a scope and is freed on this thread: tensors left to the
            // GC finalizer thread are freed concurrently with libtorch work, which can corrupt the native heap.
            using var tensors = TorchSharp.torch.NewDisposeScope();
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e)
        {
            Console.Out.Flush();
            var inner = e is AggregateException { InnerExceptions.Count: 1 } agg ? agg.InnerException! : e;
            string message = inner switch
            {
                PagLabException p => OptionNames.AsFlags(p.Message, parse.CommandResult.Command),
                FileNotFoundException f => $"file not found: {f.FileName ?? f.Message}",
                DirectoryNotFoundException d => $"folder not found: {d.Message}",
                UnauthorizedAccessException u => $"permission denied: {u.Message}",
                IOException io => $"I/O error: {io.Message}",
                OperationCanceledException => "cancelled",
                _ => $"internal error ({inner.GetType().Name}): {FirstLine(inner.Message)}",
            };
            // A message is one line by design: a newline in it comes from a value (a path), so it is shown escaped,
            // never cut (only an internal error's message, libtorch's with its trace, is cut to its first line).
            Console.Error.WriteLine($"error: {Escaped(message)}");
            if (verbose) Console.Error.WriteLine(Details(inner));
            else if (inner is not PagLabException) Console.Error.WriteLine("(run again with --verbose for details)");
            return inner is PagLabException ? 2 : 1;
        }
    }

    static IEnumerable<string> CommandPath(ParseResult parse)
    {
        var names = new List<string>();
        for (var r = parse.CommandResult; r is not null && r.Command is not RootCommand; r =
            r.Parent as System.CommandLine.Parsing.CommandResult)
            names.Insert(0, r.Command.Name);
        return names;
    }

    static string FirstLine(string s) => s.Split('\n')[0].TrimEnd('\r');

    /// <summary>Control characters as escapes (\n, \t, \x1b), so the message stays one whole line.</summary>
    public static string Escaped(string s) => System.Text.RegularExpressions.Regex.Replace(s, @"\p{Cc}", m =>
        m.Value[0] switch { '\n' => "\\n", '\r' => "\\r", '\t' => "\\t", var c => $"\\x{(int)c:x2}" });

    /// <summary>--verbose: the exception's type and stack (and those of its causes), without repeating the error
    /// line printed above it.</summary>
    static string Details(Exception e)
    {
        var text = new System.Text.StringBuilder($"{e.GetType().FullName}\n{e.StackTrace}");
        for (var cause = e.InnerException; cause is not null; cause = cause.InnerException)
            text.Append($"\ncaused by {cause.GetType().FullName}: {cause.Message}\n{cause.StackTrace}");
        return text.ToString();
    }
}
