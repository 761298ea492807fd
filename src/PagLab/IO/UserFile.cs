using System.Text;
using PagLab.Common;

namespace PagLab.IO;

/// <summary>
/// Reads the text files PagLab parses (specs, model.json, run.json, result.json, metrics.jsonl): only a regular file
/// of at most <see cref="MaxBytes"/>, so a FIFO never blocks a read and /dev/zero never fills memory (issue 21.4).
/// .NET cannot ask for a file's type, but FIFOs, devices and /proc files all report a size of 0, so a file is read
/// only when its size is above 0 and at most the limit, and never past the limit (a file that grows meanwhile).
/// </summary>
public static class UserFile
{
    /// <summary>The largest JSON, JSON-lines or YAML file read: far above any PagLab writes (a few MB at most).
    /// </summary>
    public const long MaxBytes = 64L << 20;

    public static string ReadText(string path)
    {
        if (Directory.Exists(path)) throw new PagLabException($"{path} is a folder, not a file");
        var info = new FileInfo(path);
        if (!info.Exists) throw new PagLabException($"{path}: file not found");
        if (info.LinkTarget is not null) info = (FileInfo)info.ResolveLinkTarget(returnFinalTarget: true)!;
        if (info.Length == 0)
            throw new DataFormatException(path, "empty, or not a regular file (a FIFO or a device); PagLab reads "
                + "JSON and YAML from regular files only");
        if (info.Length > MaxBytes) throw TooLarge(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var buffer = new MemoryStream();
        var chunk = new byte[1 << 16];
        for (int n; (n = stream.Read(chunk)) > 0;)
        {
            buffer.Write(chunk, 0, n);
            if (buffer.Length > MaxBytes) throw TooLarge(path);
        }
        buffer.Position = 0;
        using var reader = new StreamReader(buffer, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return reader.ReadToEnd();   // as File.ReadAllText: UTF-8 unless a byte-order mark says otherwise
    }

    static DataFormatException TooLarge(string path) =>
        new(path, $"larger than the {MaxBytes >> 20} MB a JSON or YAML file may have");
}
