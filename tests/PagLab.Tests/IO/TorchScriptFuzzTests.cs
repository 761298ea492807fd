using System.Collections.Concurrent;
using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using PagLab.Common;
using PagLab.Models;
using PagLab.Tests.Models;

namespace PagLab.Tests.IO;

/// <summary>
/// The TorchScript surface under hostile input, as <see cref="FuzzTests"/> does for file formats: mutants of a
/// valid archive (bytes flipped, cut short, entries removed, truncated or garbled, code edited) and scripted
/// modules that loop, allocate 4 TiB, raise, or return a dict, list, string, int, None or a mixed tuple. Each
/// goes through the whole import (probe child, then the in-process load) and must give a model or one
/// PagLabException line, within the probe's time limit plus start-up; the test process never aborts.
/// Deterministic (fixed seeds); every case costs a child process, so the counts stay modest.
/// </summary>
public class TorchScriptFuzzTests(ITestOutputHelper output)
{
    const int Flips = 8, Cuts = 4;
    static readonly TimeSpan Limit = TimeSpan.FromSeconds(20), LoopLimit = TimeSpan.FromSeconds(5);

    static string Hostile(string name) => Path.Combine(TorchScriptFixtures.Folder, "hostile", name);

    /// <summary>The seed archive's entries, in order, to rewrite with one change.</summary>
    static List<(string Name, byte[] Data)> Entries(byte[] archive)
    {
        using var zip = new ZipArchive(new MemoryStream(archive), ZipArchiveMode.Read);
        return zip.Entries.Select(e =>
        {
            using var s = e.Open();
            var m = new MemoryStream();
            s.CopyTo(m);
            return (e.FullName, m.ToArray());
        }).ToList();
    }

    static byte[] Zip(IEnumerable<(string Name, byte[] Data)> entries)
    {
        var m = new MemoryStream();
        using (var zip = new ZipArchive(m, ZipArchiveMode.Create, leaveOpen: true))
            foreach (var (name, data) in entries)
                using (var s = zip.CreateEntry(name, CompressionLevel.NoCompression).Open()) s.Write(data);
        return m.ToArray();
    }

    /// <summary>(case name, archive bytes) for every mutant of the seed.</summary>
    static IEnumerable<(string Case, byte[] Bytes)> Mutants(byte[] seed)
    {
        var random = new Random(21);
        for (int i = 0; i < Flips; i++)
        {
            var bytes = (byte[])seed.Clone();
            int count = 1 + random.Next(8);
            for (int j = 0; j < count; j++) bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
            yield return ($"flip{i}x{count}", bytes);
        }
        for (int i = 0; i < Cuts; i++) yield return ($"cut{i}", seed[..random.Next(seed.Length)]);
        var entries = Entries(seed);
        yield return ("rewritten", Zip(entries));
        foreach (var suffix in new[] { "/data.pkl", "/constants.pkl", "/version", "/data/0", "code/__torch__.py" })
            yield return ($"without {suffix}", Zip(entries.Where(e => !e.Name.EndsWith(suffix,
                StringComparison.Ordinal))));
        foreach (var suffix in new[] { "/data.pkl", "code/__torch__.py", "/data/0" })
            yield return ($"half of {suffix}", Zip(entries.Select(e => e.Name.EndsWith(suffix,
                StringComparison.Ordinal) ? (e.Name, e.Data[..(e.Data.Length / 2)]) : e)));
        yield return ("garbled data.pkl", Zip(entries.Select(e => e.Name.EndsWith("/data.pkl",
            StringComparison.Ordinal) ? (e.Name, Enumerable.Repeat((byte)0x80, e.Data.Length).ToArray()) : e)));
        yield return ("code with a syntax error", Zip(entries.Select(e => e.Name.EndsWith("code/__torch__.py",
            StringComparison.Ordinal) ? (e.Name, Encoding.UTF8.GetBytes("def forward(self, x:\n")) : e)));
        yield return ("code calling itself", Zip(entries.Select(e => e.Name.EndsWith("code/__torch__.py",
            StringComparison.Ordinal) ? (e.Name, Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(e.Data)
                .Replace("return (fc).forward(", "return self.forward(x) + (fc).forward("))) : e)));
    }

    [Fact]
    public void EveryMutantOrOddModule_IsImportedOrRefusedInOneLine_InBoundedTime()
    {
        string dir = TestPaths.TempDir("ts-fuzz");
        var cases = new List<(string Case, string Path, TimeSpan Limit)>();
        foreach (var (name, bytes) in Mutants(File.ReadAllBytes(Hostile("fuzz_seed.pt"))))
        {
            string path = Path.Combine(dir, $"{cases.Count:00}.pt");
            File.WriteAllBytes(path, bytes);
            cases.Add((name, path, Limit));
        }
        foreach (var odd in Directory.GetFiles(Path.Combine(TorchScriptFixtures.Folder, "hostile"), "odd_*.pt"))
            cases.Add((Path.GetFileNameWithoutExtension(odd), odd, Limit));
        cases.Add(("loop", Hostile("loop.pt"), LoopLimit));

        var outcomes = new ConcurrentDictionary<string, string>();
        Parallel.ForEach(cases, new ParallelOptions { MaxDegreeOfParallelism = 2 }, c =>
        {
            var clock = Stopwatch.StartNew();
            string outcome;
            try
            {
                using var model = TorchScriptClassifier.Import(c.Path,
                    new TorchScriptClassifier.InputContract("shapes", Array.Empty<string>()), c.Limit);
                outcome = "imported";
            }
            catch (PagLabException e)
            {
                Assert.DoesNotContain("\n", e.Message);
                Assert.DoesNotContain("internal error", e.Message);
                outcome = "refused: " + e.Message.Replace(c.Path, "FILE");
            }
            Assert.True(clock.Elapsed < c.Limit + TimeSpan.FromSeconds(30), $"{c.Case}: {clock.Elapsed}");
            outcomes[c.Case] = outcome;
        });
        foreach (var (name, outcome) in outcomes.OrderBy(o => o.Key, StringComparer.Ordinal))
            output.WriteLine($"{name}: {outcome}");
        int imported = outcomes.Values.Count(o => o == "imported");
        output.WriteLine($"{cases.Count} cases: {imported} imported, {cases.Count - imported} refused in one line");
        Assert.Equal(cases.Count, outcomes.Count);
        // the identity rewrite imports (so a refused entry-level mutant is refused for its change), and every odd
        // module is refused
        Assert.Equal("imported", outcomes["rewritten"]);
        Assert.All(outcomes.Where(o => o.Key.StartsWith("odd_", StringComparison.Ordinal) || o.Key == "loop"),
            o => Assert.StartsWith("refused: ", o.Value));
    }
}
