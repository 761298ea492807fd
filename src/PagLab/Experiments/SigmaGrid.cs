using System.Globalization;
using PagLab.Common;

namespace PagLab.Experiments;

/// <summary>
/// Parses grids like "0,logspace(-2,1,30)" or "0.1,0.2,linspace(0.5,2,4)": numbers, numpy-style
/// logspace(a, b, n) = 10^linspace(a, b, n) and linspace(a, b, n), comma-separated, in order.
/// </summary>
public static class SigmaGrid
{
    public static double[] Parse(string text, string option = "sigmas")
    {
        var values = new List<double>();
        foreach (var item in SplitTopLevel(text))
        {
            string t = item.Trim();
            if (t.Length == 0) continue;
            int open = t.IndexOf('(');
            if (open > 0 && t.EndsWith(')'))
            {
                string fn = t[..open].Trim();
                var args = t[(open + 1)..^1].Split(',').Select(a => Number(a, option, text)).ToArray();
                if (args.Length != 3 || args[2] < 1 || args[2] != Math.Floor(args[2]) || args[2] > 100_000)
                    throw new PagLabException($"{option}: '{t}' needs three arguments (start, stop, count >= 1)");
                int n = (int)args[2];
                var grid = Enumerable.Range(0,
                    n).Select(i => n == 1 ? args[0] : args[0] + (args[1] - args[0]) * i / (n - 1));
                values.AddRange(fn switch
                {
                    "logspace" => grid.Select(v => Math.Pow(10, v)),
                    "linspace" => grid,
                    _ => throw new PagLabException($"{option}: unknown function '{fn}' (use logspace or linspace)"),
                });
            }
            else values.Add(Number(t, option, text));
        }
        if (values.Count == 0) throw new PagLabException($"{option}: '{text}' gives no values");
        if (values.Any(v => v < 0
            || !double.IsFinite(v))) throw new PagLabException($"{option}: values must be finite and >= 0");
        return values.ToArray();
    }

    static double Number(string s, string option, string whole) =>
        double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var v)
            ? v : throw new PagLabException($"{option}: cannot read '{s.Trim()}' in '{whole}'");

    static IEnumerable<string> SplitTopLevel(string text)
    {
        int depth = 0, start = 0;
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] == '(') depth++;
            else if (text[i] == ')') depth--;
            else if (text[i] == ',' && depth == 0) { yield return text[start..i]; start = i + 1; }
            if (depth < 0) throw new PagLabException($"unbalanced parentheses in '{text}'");
        }
        if (depth != 0) throw new PagLabException($"unbalanced parentheses in '{text}'");
        yield return text[start..];
    }
}
