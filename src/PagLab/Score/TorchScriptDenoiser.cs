using PagLab.Common;
using PagLab.Data;
using PagLab.IO;
using PagLab.IO.Torch;
using PagLab.Models;
using PagLab.Probe;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Score;

/// <summary>
/// What torchscript-denoiser.json holds beside denoiser.pt: how to call the network and in which units.
/// Form: edm = EDMPrecond's interface (NVlabs/edm, training/networks.py): forward(x, sigma (B), class_labels
/// one-hot float (B, K)) returns D(x; sigma); x0 = forward(x, sigma (B)[, labels int64 (B)]) returns D(x; sigma);
/// eps = the same inputs, returns the noise estimate, D = x - sigma eps (x = x0 + sigma n).
/// </summary>
public sealed record TorchScriptDenoiserSpec
{
    public int FormatVersion { get; init; } = 1;
    public required string Form { get; init; }
    public required int Channels { get; init; }
    public required int Height { get; init; }
    public required int Width { get; init; }
    public int Classes { get; init; }                            // one-hot width of the edm form's labels
    public float[] PixelRange { get; init; } = { -1, 1 };       // the network's pixels [lo, hi]
    // network sigma = SigmaScale x PagLab's [0,1]-pixel sigma
    public double SigmaScale { get; init; } = 2;
    public string? Dataset { get; init; }

    public static readonly IReadOnlyList<string> Forms = new[] { "edm", "eps", "x0" };

    public ImageShape Shape => new(Channels, Height, Width);

    public void Validate()
    {
        Require.That(Forms.Contains(Form), $"form must be one of {string.Join(", ", Forms)}, got '{Form}'");
        Require.That(Channels > 0 && Height > 0 && Width > 0, $"bad input shape {Channels}x{Height}x{Width}");
        Require.That(PixelRange.Length == 2 && PixelRange.All(float.IsFinite) && PixelRange[1] > PixelRange[0],
            "pixelRange must be LO,HI with LO < HI");
        Require.Positive(SigmaScale, "sigmaScale");
        Require.That(double.IsFinite(SigmaScale), "sigmaScale must be finite");
    }
}

/// <summary>
/// A TorchScript network D(x, sigma[, class]) as PagLab's denoiser on [0,1] pixels: with w = hi - lo,
/// D_[0,1](x, sigma) = (D_net(lo + w x, SigmaScale sigma) - lo) / w; the score then follows in
/// <see cref="ScoreFunction"/> exactly as for PagLab's own EDM denoiser. The archive runs code: trusted sources only.
/// </summary>
public sealed class TorchScriptDenoiser : IDenoiser
{
    public const string InfoFile = "torchscript-denoiser.json", ScriptFile = "denoiser.pt";
    private readonly jit.ScriptModule script;
    private readonly int inputs;
    private readonly string source;
    private long calls;

    TorchScriptDenoiser(jit.ScriptModule script, TorchScriptDenoiserSpec spec, string path)
    {
        this.script = script;
        this.source = path;
        Spec = spec;
        inputs = script.GetNumberOfInputs();
        if (inputs is not (2 or 3))
        {
            script.Dispose();
            throw new DataFormatException(path,
                $"forward takes {inputs} inputs; a denoiser takes 2 (x, sigma) or 3 (x, sigma, class)");
        }
    }

    public TorchScriptDenoiserSpec Spec { get; }
    public bool Conditional => inputs == 3;

    public void Dispose() => script.Dispose();

    public Tensor Denoise(Tensor x, double sigma, Tensor? labels = null)
    {
        using var _ = NewDisposeScope();
        float lo = Spec.PixelRange[0], width = Spec.PixelRange[1] - Spec.PixelRange[0];
        // (B, C, H, W) the network's pixels
        var y = x * width + lo;
        var s = full(x.shape[0], Spec.SigmaScale * sigma, dtype: x.dtype, device: x.device); // (B) the network's sigma
        object[] args = Conditional ? new object[] { y, s, ClassInput(labels, x) } : new object[] { y, s };
        var output = ScriptCall.Call(script, source,
            $"forward call {++calls} (a batch of {x.shape[0]}, sigma {sigma:G4})", null, args);
        var denoised = Spec.Form == "eps" ? y - s.reshape(-1, 1, 1, 1) * output : output;  // eps: x = x0 + sigma n
        return ((denoised - lo) / width).MoveToOuterDisposeScope();
    }

    Tensor ClassInput(Tensor? labels, Tensor x)
    {
        var l = labels ?? zeros(x.shape[0], dtype: ScalarType.Int64, device: x.device);
        return Spec.Form == "edm" ? nn.functional.one_hot(l, Spec.Classes).to_type(x.dtype) : l;
    }

    /// <summary>Loads the archive and checks that D maps (2, C, H, W) to the same shape.</summary>
    public static TorchScriptDenoiser Load(string path, TorchScriptDenoiserSpec spec)
    {
        spec.Validate();
        var denoiser = new TorchScriptDenoiser(TorchScriptFile.LoadAny(path, "a TorchScript denoiser"), spec, path);
        try { CheckShape(denoiser, path); }
        catch { denoiser.Dispose(); throw; }
        return denoiser;
    }

    static void CheckShape(TorchScriptDenoiser denoiser, string path)
    {
        long[] input = { 2, denoiser.Spec.Channels, denoiser.Spec.Height, denoiser.Spec.Width };
        using var _ = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor output;
        try { output = denoiser.Denoise(full(input, 0.5f), 0.25, zeros(2, dtype: ScalarType.Int64)); }
        catch (ScriptException e)
        {
            throw new DataFormatException(path, $"forward fails on input ({string.Join(", ", input)}): {e.Cause}");
        }
        if (!output.shape.SequenceEqual(input))
            throw new DataFormatException(path,
                $"a denoiser must return its input's shape ({string.Join(", ", input)}), this one returns "
                + $"({string.Join(", ", output.shape)})");
    }

    /// <summary>Writes a denoiser folder: the archive (copied as denoiser.pt) and its spec.</summary>
    /// <remarks>The folder is checked first, then the archive runs in the probe child
    /// (<see cref="ProbeProcess"/>); nothing of it runs in this process.</remarks>
    public static void Import(string archive, TorchScriptDenoiserSpec spec, string dir, bool overwrite,
        TimeSpan? timeout = null)
    {
        spec.Validate();
        TorchScriptFile.RequireTorchScript(archive, "a TorchScript denoiser");
        OutputFolder.WriteNew(dir, overwrite, fresh =>
        {
            ProbeProcess.Run(new ProbeRequest { Kind = ProbeKind.Denoiser, Archive = archive, Denoiser = spec,
                Dataset = spec.Dataset ?? "" }, timeout);
            File.Copy(archive, Path.Combine(fresh, ScriptFile));
            JsonFiles.Write(Path.Combine(fresh, InfoFile), spec);
        });
    }

    /// <summary>Any denoiser folder: an imported TorchScript network, or one trained by 'paglab denoiser
    /// train'.</summary>
    public static (IDenoiser Denoiser, ImageShape Shape) LoadFolder(string dir)
    {
        string info = Path.Combine(dir, InfoFile);
        if (File.Exists(info))
        {
            var spec = JsonFiles.Read<TorchScriptDenoiserSpec>(info);
            return (Load(Path.Combine(dir, ScriptFile), spec), spec.Shape);
        }
        var trained = SavedDenoiser.Load(dir);
        var u = trained.Network.Spec;
        return (trained, new ImageShape(u.Channels, u.Height, u.Width));
    }
}
