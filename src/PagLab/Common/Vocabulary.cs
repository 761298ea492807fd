using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace PagLab.Common;

/// <summary>
/// The name of an enum member as files, sweep specs and the command line spell it, and what it means in
/// one line. An enum whose members all carry one is a vocabulary: parsed once at the edge, enum inside.
/// </summary>
[AttributeUsage(AttributeTargets.Field)]
public sealed class NameAttribute(string name, string description) : Attribute
{
    public string Name { get; } = name;
    public string Description { get; } = description;
}

/// <summary>
/// The name table of an enum vocabulary (as robustness's STEPS or DATASETS tables): every member, its
/// name and description, read once from the members' [Name] attributes.
/// </summary>
public static class Vocabulary
{
    public static IReadOnlyList<T> All<T>() where T : struct, Enum => Table<T>.Values;
    public static IReadOnlyList<string> Names<T>() where T : struct, Enum => Table<T>.Names;
    public static string Name<T>(T value) where T : struct, Enum => Table<T>.Names[Table<T>.IndexOf(value)];

    public static string Description<T>(T value) where T : struct, Enum =>
        Table<T>.Descriptions[Table<T>.IndexOf(value)];

    /// <summary>One line per name: "name: description", for help texts and docs.</summary>
    public static string Describe<T>() where T : struct, Enum =>
        string.Join("; ", Table<T>.Values.Select(v => $"{Name(v)}: {Description(v)}"));

    public static bool IsVocabulary(Type type) =>
        type.IsEnum && type.GetFields(BindingFlags.Public | BindingFlags.Static)
            .All(f => f.GetCustomAttribute<NameAttribute>() is not null);

    public static bool TryParse<T>(string? text, out T value) where T : struct, Enum
    {
        int i = text is null ? -1 : Array.IndexOf(Table<T>.Names, text);
        value = i >= 0 ? Table<T>.Values[i] : default;
        return i >= 0;
    }

    /// <summary>The member named text; else a one-line PagLabException that opens with the property.</summary>
    public static T Parse<T>(string? text, string property) where T : struct, Enum =>
        TryParse(text, out T value) ? value : throw new PagLabException(Problem<T>(text, property));

    /// <summary>"property must be one of a, b, c, got 'x' (did you mean b?)".</summary>
    public static string Problem<T>(string? text, string property) where T : struct, Enum
    {
        string message = $"{property} must be one of {string.Join(", ", Table<T>.Names)}, got '{text}'";
        string? near = Spelling.Suggest(text ?? "", Table<T>.Names);
        return near is null ? message : $"{message} (did you mean {near}?)";
    }

    static class Table<T> where T : struct, Enum
    {
        public static readonly T[] Values;
        public static readonly string[] Names, Descriptions;

        static Table()
        {
            var fields = typeof(T).GetFields(BindingFlags.Public | BindingFlags.Static);
            var named = fields.Select(f => (Value: (T)f.GetValue(null)!, Name: f.GetCustomAttribute<NameAttribute>()))
                .ToArray();
            if (named.Any(n => n.Name is null))
                throw new InvalidOperationException($"{typeof(T).Name}: every member needs a [Name]");
            Values = named.Select(n => n.Value).ToArray();
            Names = named.Select(n => n.Name!.Name).ToArray();
            Descriptions = named.Select(n => n.Name!.Description).ToArray();
        }

        public static int IndexOf(T value)
        {
            int i = Array.IndexOf(Values, value);
            return i >= 0 ? i : throw new ArgumentOutOfRangeException(nameof(value), value, typeof(T).Name);
        }
    }
}

/// <summary>
/// Reads and writes vocabulary enums by their names (and other enums in camelCase, as before), so files
/// keep the spelling they had when these were strings.
/// </summary>
public sealed class VocabularyJsonConverter : JsonConverterFactory
{
    readonly JsonStringEnumConverter others = new(JsonNamingPolicy.CamelCase);

    public override bool CanConvert(Type type) => type.IsEnum;

    public override JsonConverter? CreateConverter(Type type, JsonSerializerOptions options) =>
        Vocabulary.IsVocabulary(type)
            ? (JsonConverter)Activator.CreateInstance(typeof(ByName<>).MakeGenericType(type))!
            : others.CreateConverter(type, options);

    sealed class ByName<T> : JsonConverter<T> where T : struct, Enum
    {
        // Camel case of the type without "Kind" (ObjectiveKind -> objective): what a wrong name is reported as.
        static readonly string What = char.ToLowerInvariant(typeof(T).Name[0])
                                      + typeof(T).Name[1..].Replace("Kind", "", StringComparison.Ordinal);

        public override T Read(ref Utf8JsonReader reader, Type type, JsonSerializerOptions options)
        {
            if (reader.TokenType != JsonTokenType.String)
                throw new JsonException($"{What} must be a name ({string.Join(", ", Vocabulary.Names<T>())})");
            return Parse(reader.GetString());
        }

        public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options) =>
            writer.WriteStringValue(Vocabulary.Name(value));

        public override T ReadAsPropertyName(ref Utf8JsonReader reader, Type type, JsonSerializerOptions options) =>
            Parse(reader.GetString());

        public override void WriteAsPropertyName(Utf8JsonWriter writer, T value, JsonSerializerOptions options) =>
            writer.WritePropertyName(Vocabulary.Name(value));

        static T Parse(string? text) => Vocabulary.TryParse(text, out T value)
            ? value : throw new UnknownNameException(key => Vocabulary.Problem<T>(text, key), What);
    }
}

/// <summary>
/// A name outside its vocabulary (or another value the reader cannot take, such as a sigma grid) met while reading
/// JSON. A JsonException, so file readers report it with the
/// file's path like any other bad value; <see cref="At"/> words it for the key it stood at (JsonException.Path).
/// </summary>
public sealed class UnknownNameException(Func<string, string> problem, string what) : JsonException(problem(what))
{
    public string At(string key) => problem(key);

    /// <summary>The problem worded for the key it stood at ("train.schedule must be one of ...").</summary>
    public string AtItsKey => Path is { Length: > 2 } path
        ? At(path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path) : Message;
}
