using PagLab.Common;
using PagLab.IO.Torch;
using PagLab.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Metrics;

/// <summary>
/// LPIPS v0.1 (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features as a Perceptual
/// Metric", eq. 1): d(x, x0) = sum_l mean_{h,w} || w_l * (f̂_l(x) - f̂_l(x0)) ||², where f̂_l are the
/// stage-l features of an ImageNet network, each unit-normalised over channels, and w_l the learned
/// per-channel weights (a 1x1 convolution without bias). Inputs are images in [-1, 1], as in the
/// original; see <see cref="FromUnitRange"/> for [0, 1] images and <see cref="PerceptualImage"/> for
/// gradients and scores. One-channel images are repeated to three channels.
/// State-dict names: <c>features.N.*</c> (torchvision indices) and <c>linK.model.1.weight</c>.
/// </summary>
public sealed class Lpips : Module<Tensor, Tensor, Tensor>
{
    // LPIPS v0.1 ScalingLayer: (x - shift) / scale maps [-1,1] to ImageNet-normalised inputs.
    static readonly float[] Shift = { -0.030f, -0.088f, -0.188f };
    static readonly float[] Scale = { 0.458f, 0.448f, 0.450f };
    const double NormEps = 1e-10; // the original's normalize_tensor: x / (||x||_2 + eps)

    private readonly LpipsBackbone net;
    private readonly LinearLayer[] lins;

    public LpipsNet Net => net.Net;

    public Lpips(LpipsNet netName) : base(nameof(Lpips))
    {
        net = LpipsBackbone.Create(netName);
        lins = net.Channels.Select(c => new LinearLayer(c)).ToArray();
        for (int k = 0; k < lins.Length; k++) register_module($"lin{k}", lins[k]);
        register_module("net", net);
        foreach (var p in parameters()) p.requires_grad = false;
        eval();
    }

    /// <summary>[0,1] pixels -> the [-1,1] range LPIPS expects: 2x - 1 (the original's normalize=True).</summary>
    public static Tensor FromUnitRange(Tensor unit) => unit * 2 - 1;

    /// <summary>Distances for a batch of pairs: a, b (B, 1|3, H, W) in [-1,1] -> (B). Differentiable in a and
    /// b.</summary>
    public override Tensor forward(Tensor a, Tensor b)
    {
        if (a.dim() != 4 || !a.shape.SequenceEqual(b.shape))
            throw new PagLabException($"LPIPS needs two image batches of the same shape (B, C, H, W), got "
                + $"[{string.Join(",", a.shape)}] and [{string.Join(",", b.shape)}]");
        if (a.shape[1] is not (1 or 3)) throw new PagLabException($"LPIPS needs 1 or 3 channels, got {a.shape[1]}");
        if (Math.Min(a.shape[2], a.shape[3]) < net.MinimumSide)
            throw new PagLabException($"LPIPS-{Vocabulary.Name(Net)} needs images of at least "
                + $"{net.MinimumSide}x{net.MinimumSide} "
                + $"pixels, got {a.shape[2]}x{a.shape[3]}");
        using var _ = NewDisposeScope();
        long batch = a.shape[0];
        var x = cat(new[] { a, b }, 0).to(float32);                    // (2B, C, H, W)
        if (x.shape[1] == 1) x = x.expand(-1, 3, -1, -1);
        using var shift = tensor(Shift, device: x.device).reshape(1, 3, 1, 1);
        using var scale = tensor(Scale, device: x.device).reshape(1, 3, 1, 1);
        // NHWC: libtorch's NCHW max-pool kernel is scalar, its channels-last one vectorized (1.5x on the whole
        // LPIPS-squeeze forward), and oneDNN's convolutions need no layout reorders in NHWC.
        var features = net.call(MemoryFormat.ChannelsLast((x - shift) / scale));
        Tensor? total = null;
        for (int l = 0; l < features.Length; l++)
        {
            var f = features[l];                                              // (2B, C_l, H_l, W_l)
            var unit = f / (f.pow(2).sum(1, keepdim: true).sqrt() + NormEps);
            var diff = (unit[..(int)batch] - unit[(int)batch..]).pow(2);      // (B, C_l, H_l, W_l)
            var layer = lins[l].call(diff).mean(new long[] { 2, 3 });         // (B, 1)
            total = total is null ? layer : total + layer;
        }
        return total!.flatten().MoveToOuterDisposeScope();                   // (B)
    }

