using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace PagLab.IO;

/// <summary>
/// Writes files so that a crash never leaves a half-written file under the final name:
/// write to a temp file in the same folder, flush to disk, then rename over the target.
/// </summary>
public static class AtomicFile
{
    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        string temp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true); // rename(2): atomic on one file system
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    public static void WriteAllBytes(string path, byte[] bytes) => Write(path, s => s.Write(bytes));
    public static void WriteAllText(string path, string text) => WriteAllBytes(path, Encoding.UTF8.GetBytes(text));

    /// <summary>Appends one line, rewriting the file atomically (metrics files are small).</summary>
    public static void AppendLine(string path, string line)
    {
        string existing = File.Exists(path) && new FileInfo(path).Length > 0 ? UserFile.ReadText(path) : "";
        WriteAllText(path, existing + line + "\n");
    }
}

/// <summary>One JSON style for every file PagLab writes: camelCase, indented, enums as strings.</summary>
public static class JsonFiles
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new Common.VocabularyJsonConverter() },   // vocabularies by name, other enums camelCase
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Compact options for JSON-lines files.</summary>
    public static readonly JsonSerializerOptions Lines = new(Options) { WriteIndented = false };

    public static void Write<T>(string path, T value) =>
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(value, Options) + "\n");

    public static T Read<T>(string path) => Read<T>(path, null);

    /// <summary>Reads a JSON file, letting <paramref name="upgrade"/> rewrite keys of an older format first.</summary>
    public static T Read<T>(string path, Action<System.Text.Json.Nodes.JsonNode?>? upgrade)
    {
        string text = UserFile.ReadText(path);
        try
        {
            if (upgrade is null)
                return JsonSerializer.Deserialize<T>(text, Options)
                       ?? throw new Common.DataFormatException(path, "empty JSON document");
            var json = System.Text.Json.Nodes.JsonNode.Parse(text);
            upgrade(json);
            return json.Deserialize<T>(Options) ?? throw new Common.DataFormatException(path, "empty JSON document");
        }
        catch (JsonException e)
        {
            throw new Common.DataFormatException(path, e is Common.UnknownNameException unknown
                ? unknown.AtItsKey : $"invalid JSON ({e.Message.Split('\n')[0]})");
        }
    }
}
