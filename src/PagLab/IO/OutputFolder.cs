using PagLab.Common;

namespace PagLab.IO;

/// <summary>
/// Outputs never destroy inputs or other kinds of folder (issue 17.4): a folder is written whole into a
/// fresh sibling and renamed into place, and an existing non-empty folder is replaced only on request (and, by
/// <see cref="OutputPolicy"/>, only when it is of the same kind).
/// </summary>
public static class OutputFolder
{
    /// <summary>
    /// Writes the folder by calling <paramref name="write"/> on a fresh sibling folder, then renames it to
    /// <paramref name="dir"/>. An existing non-empty folder is refused unless <paramref name="overwrite"/>;
    /// then it is replaced as a whole (nothing of it survives, so no run.json can describe other weights).
    /// </summary>
    public static void WriteNew(string dir, bool overwrite, Action<string> write)
    {
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir));
        if (File.Exists(full)) throw new PagLabException($"{dir} is a file, not a folder");
        bool occupied = Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any();
        if (occupied && !overwrite)
            throw new PagLabException($"{dir} already exists and holds {Describe(full)}: choose another `out`,"
                                      + " or pass `overwrite` to replace it");
        string parent = Path.GetDirectoryName(full)!, name = Path.GetFileName(full);
        Create(parent);
        string fresh = Path.Combine(parent, $".{name}.new-{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(fresh);
            write(fresh);
            if (Directory.Exists(full))
            {
                string old = Path.Combine(parent, $".{name}.old-{Guid.NewGuid():N}");
                Directory.Move(full, old);
                Directory.Move(fresh, full);
                Directory.Delete(old, recursive: true);
            }
            else Directory.Move(fresh, full);
        }
        finally
        {
            if (Directory.Exists(fresh)) Directory.Delete(fresh, recursive: true);
        }
    }

    /// <summary>Directory.CreateDirectory with the one-line error a user can act on (OutputPolicy.WhyNoFolder)
    /// instead of the runtime's "file not found" for a folder that cannot be made.</summary>
    public static string Create(string dir)
    {
        try { return Directory.CreateDirectory(dir).FullName; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PagLabException($"cannot create output folder {OutputPolicy.Show(dir)}: "
                + OutputPolicy.WhyNoFolder(e, Path.GetFullPath(dir)));
        }
    }

    static string Describe(string dir) =>
        File.Exists(Path.Combine(dir, "run.json")) ? "a run (run.json)"
        : File.Exists(Path.Combine(dir, "model.json")) ? "a model (model.json)"
        : $"{Directory.EnumerateFileSystemEntries(dir).Count()} entries";
}