    /// <summary>
    /// Builds LPIPS for <paramref name="netName"/> from weight files: one file with everything
    /// (<c>features.N.*</c> + <c>linK.model.1.weight</c>, like the shared lpips-squeeze-v0.1.safetensors),
    /// or torchvision's backbone file plus the original lin file (<paramref name="linPath"/>).
    /// Files may be .safetensors or PyTorch .pth/.pt (legacy or zip), read without running code.
    /// </summary>
    public static Lpips Load(LpipsNet netName, string weightsPath, string? linPath = null)
    {
        var model = new Lpips(netName);
        var tensors = new Dictionary<string, (Tensor Tensor, string File)>();
        void Add(string path)
        {
            foreach (var (name, t) in TorchFile.ReadStateDict(path))
            {
                string? mapped = MapName(name);
                if (mapped is null) { t.Dispose(); continue; }
                if (tensors.TryGetValue(mapped, out var old)) old.Tensor.Dispose();
                tensors[mapped] = (t, path);
            }
        }
        try
        {
            Add(weightsPath);
            if (linPath is not null) Add(linPath);
            var target = model.state_dict();
            using var _ = no_grad();
            foreach (var (name, dest) in target)
            {
                string fileName = name.StartsWith("net.", StringComparison.Ordinal) ? name[4..] : name;
                if (!tensors.TryGetValue(fileName, out var src))
                {
                    string hint = fileName.StartsWith("lin", StringComparison.Ordinal) && linPath is null
                        ? " (pass the LPIPS lin weights as `weightsLin`)"
                        : "";
                    bool inLin = linPath is not null && fileName.StartsWith("lin", StringComparison.Ordinal);
                    throw new DataFormatException(inLin ? linPath! : weightsPath,
                        $"has no tensor '{fileName}' needed by LPIPS-{Vocabulary.Name(netName)}{hint}");
                }
                if (!src.Tensor.shape.SequenceEqual(dest.shape))
                    throw new DataFormatException(src.File,
                        $"tensor '{fileName}' has shape [{string.Join(",", src.Tensor.shape)}], "
                        + $"LPIPS-{Vocabulary.Name(netName)} "
                        + $"needs [{string.Join(",", dest.shape)}] (weights for another network?)");
                dest.copy_(src.Tensor.to(float32));
            }
        }
        finally
        {
            foreach (var (t, _) in tensors.Values) t.Dispose();
        }
        return model;
    }

    /// <summary>
    /// Our name for a tensor of any accepted file, or null to ignore it: DataParallel's "module."
    /// prefix is dropped; the original LPIPS model's "net.sliceK.N.*" and "lins.K.*" become
    /// "features.N.*" and "linK.*"; torchvision's "classifier.*" and LPIPS' "scaling_layer.*" are ignored.
    /// </summary>
    static string? MapName(string name)
    {
        if (name.StartsWith("module.", StringComparison.Ordinal)) name = name[7..];
        if (name.StartsWith("classifier.", StringComparison.Ordinal)
            || name.StartsWith("scaling_layer.", StringComparison.Ordinal)) return null;
        var parts = name.Split('.');
        if (parts.Length >= 4 && parts[0] == "net" && parts[1].StartsWith("slice", StringComparison.Ordinal))
            return "features." + string.Join(".", parts.Skip(2));
        if (parts.Length >= 2 && parts[0] == "lins") return $"lin{parts[1]}." + string.Join(".", parts.Skip(2));
        return name;
    }

