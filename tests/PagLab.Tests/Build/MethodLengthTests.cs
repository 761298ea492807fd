using System.Text.RegularExpressions;

namespace PagLab.Tests.Build;

/// <summary>No method in src/ runs over 80 lines (STYLE.md), but for the few listed with their reason.</summary>
public class MethodLengthTests
{
    const int MaxLines = 80;

    static readonly (string File, string Method, string Why)[] Allowed =
    {
        ("src/PagLab/IO/Torch/RestrictedUnpickler.cs", "Run", "the unpickler's opcode loop, one case per opcode"),
    };

    // A declaration with a modifier (or, as a member of a top-level type, a return type alone) and a parameter list
    // that is not an expression body, a type or a field.
    static readonly Regex Declaration = new(
        @"^(?:\s*(?:(?:public|private|internal|protected|static|override|async|virtual|sealed|unsafe)\s+)+"
        + @"| {4}(?!return|await|throw|yield|var|using|if|else|foreach|for|while|switch|lock)[\w<>\[\]?,.]+\s+)"
        + @"[^=;]*?\b(?<name>\w+)\s*(?:<[^>]*>)?\s*\([^;]*$", RegexOptions.Compiled);

    /// <summary>(name, first line, line count) of each method whose body is a block, found by matching braces
    /// (braces inside string and char literals are not counted).</summary>
    internal static IEnumerable<(string Name, int Line, int Lines)> Methods(string text)
    {
        var lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            var m = Declaration.Match(lines[i]);
            if (!m.Success || Regex.IsMatch(lines[i], @"\b(class|record|struct|interface|enum|new)\b|=>")) continue;
            int depth = 0, j = i;
            bool opened = false;
            for (; j < lines.Length; j++)
            {
                string code = Regex.Replace(lines[j], "\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'", "");
                if (!opened && (code.TrimEnd().EndsWith(';') || code.Contains("=>", StringComparison.Ordinal)))
                    break;
                depth += code.Count(c => c == '{') - code.Count(c => c == '}');
                opened |= code.Contains('{');
                if (opened && depth <= 0) break;
            }
            if (!opened) continue;
            yield return (m.Groups["name"].Value, i + 1, j - i + 1);
            i = j;
        }
    }

    [Fact]
    public void Src_HasNoMethodOverEightyLines()
    {
        var found = new List<string>();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(TestPaths.RepoRoot, "src"), "*.cs",
                     SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(TestPaths.RepoRoot, file).Replace('\\', '/');
            if (relative.Contains("/obj/", StringComparison.Ordinal)) continue;
            foreach (var (name, line, count) in Methods(File.ReadAllText(file)))
                if (count > MaxLines && !Allowed.Any(a => a.File == relative && a.Method == name))
                    found.Add($"{relative}:{line} {name}: {count} lines");
        }
        Assert.True(found.Count == 0, $"methods over {MaxLines} lines:\n" + string.Join("\n", found));
    }

    [Fact]
    public void Methods_CountsABlockBodyToItsClosingBrace_IgnoringBracesInStrings()
    {
        string text = "    public static int F(int x)\n    {\n        var s = \"{ not a brace\";\n"
                      + string.Concat(Enumerable.Repeat("        x++;\n", 3)) + "        return x;\n    }\n"
                      + "    public int G() => 1;\n";
        Assert.Equal(new[] { ("F", 1, 8) }, Methods(text).ToArray());
    }
}
