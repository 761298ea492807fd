using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PagLab.Score;

/// <summary>
/// An MLP denoiser network for vector-like data (subspace-gaussians: a few directions of a
/// 784-pixel image carry all the variance). The image is flattened, passed through residual
/// LayerNorm/SiLU blocks that receive the noise (and class) embedding, and mapped back. A per-pixel
/// gain on the input, set by the noise embedding, runs beside the blocks: the ideal F has a
/// full-rank part, -(sigma_data / s) times the off-data component of its input (it cancels
/// c_skip y there), which a bottleneck of width much below the pixel count cannot carry.
/// </summary>
public sealed class MlpDenoiser : DenoiserNetwork
{
    private readonly Linear embed1, embed2;
    private readonly Embedding? classEmbedding;
    private readonly Linear input;
    private readonly ModuleList<MlpBlock> blocks;
    private readonly LayerNorm outputNorm;
    private readonly Linear output, gain;
    private const int Frequencies = 16, Blocks = 3;

    public MlpDenoiser(UNetSpec spec) : base(nameof(MlpDenoiser), spec)
    {
        int pixels = spec.Channels * spec.Height * spec.Width, h = spec.HiddenWidth, e = spec.EmbeddingDim;
        embed1 = Linear(2 * Frequencies, e);
        embed2 = Linear(e, e);
        if (spec.Conditional) classEmbedding = Embedding(spec.Classes, e);
        input = Linear(pixels, h);
        blocks = new ModuleList<MlpBlock>(Enumerable.Range(0, Blocks).Select(_ => new MlpBlock(h, e)).ToArray());
        outputNorm = LayerNorm(h);
        output = Linear(h, pixels);
        gain = Linear(e, pixels);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor cNoise, Tensor labels)
    {
        using var _ = NewDisposeScope();
        var emb = Condition(embed1, embed2, classEmbedding, cNoise, labels, Frequencies, x.dtype);   // (B, E)
        var u = x.flatten(1);                                          // (B, D)
        var h = input.call(u);                                         // (B, hidden)
        foreach (var block in blocks) h = block.call(h, emb);
        var f = output.call(functional.silu(outputNorm.call(h))) + gain.call(emb) * u;
        return f.reshape(x.shape).MoveToOuterDisposeScope();
    }
}

/// <summary>LayerNorm-SiLU-linear twice, the embedding added in between, residual connection.</summary>
public sealed class MlpBlock : Module<Tensor, Tensor, Tensor>
{
    private readonly LayerNorm norm;
    private readonly Linear first, embedding, second;

    public MlpBlock(int width, int embeddingDim) : base(nameof(MlpBlock))
    {
        norm = LayerNorm(width);
        first = Linear(width, width);
        embedding = Linear(embeddingDim, width);
        second = Linear(width, width);
        RegisterComponents();
    }

    public override Tensor forward(Tensor h, Tensor emb)
    {
        using var _ = NewDisposeScope();
        var inner = first.call(functional.silu(norm.call(h))) + embedding.call(emb);
        return (h + second.call(functional.silu(inner))).MoveToOuterDisposeScope();
    }
}