    /// <summary>
    /// The weights file for <paramref name="net"/>: the option if given, else $PAGLAB_LPIPS_WEIGHTS, else
    /// &lt;data root&gt;/weights/lpips-NET-v0.1.safetensors when that file exists, else for SqueezeNet the
    /// weights shipped with PagLab (<see cref="BundledWeights"/>); null when there is none.
    /// </summary>
    public static string? FindWeights(string? option, LpipsNet net = LpipsNet.Squeeze, string? dataRoot = null)
    {
        if (!string.IsNullOrEmpty(option)) return option;
        var env = Environment.GetEnvironmentVariable("PAGLAB_LPIPS_WEIGHTS");
        if (!string.IsNullOrEmpty(env)) return env;
        string inRoot = DataRootWeights(net, dataRoot);
        if (File.Exists(inRoot)) return inRoot;
        return net == BundledNet && File.Exists(BundledWeights) ? BundledWeights : null;
    }

    /// <summary>The network whose weights ship with PagLab.</summary>
    public const LpipsNet BundledNet = LpipsNet.Squeeze;

    /// <summary>
    /// LPIPS-SqueezeNet v0.1 as shipped with PagLab: weights/lpips-squeeze-v0.1.safetensors beside this assembly
    /// (the build, the NuGet package and the tool all put it there; licences in THIRD-PARTY-NOTICES.md).
    /// </summary>
    public static string BundledWeights => Path.Combine(
        Path.GetDirectoryName(typeof(Lpips).Assembly.Location) is { Length: > 0 } dir ? dir : AppContext.BaseDirectory,
        "weights", $"lpips-{Vocabulary.Name(BundledNet)}-v0.1.safetensors");

    public static string DataRootWeights(LpipsNet net, string? dataRoot) =>
        Path.Combine(Data.Datasets.ResolveRoot(dataRoot), "weights", $"lpips-{Vocabulary.Name(net)}-v0.1.safetensors");

    /// <summary>
    /// The LPIPS network to use when none is named: the one of the weight file given (lpipsWeights or
    /// PAGLAB_LPIPS_WEIGHTS), else AlexNet when its weights are in the data root (the paper measures with
    /// LPIPS-AlexNet, Section 5), else SqueezeNet.
    /// </summary>
    public static LpipsNet DefaultNet(string? weights, string? dataRoot)
    {
        if (!string.IsNullOrEmpty(weights) && File.Exists(weights)) return NetOfWeights(weights) ?? LpipsNet.Squeeze;
        return File.Exists(DataRootWeights(LpipsNet.Alex, dataRoot)) ? LpipsNet.Alex : LpipsNet.Squeeze;
    }

    /// <summary>Which network a weight file belongs to: squeeze has 7 lin layers, alex and vgg 5 (alex's first kernel
    /// is 11x11).</summary>
    public static LpipsNet? NetOfWeights(string path)
    {
        var tensors = TorchFile.ReadStateDict(path);
        try
        {
            var names = tensors.Keys.Select(MapName).Where(n => n is not null).ToHashSet();
            if (names.Contains("lin6.model.1.weight")) return LpipsNet.Squeeze;
            if (!names.Contains("lin4.model.1.weight")) return null;
            var first = tensors.FirstOrDefault(kv => MapName(kv.Key) == "features.0.weight").Value;
            return first is null ? null : first.shape[^1] == 11 ? LpipsNet.Alex : LpipsNet.Vgg;
        }
        finally { foreach (var t in tensors.Values) t.Dispose(); }
    }

    /// <summary><see cref="FindWeights"/>, or a one-line error saying where it looked.</summary>
    public static string ResolveWeights(string? option, LpipsNet net = LpipsNet.Squeeze, string? dataRoot = null) =>
        FindWeights(option, net, dataRoot) ?? throw new PagLabException(
            $"no LPIPS weights: pass `lpipsWeights`, set PAGLAB_LPIPS_WEIGHTS, or put them"
            + $" at {DataRootWeights(net, dataRoot)}"
            + (net == LpipsNet.Alex ? " (`paglab weights fetch lpips-alex` does)" : ""));
}

/// <summary>LPIPS' learned weights w_l: a 1x1 convolution C_l -> 1 without bias, named "model.1" as in the original
/// (index 0 was its training dropout).</summary>
public sealed class LinearLayer : Module<Tensor, Tensor>
{
    private readonly Sequential model;

    public LinearLayer(int channels) : base(nameof(LinearLayer))
    {
        model = Sequential(("1", (Module<Tensor, Tensor>)Conv2d(channels, 1, 1, bias: false)));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => model.call(x);
}
