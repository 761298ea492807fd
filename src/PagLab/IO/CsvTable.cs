namespace PagLab.IO;

/// <summary>A CSV table as PagLab writes them: a header of column names, then one line per row, each ended by "\n",
/// written atomically. Cells come formatted (invariant culture); <see cref="Quote"/> guards free text.</summary>
public static class CsvTable
{
    public static void Write(string path, IEnumerable<string> columns, IEnumerable<IEnumerable<string>> rows)
    {
        var lines = rows.Select(cells => string.Join(",", cells)).Prepend(string.Join(",", columns));
        AtomicFile.WriteAllText(path, string.Concat(lines.Select(line => line + "\n")));
    }

    /// <summary>A text cell in double quotes, its own quotes doubled (RFC 4180).</summary>
    public static string Quote(string s) => "\"" + s.Replace("\"", "\"\"") + "\"";
}
