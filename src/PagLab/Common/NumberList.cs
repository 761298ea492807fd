using System.Globalization;

namespace PagLab.Common;

/// <summary>Comma-separated numbers as options and keys write them ("0.5,1,2").</summary>
public static class NumberList
{
    /// <summary>"1,4,8" as numbers; else a one-line error naming <paramref name="option"/>.</summary>
    public static double[] Parse(string text, string option)
    {
        try
        {
            return text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                       .Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        }
        catch (FormatException)
        {
            throw new PagLabException($"{option}: '{text}' is not a comma-separated list of numbers");
        }
    }
}
