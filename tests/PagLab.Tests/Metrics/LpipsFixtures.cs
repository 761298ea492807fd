using System.Text.Json;
using PagLab.Metrics;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Tests.Metrics;

/// <summary>
/// Rebuilds the inputs of Fixtures/lpips_reference.json exactly as Fixtures/make_fixtures.py made them
/// (same integer hash, same float64 formulas, then float32), and reads the reference distances.
/// </summary>
public static class LpipsFixtures
{
    public static string Folder => Path.Combine(AppContext.BaseDirectory, "Metrics", "Fixtures");

    public sealed record Image(string Kind, int Seed, int Channels);
    public sealed record Case(string Net, int Size, Image A, Image B, double? Distance, string? OriginalError);

    public static List<Case> Cases()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "lpips_reference.json")));
        Image Img(JsonElement e) => new(e[0].GetString()!, e[1].GetInt32(), e[2].GetInt32());
        return doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => new Case(
            c.GetProperty("net").GetString()!, c.GetProperty("size").GetInt32(), Img(c.GetProperty("a")),
                Img(c.GetProperty("b")),
            c.GetProperty("distance").ValueKind == JsonValueKind.Null ? null : c.GetProperty("distance").GetDouble(),
            c.TryGetProperty("originalError", out var err) ? err.GetString() : null)).ToList();
    }

    /// <summary>lowbias32 hash of (seed, index), as make_fixtures.hash32.</summary>
    public static uint Hash32(long seed, long index)
    {
        uint x = unchecked((uint)(index * 0x9E3779B1L + seed * 0x85EBCA77L + 0x165667B1L));
        x ^= x >> 16;
        x = unchecked(x * 0x7FEB352Du);
        x ^= x >> 15;
        x = unchecked(x * 0x846CA68Bu);
        x ^= x >> 16;
        return x;
    }

    static double Uniform(long seed, long i) => Hash32(seed, i) / 4294967296.0;

    /// <summary>(C, size, size) in [-1,1], as make_fixtures.image.</summary>
    public static Tensor Make(Image img, int size)
    {
        int c = img.Channels, n = c * size * size;
        var v = new float[n];
        for (int i = 0; i < n; i++)
        {
            int ch = i / (size * size), y = i / size % size, x = i % size;
            v[i] = img.Kind switch
            {
                "random" => (float)(2 * Uniform(img.Seed, i) - 1),
                "smooth" => (float)(0.8 * Math.Sin(2 * Math.PI * ((1 + img.Seed % 3) * x + (2 + img.Seed % 2) * y)
                    / size + 0.7 * ch + 0.3 * img.Seed)),
                "near" => (float)Math.Clamp(2 * Uniform(img.Seed, i) - 1 + 0.05 * (2 * Uniform(img.Seed + 1000, i) - 1),
                    -1, 1),
                _ => throw new ArgumentException(img.Kind),
            };
        }
        return tensor(v).reshape(c, size, size);
    }

    /// <summary>Loads the formula weights of make_fixtures.formula_weight/formula_lin into a fresh LPIPS.</summary>
    public static Lpips FormulaLpips(string net)
    {
        var model = new Lpips(PagLab.Common.Vocabulary.Parse<LpipsNet>(net, "net"));
        using var _ = no_grad();
        foreach (var (name, p) in model.state_dict())
        {
            var parts = name.Split('.');
            long n = p.numel();
            using var i = arange(n, dtype: float64);
            Tensor v;
            if (parts[0] == "net")
            {
                int k = 2 * int.Parse(parts[2]) + (parts[^1] == "bias" ? 1 : 0);
                v = p.dim() == 1 ? (0.37 * i + 1.1 * k).cos() * 0.01 : (0.37 * i + 1.1 * k).sin() * Math.Sqrt(3.0 / (n
                    / p.shape[0]));
            }
            else
            {
                int k = int.Parse(parts[0][3..]);
                v = (0.53 * i + 0.7 * k).sin().abs() * 0.1;
            }
            using (v) p.copy_(v.to(float32).reshape(p.shape));
        }
        return model;
    }
}
