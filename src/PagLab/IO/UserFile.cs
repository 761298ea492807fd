using System.Text;
using PagLab.Common;

namespace PagLab.IO;

/// <summary>
/// Reads the files PagLab parses (specs, model.json, run.json, result.json, metrics.jsonl; and, with no size limit,
/// safetensors, .pth and CIFAR batches): only a regular file, text of at most <see cref="MaxBytes"/>, so a FIFO
/// never blocks a read and /dev/zero never fills memory (issue 21.4).
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
        if (RegularFile(path).Length > MaxBytes) throw TooLarge(path);
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

    /// <summary>A binary file PagLab parses (safetensors, .pth, CIFAR batches), by the same rule but of any size
    /// (weights are large; each format bounds what it reads from the bytes).</summary>
    public static byte[] ReadBytes(string path)
    {
        RegularFile(path);
        return File.ReadAllBytes(path);
    }

    /// <summary>The file (links followed) when it is a regular one with content; else one line saying why not.
    /// </summary>
    static FileInfo RegularFile(string path)
    {
        if (Directory.Exists(path)) throw new PagLabException($"{path} is a folder, not a file");
        var info = new FileInfo(path);
        if (!info.Exists) throw new PagLabException($"{path}: file not found");
        if (info.LinkTarget is not null) info = (FileInfo)info.ResolveLinkTarget(returnFinalTarget: true)!;
        if (info.Length == 0)
            throw new DataFormatException(path, "empty, or not a regular file (a FIFO or a device); PagLab reads "
                + "its files from regular files only");
        return info;
    }

    static DataFormatException TooLarge(string path) =>
        new(path, $"larger than the {MaxBytes >> 20} MB a JSON or YAML file may have");
}
