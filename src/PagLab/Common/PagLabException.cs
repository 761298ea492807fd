namespace PagLab.Common;

/// <summary>
/// A failure the user can act on (missing file, bad option, wrong shape). Its message is one line
/// naming the problem and, where there is one, the file. The CLI prints it and exits non-zero.
/// </summary>
public class PagLabException : Exception
{
    public PagLabException(string message) : base(message) { }
    public PagLabException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>Input data or a file is not what it should be (bad magic, truncated, wrong shape).</summary>
public sealed class DataFormatException : PagLabException
{
    public DataFormatException(string path, string problem) : base($"{path}: {problem}")
    {
        Path = path;
        Problem = problem;
    }

    public string Path { get; }
    public string Problem { get; }
}

public static class Require
{
    /// <summary>Throws a PagLabException naming the option when the condition fails.</summary>
    public static void That(bool condition, string message)
    {
        if (!condition) throw new PagLabException(message);
    }

    public static void Positive(double value, string option) => That(value > 0 && double.IsFinite(value),
        $"{option} must be a positive number, {Got(value)}");
    public static void NonNegative(double value, string option) => That(value >= 0 && double.IsFinite(value),
        $"{option} must be >= 0, {Got(value)}");
    public static void InRange(double value, double lo, double hi, string option) => That(value >= lo && value <= hi,
        $"{option} must be in [{lo}, {hi}], {Got(value)}");

    /// <summary>"got 3"; a NaN or an infinity (1e400 overflows to one) is named as such, never as out of range or
    /// negative.</summary>
    public static string Got(double value) =>
        double.IsFinite(value) ? $"got {value}" : $"got {value}, which is not a finite number";
}
