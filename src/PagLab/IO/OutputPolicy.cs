using System.Buffers.Binary;
using System.Text;
using PagLab.Common;

namespace PagLab.IO;

/// <summary>A kind of folder PagLab makes, known by the file(s) it always holds.</summary>
public sealed record FolderKind(string Name, string Marker, Func<string, bool> Holds)
{
    public static readonly FolderKind Sweep = new("sweep folder", Experiments.SweepFolder.SpecFile,
        Experiments.SweepFolder.IsSweep)
    {
        Slots = [Experiments.SweepFolder.ResultsFile, Experiments.SweepFolder.ReportFile,
            Path.ChangeExtension(Experiments.SweepFolder.ReportFile, ".md")],
    };
    public static readonly FolderKind Run = new("run folder", Training.RunFiles.Info, Has(Training.RunFiles.Info));
    /// <summary>A model folder, or a training run's (which holds, or will hold, the model `model import
    /// --overwrite` may replace).</summary>
    public static readonly FolderKind Model = new("model folder", Models.SavedModel.InfoFile,
        dir => Has(Models.SavedModel.InfoFile)(dir) || Has(Training.RunFiles.Info)(dir));
    public static readonly FolderKind Denoiser = new("denoiser folder", Score.SavedDenoiser.InfoFile,
        dir => Has(Score.SavedDenoiser.InfoFile)(dir) || Has(Score.TorchScriptDenoiser.InfoFile)(dir));
    public static readonly FolderKind Autoencoder = new("autoencoder folder", Manifold.SavedAutoencoder.InfoFile,
        Has(Manifold.SavedAutoencoder.InfoFile));
    /// <summary>TensorBoard logs: event files only, or folders of them (a sweep's, one per job).</summary>
    public static readonly FolderKind TensorboardLog = new("TensorBoard log folder", "events.out.tfevents.*",
        dir => OnlyEvents(dir, depth: 2));
    /// <summary>A report's figures: PNG files only.</summary>
    public static readonly FolderKind Figures = new("figure folder", "*.png", dir =>
        Directory.EnumerateFileSystemEntries(dir).All(e => File.Exists(e)
            && e.EndsWith(".png", StringComparison.Ordinal)));

    /// <summary>`measure kscan`'s folder: its report, or (interrupted) only its autoencoder run folders.</summary>
    public static readonly FolderKind TangentScan = new("tangent-dimension scan folder",
        Manifold.TangentDimensionScan.ReportFile, dir => Has(Manifold.TangentDimensionScan.ReportFile)(dir)
            || Directory.EnumerateFileSystemEntries(dir).All(e => Directory.Exists(e)
                && Path.GetFileName(e).StartsWith(Manifold.TangentDimensionScan.AutoencoderPrefix,
                    StringComparison.Ordinal)));

    /// <summary>The kinds PagLab owns, in the order they are told apart (a run folder also holds model.json).</summary>
    public static readonly IReadOnlyList<FolderKind> Owned = [Sweep, Run, Model, Denoiser, Autoencoder];

    public string Described => $"a {Name} ({Marker})";

    /// <summary>Files PagLab itself writes at the top of such a folder, which a command may write again (the demo's
    /// results.csv and report.html in its sweep folder).</summary>
    public IReadOnlyList<string> Slots { get; init; } = [];

    static Func<string, bool> Has(string file) => dir => File.Exists(Path.Combine(dir, file));

    static bool OnlyEvents(string dir, int depth) => Directory.EnumerateFileSystemEntries(dir).All(e =>
        File.Exists(e) ? Path.GetFileName(e).StartsWith("events.out.tfevents.", StringComparison.Ordinal)
        : depth > 1 && Directory.Exists(e) && OnlyEvents(e, depth - 1));
}

/// <summary>What a file output holds, told from its first bytes when it exists.</summary>
public enum FileKind
{
    [Name("json", "a JSON file")] Json,
    [Name("csv", "a CSV file")] Csv,
    [Name("text", "a text file")] Text,
    [Name("html", "an HTML file")] Html,
    [Name("png", "a PNG image")] Png,
    [Name("safetensors", "a safetensors file")] SafeTensors,
    [Name("zip", "a zip archive (PyTorch or NumPy)")] Zip,
    [Name("script", "a script")] Script,
    [Name("binary", "a binary file")] Binary,
}

