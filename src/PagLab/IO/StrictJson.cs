using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using PagLab.Common;

namespace PagLab.IO;

/// <summary>
/// Refuses JSON keys the target type does not have, at any depth, before deserialising: a misspelt
/// key ('strenghts', 'Epochs') would otherwise be dropped and its default used without a word.
/// The known names come from the serializer's own contract, so new fields are known at once.
/// </summary>
public static class StrictJson
{
    public static void CheckKeys(JsonNode? node, Type type, JsonSerializerOptions options, string path)
    {
        // A copy with the reflection resolver: options not yet used by the serializer have none.
        var resolved = options.TypeInfoResolver is null ? new JsonSerializerOptions(options) { TypeInfoResolver = new DefaultJsonTypeInfoResolver() } : options;
        try { Check(node, resolved.GetTypeInfo(type), resolved, path, ""); }
        catch (ArgumentException e) { throw new DataFormatException(path, $"duplicate key ({e.Message.Split('\n')[0]})"); }
    }

    static void Check(JsonNode? node, JsonTypeInfo info, JsonSerializerOptions options, string path, string where)
    {
        switch (info.Kind)
        {
            case JsonTypeInfoKind.Object when node is JsonObject obj:
                var known = info.Properties.ToDictionary(p => p.Name, StringComparer.Ordinal);
                foreach (var (key, value) in obj)
                {
                    string at = where.Length == 0 ? key : $"{where}.{key}";
                    if (!known.TryGetValue(key, out var property))
                    {
                        string? hint = Suggest(key, known.Keys);
                        throw new DataFormatException(path, $"unknown key '{at}'{(hint is null ? "" : $" (did you mean '{hint}'?)")}");
                    }
                    Check(value, options.GetTypeInfo(property.PropertyType), options, path, at);
                }
                break;
            case JsonTypeInfoKind.Enumerable when node is JsonArray array && info.ElementType is { } element:
                for (int i = 0; i < array.Count; i++) Check(array[i], options.GetTypeInfo(element), options, path, $"{where}[{i}]");
                break;
            case JsonTypeInfoKind.Dictionary when node is JsonObject map && info.ElementType is { } valueType:
                foreach (var (key, value) in map) Check(value, options.GetTypeInfo(valueType), options, path, $"{where}.{key}");
                break;
        }
    }

    /// <summary>The known name closest to <paramref name="key"/> (same letters in another case, or at most a third of it edited).</summary>
    public static string? Suggest(string key, IEnumerable<string> known)
    {
        var best = known.Select(k => (Name: k, Distance: string.Equals(k, key, StringComparison.OrdinalIgnoreCase) ? 0 : Levenshtein(k.ToLowerInvariant(), key.ToLowerInvariant())))
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
