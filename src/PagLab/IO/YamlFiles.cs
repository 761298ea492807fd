using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using PagLab.Common;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace PagLab.IO;

/// <summary>
/// Reads YAML documents as the JSON they stand for, so every spec type has one (JSON) schema and
/// YAML is only another spelling of it. Plain scalars follow YAML 1.2's core schema (null, booleans,
/// integers, floats incl. .inf/.nan); quoted scalars are always strings.
/// </summary>
public static partial class YamlFiles
{
    public static bool IsYaml(string path) => Path.GetExtension(path).ToLowerInvariant() is ".yaml" or ".yml";

    /// <summary>The deepest nesting a spec may have (YAML and JSON alike).</summary>
    public const int MaxDepth = 64;

    /// <summary>
    /// A JSON or YAML file (by extension) deserialised with PagLab's JSON options, strictly: a key the type
    /// does not have is an error with a suggestion (<see cref="StrictJson"/>). <paramref name="upgrade"/> may first
    /// move the keys of an older format to their place.
    /// </summary>
    public static T ReadSpec<T>(string path, Action<JsonNode?>? upgrade = null)
    {
        string text = UserFile.ReadText(path);
        JsonNode? json;
        if (IsYaml(path)) json = ParseYaml(text, path);
        else
        {
            try { json = JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { MaxDepth = MaxDepth }); }
            catch (JsonException e) { throw new DataFormatException(path,
                $"invalid JSON ({e.Message.Split('\n')[0]})"); }
        }
        upgrade?.Invoke(json);
        StrictJson.CheckKeys(json, typeof(T), JsonFiles.Options, path);
        return Deserialize<T>(json, path);
    }

    public static T Read<T>(string path)
    {
        return Deserialize<T>(ParseYaml(UserFile.ReadText(path), path), path);
    }

    static JsonNode? ParseYaml(string text, string path)
    {
        try { return ToJson(text); }
        catch (YamlException e)
        {
            throw new DataFormatException(path,
                $"invalid YAML at line {e.Start.Line}, column {e.Start.Column} ({e.Message.Split('\n')[0]})");
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            // YamlDotNet's parser state errors and duplicate mapping keys.
            throw new DataFormatException(path, $"invalid YAML ({e.Message.Split('\n')[0]})");
        }
    }

    static T Deserialize<T>(JsonNode? json, string path)
    {
        try
        {
            return json.Deserialize<T>(JsonFiles.Options) ?? throw new DataFormatException(path, "empty document");
        }
        catch (JsonException e)
        {
            throw new DataFormatException(path, e is Common.UnknownNameException unknown
                ? unknown.AtItsKey : $"unexpected value ({e.Message.Split('\n')[0]})");
        }
    }

    /// <summary>The first document of <paramref name="yaml"/> as a JSON node (null for an empty text).</summary>
    public static JsonNode? ToJson(string yaml)
    {
        RefuseExpansion(yaml);
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        return stream.Documents.Count == 0 ? null : Convert(stream.Documents[0].RootNode);
    }

    /// <summary>
    /// A pass over the parser's events before any tree is built: anchors and aliases are refused (nested
    /// aliases let a few hundred bytes expand to gigabytes), as are merge keys ('&lt;&lt;', which need aliases
    /// or would silently mean a key named '&lt;&lt;') and nesting deeper than <see cref="MaxDepth"/>.
    /// </summary>
    static void RefuseExpansion(string yaml)
    {
        var parser = new Parser(new StringReader(yaml));
        int depth = 0;
        while (parser.MoveNext())
        {
            var e = parser.Current!;
            if (e is AnchorAlias) throw new YamlException(e.Start, e.End, "aliases (*name) are not supported");
            if (e is NodeEvent { Anchor.IsEmpty: false }) throw new YamlException(e.Start, e.End,
                "anchors (&name) are not supported");
            if (e is Scalar { Value: "<<", Style: ScalarStyle.Plain }) throw new YamlException(e.Start, e.End,
                "merge keys (<<) are not supported; write the keys out");
            if (e is MappingStart or SequenceStart && ++depth > MaxDepth) throw new YamlException(e.Start, e.End,
                $"nests deeper than {MaxDepth} levels");
            if (e is MappingEnd or SequenceEnd) depth--;
        }
    }

    static JsonNode? Convert(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(kv => KeyValuePair.Create(
            kv.Key is YamlScalarNode k ? k.Value ?? "" : throw new YamlException(kv.Key.Start, kv.Key.End,
                "mapping keys must be plain scalars"),
            Convert(kv.Value)))),
        YamlSequenceNode seq => new JsonArray(seq.Children.Select(Convert).ToArray()),
        YamlScalarNode scalar => Scalar(scalar),
        _ => throw new YamlException(node.Start, node.End, "aliases are not supported"),
    };

    static JsonNode? Scalar(YamlScalarNode s)
    {
        string v = s.Value ?? "";
        if (s.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted or ScalarStyle.Literal or
            ScalarStyle.Folded) return JsonValue.Create(v);
        switch (v)
        {
            case "" or "~" or "null" or "Null" or "NULL": return null;
            case "true" or "True" or "TRUE": return JsonValue.Create(true);
            case "false" or "False" or "FALSE": return JsonValue.Create(false);
            case ".inf" or ".Inf" or ".INF" or "+.inf": return JsonValue.Create("Infinity");
            case "-.inf" or "-.Inf" or "-.INF": return JsonValue.Create("-Infinity");
            case ".nan" or ".NaN" or ".NAN": return JsonValue.Create("NaN");
        }
        if (long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long i))
            return JsonValue.Create(i);
        if (double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double d)
            && (double.IsFinite(d) || Numeral().IsMatch(v)))
            // digits too large for a double (1e400) are the infinity they round to, as in JSON, so a check says
            // "not a finite number" rather than "not a number"
            return double.IsFinite(d) ? JsonValue.Create(d) : JsonValue.Create(d > 0 ? "Infinity" : "-Infinity");
        return JsonValue.Create(v);
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")]
    private static partial System.Text.RegularExpressions.Regex Numeral();
}