/// <summary>
/// The one output policy of every command (issue 21.1), checked before any work starts:
/// <list type="bullet">
/// <item>a folder output (run, model, sweep, denoiser, log) is new or empty, or a folder of the same kind (which its
/// command resumes or replaces); never a file, the root folder, or a non-empty folder of another kind (a symlink is
/// judged by its target);</item>
/// <item>a file output is not a folder, never lands inside a folder PagLab owns (run, model, sweep, denoiser,
/// autoencoder; known by their marker files) or one the command reads, is not a file the command reads, and never
/// replaces a file of another kind (a CSV over a YAML spec, JSON over a PyTorch archive);</item>
/// <item>an empty or blank path is refused.</item>
/// </list>
/// Messages start with the option's property name (`out`, `tensorboard`), which the CLI shows as its flag, and quote
/// paths with control characters escaped, so every message is one whole line.
/// </summary>
public static class OutputPolicy
{
    /// <summary>A folder the command creates, or resumes or replaces when it is of <paramref name="kind"/>.</summary>
    public static void CheckFolder(string option, string? path, FolderKind kind)
    {
        string dir = NotBlank(option, path, "a folder");
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir));
        string resolved = Resolve(full);
        if (Path.GetPathRoot(resolved) == resolved)
            throw new PagLabException($"{option} {Show(dir)} is the root folder: name a folder of its own");
        if (File.Exists(full))
            throw new PagLabException($"{option} {Show(dir)} is a file, not a folder: name a folder");
        RefuseFileAbove(option, dir, full);
        if (!Directory.Exists(full)) { RefuseUncreatable(option, dir, full); return; }
        if (!Directory.EnumerateFileSystemEntries(full).Any() || kind.Holds(full)) return;
        int entries = Directory.EnumerateFileSystemEntries(full).Count();
        string holds = FolderKind.Owned.FirstOrDefault(k => k.Holds(full)) is { } other ? other.Described
            : entries == 1 ? "1 entry" : $"{entries} entries";
        string link = resolved == full ? "" : $" (a link to {Show(resolved)})";
        throw new PagLabException($"{option} {Show(dir)}{link} holds {holds}, not {kind.Described}: name a new or "
            + "empty folder");
    }

    /// <summary>One file output; <paramref name="reads"/>: the files and folders the command reads.</summary>
    public static void CheckFile(string option, string? path, FileKind kind, params string?[] reads) =>
        CheckFiles(option, [(path ?? "", kind)], reads);

    /// <summary>
    /// A file output and the files written beside it (a report's CSV and PNG); <paramref name="reads"/>: the files
    /// and folders the command reads.
    /// </summary>
    public static void CheckFiles(string option, IEnumerable<(string Path, FileKind Kind)> outputs,
        params string?[] reads)
    {
        var read = reads.Where(r => !string.IsNullOrEmpty(r))
            .Select(r => (Given: r!, Full: Resolve(Path.GetFullPath(r!)))).ToList();
        foreach (var (path, kind) in outputs)
        {
            string file = NotBlank(option, path, "a file");
            if (Directory.Exists(file) || Path.EndsInDirectorySeparator(file))
                throw new PagLabException($"{option} {Show(file)} is a folder: name a file");
            string full = Path.GetFullPath(file), parent = Resolve(Path.GetDirectoryName(full)!);
            RefuseFileAbove(option, file, full);
            var owning = OwningFolder(parent);
            bool slot = owning is var (top, kindThere) && top == parent
                && kindThere.Slots.Contains(Path.GetFileName(full));
            foreach (var (given, input) in read)
            {
                if (input == Resolve(full))
                    throw new PagLabException($"{option} {Show(file)} is {Show(given)}, which this command reads: "
                        + "name another file");
                if (!slot && (parent == input
                    || parent.StartsWith(input + Path.DirectorySeparatorChar, StringComparison.Ordinal)))
                    throw new PagLabException($"{option} {Show(file)} is inside {Show(given)}, the folder this "
                        + "command reads: write it outside that folder");
            }
            if (!slot && owning is var (folder, owner))
                throw new PagLabException($"{option} {Show(file)} is inside {Show(folder)}, {owner.Described} that "
                    + "PagLab owns: write it outside that folder");
            var existing = Existing(full);
            if (existing is { } found && found != kind && !(kind == FileKind.Text && found == FileKind.Csv))
                throw new PagLabException($"{option} {Show(file)} holds {Vocabulary.Description(found)}; it would be "
                    + $"replaced by {Vocabulary.Description(kind)}: name another file");
        }
    }

    /// <summary>A path in quotes, control characters escaped (a newline in a name never cuts a message).</summary>
    public static string Show(string path) => "'" + string.Concat(path.Select(c => char.IsControl(c)
        ? c switch { '\n' => "\\n", '\r' => "\\r", '\t' => "\\t", _ => $"\\x{(int)c:x2}" } : c.ToString())) + "'";

    static string NotBlank(string option, string? path, string what) => string.IsNullOrWhiteSpace(path)
        ? throw new PagLabException($"{option} is empty: name {what}") : path;

    /// <summary>A file where a folder above the output would have to be (`--out notes.txt/run`): refused now, not
    /// after the work when the folder cannot be made.</summary>
    static void RefuseFileAbove(string option, string given, string full)
    {
        for (string? d = Path.GetDirectoryName(full); d is not null; d = Path.GetDirectoryName(d))
        {
            if (Directory.Exists(d)) return;
            if (File.Exists(d))
                throw new PagLabException($"{option} {Show(given)}: {Show(d)} is a file, not a folder");
        }
    }

    /// <summary>A folder that cannot be made (under /proc, a read-only mount, no permission): refused now, not after
    /// the work. The only sure test is to make it, so the folders this makes are removed again at once.</summary>
    static void RefuseUncreatable(string option, string given, string full)
    {
        var missing = new List<string>();
        for (string? d = full; d is not null && !Directory.Exists(d); d = Path.GetDirectoryName(d)) missing.Add(d);
        try { Directory.CreateDirectory(full); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PagLabException($"{option} {Show(given)} cannot be created: {WhyNoFolder(e, full)}");
        }
        finally
        {
            foreach (var d in missing)      // innermost first; only the folders made here, still empty
                try { if (Directory.Exists(d) && !Directory.EnumerateFileSystemEntries(d).Any()) Directory.Delete(d); }
                catch (IOException) { }
        }
    }

    /// <summary>Why making the folder <paramref name="full"/> failed with <paramref name="e"/>, in words: the folder
    /// that cannot hold the missing one, rather than the runtime's "file not found" for the folder itself.</summary>
    internal static string WhyNoFolder(Exception e, string full)
    {
        string top = full;          // the outermost folder still missing
        for (string? d = Path.GetDirectoryName(full); d is not null && !Directory.Exists(d);
             d = Path.GetDirectoryName(d))
            top = d;
        return e is UnauthorizedAccessException ? "permission denied"
            : e is FileNotFoundException or DirectoryNotFoundException
                ? $"{Show(Path.GetDirectoryName(top) ?? "/")} cannot hold folders" : e.Message;
    }

    /// <summary>The nearest folder at or above <paramref name="dir"/> that PagLab owns, with its kind.</summary>
    static (string Folder, FolderKind Kind)? OwningFolder(string dir)
    {
        for (string? d = dir; d is not null; d = Path.GetDirectoryName(d))
        {
            if (!Directory.Exists(d)) continue;
            if (FolderKind.Owned.FirstOrDefault(k => k.Holds(d)) is { } kind) return (d, kind);
        }
        return null;
    }

    /// <summary>The kind of an existing file from its first bytes; null when there is none or it is empty.</summary>
    static FileKind? Existing(string path)
    {
        var info = new FileInfo(path);
        if (info.Exists && info.LinkTarget is not null)
            info = info.ResolveLinkTarget(returnFinalTarget: true) as FileInfo ?? info;
        // size 0: empty, or a FIFO or device, which must not be opened (a FIFO blocks); either is replaced freely
        if (!info.Exists || info.Length == 0) return null;
        var head = new byte[512];
        int n;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
            n = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        return Sniff(head.AsSpan(0, n), info.Length);
    }

    static FileKind Sniff(ReadOnlySpan<byte> head, long length)
    {
        if (head.StartsWith((byte[])[0x89, (byte)'P', (byte)'N', (byte)'G'])) return FileKind.Png;
        if (head.StartsWith("PK\x03\x04"u8) || head.StartsWith("PK\x05\x06"u8)) return FileKind.Zip;
        if (head.Length > 8 && head[8] == (byte)'{' && BinaryPrimitives.ReadUInt64LittleEndian(head) is var header
            && header >= 2 && header <= (ulong)length - 8) return FileKind.SafeTensors;
        if (head.Contains((byte)0)) return FileKind.Binary;
        string text = Encoding.UTF8.GetString(head).TrimStart('\uFEFF', ' ', '\t', '\r', '\n');
        if (text.StartsWith('{') || text.StartsWith('[')) return FileKind.Json;
        if (text.StartsWith("<!doctype html", StringComparison.OrdinalIgnoreCase)
            || text.StartsWith("<html", StringComparison.OrdinalIgnoreCase)) return FileKind.Html;
        if (text.StartsWith("#!", StringComparison.Ordinal)) return FileKind.Script;
        string firstLine = text.Split('\n')[0];
        return firstLine.Contains(',') && !firstLine.Contains(": ") ? FileKind.Csv : FileKind.Text;
    }

    /// <summary>The path with every symbolic link in it followed (as far as the links exist), like realpath.</summary>
    static string Resolve(string path, int hops = 0)
    {
        path = Path.TrimEndingDirectorySeparator(path);
        string? parent = Path.GetDirectoryName(path);
        if (parent is null || hops > 40) return path;            // the root, or a loop of links
        string here = Path.Combine(Resolve(parent, hops + 1), Path.GetFileName(path));
        try
        {
            FileSystemInfo info = Directory.Exists(here) ? new DirectoryInfo(here) : new FileInfo(here);
            if (info.LinkTarget is null) return here;
            return Resolve(Path.GetFullPath(info.LinkTarget, Path.GetDirectoryName(here)!), hops + 1);
        }
        catch (IOException) { return here; }
    }
}
