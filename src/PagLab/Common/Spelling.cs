namespace PagLab.Common;

/// <summary>Did-you-mean for a mistyped key or name.</summary>
public static class Spelling
{
    /// <summary>
    /// The known name closest to <paramref name="key"/> (same letters in another case, or at most a third of it
    /// edited).
    /// </summary>
    public static string? Suggest(string key, IEnumerable<string> known)
    {
        var best = known.Select(k => (Name: k, Distance: string.Equals(k, key, StringComparison.OrdinalIgnoreCase)
                ? 0 : Levenshtein(k.ToLowerInvariant(), key.ToLowerInvariant())))
            .OrderBy(c => c.Distance).FirstOrDefault();
        return best.Name is not null && best.Distance <= Math.Max(2, key.Length / 3) ? best.Name : null;
    }

    static int Levenshtein(string a, string b)
    {
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (int i = 1; i <= a.Length; i++)
        {
            int diagonal = row[0];
            row[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int above = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                diagonal = above;
            }
        }
        return row[b.Length];
    }
}
