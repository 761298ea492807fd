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
        var resolved = options.TypeInfoResolver is null ? new JsonSerializerOptions(options) { TypeInfoResolver =
            new DefaultJsonTypeInfoResolver() } : options;
        try { Check(node, resolved.GetTypeInfo(type), resolved, path, ""); }
        catch (ArgumentException e) { throw new DataFormatException(path,
            $"duplicate key ({e.Message.Split('\n')[0]})"); }
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
                        string? hint = Common.Spelling.Suggest(key, known.Keys);
                        throw new DataFormatException(path,
                            $"unknown key '{at}'{(hint is null ? "" : $" (did you mean '{hint}'?)")}");
                    }
                    Check(value, options.GetTypeInfo(property.PropertyType), options, path, at);
                }
                break;
            case JsonTypeInfoKind.Enumerable when node is JsonArray array && info.ElementType is { } element:
                for (int i = 0; i < array.Count; i++) Check(array[i], options.GetTypeInfo(element), options, path,
                    $"{where}[{i}]");
                break;
            case JsonTypeInfoKind.Dictionary when node is JsonObject map && info.ElementType is { } valueType:
                foreach (var (key, value) in map) Check(value, options.GetTypeInfo(valueType), options, path,
                    $"{where}.{key}");
                break;
        }
    }
}
