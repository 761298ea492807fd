using System.Globalization;

namespace PagLab.Tests;

/// <summary>
/// Compares a CSV with a committed golden file: the same header and rows, non-numeric cells exactly, numeric cells
/// within <see cref="Float32Tolerance"/> of their column's scale (the largest |value| in the golden column).
/// Written results print 6 significant digits, so even equal runs differ there across CPUs.
/// </summary>
public static class GoldenCsv
{
    public static void AssertMatches(string expectedPath, string actualPath, double ulps)
    {
        var expected = Read(expectedPath);
        var actual = Read(actualPath);
        Assert.Equal(expected[0], actual[0]); // header
        Assert.Equal(expected.Count, actual.Count);
        var header = expected[0];
        var scales = ColumnScales(expected);
        for (int row = 1; row < expected.Count; row++)
        {
            Assert.True(expected[row].Length == actual[row].Length, $"row {row}: {actual[row].Length} cells, "
                + $"expected {expected[row].Length}");
            for (int col = 0; col < header.Length; col++)
            {
                string e = expected[row][col], a = actual[row][col], where = $"row {row} column {header[col]}";
                if (Number(e) is double ev && Number(a) is double av)
                    Float32Tolerance.AssertClose(av, ev, scales[col], ulps, where);
                else
                    Assert.True(e == a, $"{where}: '{a}', expected '{e}'");
            }
        }
    }

    static double[] ColumnScales(List<string[]> rows) => Enumerable.Range(0, rows[0].Length)
        .Select(col => rows.Skip(1).Select(r => Number(r[col]) is double v ? Math.Abs(v) : 0).DefaultIfEmpty(0).Max())
        .ToArray();

    static double? Number(string cell) =>
        double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v)
            ? v : null;

    /// <summary>Rows of cells; quoted cells may hold commas and doubled quotes (the results writer's
    /// quoting).</summary>
    static List<string[]> Read(string path) => File.ReadAllLines(path).Where(l => l.Length > 0).Select(Split).ToList();

    static string[] Split(string line)
    {
        var cells = new List<string>();
        var cell = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quoted && c == '"' && i + 1 < line.Length && line[i + 1] == '"') { cell.Append('"'); i++; }
            else if (c == '"') quoted = !quoted;
            else if (c == ',' && !quoted) { cells.Add(cell.ToString()); cell.Clear(); }
            else cell.Append(c);
        }
        cells.Add(cell.ToString());
        return cells.ToArray();
    }
}
