using System.Text.RegularExpressions;
using PagLab.Common;
using PagLab.Data;
using PagLab.Experiments;
using PagLab.Manifold;
using PagLab.Metrics;
using PagLab.Models;
using PagLab.Objectives;

namespace PagLab.Tests.Common;

/// <summary>
/// Every name of a dataset, architecture (classifier or denoiser), objective, LPIPS network, output measure, regime
/// and job status lives in its enum's [Name] table: src/ spells none of them as a string literal elsewhere (comments
/// aside).
/// </summary>
public class VocabularyLiteralsTests
{
    static readonly IReadOnlyList<string> Names = Vocabulary.Names<DatasetName>()
        .Concat(Vocabulary.Names<Architecture>()).Concat(Vocabulary.Names<PagLab.Score.DenoiserArch>())
        .Concat(Vocabulary.Names<ObjectiveKind>())
        .Concat(Vocabulary.Names<LpipsNet>()).Concat(Vocabulary.Names<OutputChange>())
        .Concat(Vocabulary.Names<Regime>()).Concat(Vocabulary.Names<JobState>()).ToArray();

    /// <summary>The literals that must stay, by file: names of something else spelled the same.</summary>
    static readonly (string File, string Literal, string Why)[] Allowed =
    {
        ("src/PagLab/Manifold/Autoencoder.cs", "linear", "a submodule name, part of the autoencoder's file format"),
    };

    static readonly Regex Literal = new("\"((?:[^\"\\\\]|\\\\.)*)\"", RegexOptions.Compiled);

    /// <summary>(line, literal) for each vocabulary name a C# text spells as a whole string literal outside a
    /// [Name(...)] attribute and outside comments.</summary>
    internal static IEnumerable<(int Line, string Name)> NameLiterals(string text)
    {
        var lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string code = lines[i].TrimStart();
            if (code.StartsWith("//", StringComparison.Ordinal)) continue;
            foreach (Match m in Literal.Matches(code))
                if (Names.Contains(m.Groups[1].Value) && !code[..m.Index].EndsWith("[Name(", StringComparison.Ordinal))
                    yield return (i + 1, m.Groups[1].Value);
        }
    }

    [Fact]
    public void Src_SpellsNoVocabularyNameOutsideItsTable()
    {
        string src = Path.Combine(TestPaths.RepoRoot, "src");
        var found = new List<string>();
        foreach (var file in Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(TestPaths.RepoRoot, file).Replace('\\', '/');
            if (relative.Contains("/obj/", StringComparison.Ordinal) || relative.Contains("/bin/",
                StringComparison.Ordinal)) continue;
            foreach (var (line, name) in NameLiterals(File.ReadAllText(file)))
                if (!Allowed.Any(a => a.File == relative && a.Literal == name))
                    found.Add($"{relative}:{line}: \"{name}\"");
        }
        Assert.True(found.Count == 0, "names spelled outside their [Name] tables:\n" + string.Join("\n", found));
    }

    [Fact]
    public void NameLiterals_FindsANameLiteral_ButNotTheTableOrAComment()
    {
        const string text = "    [Name(\"mnist\", \"digits\")] Mnist,\n"
                            + "    // \"cifar10\" in a comment\n"
                            + "    var d = Datasets.Load(\"cifar10\"); var s = \"mnist-like\";\n";
        Assert.Equal(new[] { (3, "cifar10") }, NameLiterals(text).ToArray());
    }
}
