using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using PagLab.Common;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace PagLab.IO;

/// <summary>
/// Reads YAML documents as the JSON they stand for, so every spec type has one (JSON) schema and
/// YAML is only another spelling of it. Plain scalars follow YAML 1.2's core schema (null, booleans,
/// integers, floats incl. .inf/.nan); quoted scalars are always strings.
/// </summary>
public static class YamlFiles
{
    public static bool IsYaml(string path) => Path.GetExtension(path).ToLowerInvariant() is ".yaml" or ".yml";

    /// <summary>A JSON or YAML file (by extension) deserialised with PagLab's JSON options.</summary>
    public static T ReadSpec<T>(string path) => IsYaml(path) ? Read<T>(path) : JsonFiles.Read<T>(path);

    public static T Read<T>(string path)
    {
        if (!File.Exists(path)) throw new PagLabException($"{path}: file not found");
        JsonNode? json;
        try
        {
            json = ToJson(File.ReadAllText(path));
        }
        catch (YamlException e)
        {
            throw new DataFormatException(path, $"invalid YAML at line {e.Start.Line}, column {e.Start.Column} ({e.Message.Split('\n')[0]})");
        }
        try
        {
            return json.Deserialize<T>(JsonFiles.Options) ?? throw new DataFormatException(path, "empty YAML document");
        }
        catch (JsonException e)
        {
            throw new DataFormatException(path, $"unexpected value ({e.Message.Split('\n')[0]})");
        }
    }

    /// <summary>The first document of <paramref name="yaml"/> as a JSON node (null for an empty text).</summary>
    public static JsonNode? ToJson(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        return stream.Documents.Count == 0 ? null : Convert(stream.Documents[0].RootNode);
    }

    static JsonNode? Convert(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(kv => KeyValuePair.Create(
            kv.Key is YamlScalarNode k ? k.Value ?? "" : throw new YamlException(kv.Key.Start, kv.Key.End, "mapping keys must be plain scalars"),
            Convert(kv.Value)))),
        YamlSequenceNode seq => new JsonArray(seq.Children.Select(Convert).ToArray()),
        YamlScalarNode scalar => Scalar(scalar),
        _ => throw new YamlException(node.Start, node.End, "aliases are not supported"),
    };

    static JsonNode? Scalar(YamlScalarNode s)
    {
        string v = s.Value ?? "";
        if (s.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted or ScalarStyle.Literal or ScalarStyle.Folded) return JsonValue.Create(v);
        switch (v)
        {
            case "" or "~" or "null" or "Null" or "NULL": return null;
            case "true" or "True" or "TRUE": return JsonValue.Create(true);
            case "false" or "False" or "FALSE": return JsonValue.Create(false);
            case ".inf" or ".Inf" or ".INF" or "+.inf": return JsonValue.Create("Infinity");
            case "-.inf" or "-.Inf" or "-.INF": return JsonValue.Create("-Infinity");
            case ".nan" or ".NaN" or ".NAN": return JsonValue.Create("NaN");
        }
        if (long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long i)) return JsonValue.Create(i);
        if (double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && double.IsFinite(d)) return JsonValue.Create(d);
        return JsonValue.Create(v);
    }
}
