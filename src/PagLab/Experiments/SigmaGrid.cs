using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using PagLab.Common;

namespace PagLab.Experiments;

/// <summary>
/// A grid of noise levels like "0,logspace(-2,1,30)" or "0.1,0.2,linspace(0.5,2,4)": numbers, numpy-style
/// logspace(a, b, n) = 10^linspace(a, b, n) and linspace(a, b, n), comma-separated, in order. Parsed when read
/// (a spec key holds the grid, its values checked); files keep the text as written.
/// </summary>
[JsonConverter(typeof(SigmaGridJsonConverter))]
public sealed record SigmaGrid
{
    public SigmaGrid(string text, string option = "sigmas")
    {
        Text = text;
        values = Parse(text, option);
    }

    readonly double[] values;

    /// <summary>The grid as written.</summary>
    public string Text { get; }

    public IReadOnlyList<double> Values => values;

    public bool Equals(SigmaGrid? other) => other is not null && other.Text == Text;

    public override int GetHashCode() => Text.GetHashCode(StringComparison.Ordinal);

    public override string ToString() => Text;

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

/// <summary>A grid as its text in JSON; a text that does not parse is reported at its key.</summary>
public sealed class SigmaGridJsonConverter : JsonConverter<SigmaGrid>
{
    public override SigmaGrid Read(ref Utf8JsonReader reader, Type type, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String)
            throw new UnknownNameException(key => $"{key} must be a text such as \"0,logspace(-2,1,30)\"", "sigmas");
        string text = reader.GetString()!;
        try { return new SigmaGrid(text); }
        catch (PagLabException) { throw new UnknownNameException(key => Problem(text, key), "sigmas"); }
    }

    public override void Write(Utf8JsonWriter writer, SigmaGrid value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.Text);

    /// <summary>The parser's message, worded for the key the grid stood at.</summary>
    static string Problem(string text, string key)
    {
        try { SigmaGrid.Parse(text, key); }
        catch (PagLabException e) { return e.Message; }
        return key;
    }
}
