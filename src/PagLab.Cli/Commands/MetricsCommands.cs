using System.CommandLine;
using System.Globalization;
using PagLab.Common;
using PagLab.IO;
using PagLab.Metrics;
using static TorchSharp.torch;

namespace PagLab.Cli.Commands;

/// <summary>`paglab lpips A B`: the LPIPS distance between two images; `paglab weights fetch lpips-alex`.</summary>
public sealed class MetricsCommands : ICommandGroup
{
    public void Register(RootCommand root)
    {
        var a = new Argument<string>("a") { Description = "First image (PNG, JPEG, ...)" };
        var b = new Argument<string>("b") { Description = "Second image, same size" };
        var net = NamedOption.Create("--net", "Backbone", LpipsNet.Squeeze);
        var weights = new Option<string?>("--weights") { Description =
            "LPIPS weights (.safetensors/.pth; features.N.* and linK.model.1.weight), or torchvision's backbone .pth "
            + "with --weights-lin; default $PAGLAB_LPIPS_WEIGHTS, else DATA_ROOT/weights/lpips-NET-v0.1.safetensors, "
            + "else (squeeze) the weights shipped with PagLab" };
        var lin = new Option<string?>("--weights-lin") { Description =
            "The original LPIPS lin weights (e.g. v0.1/squeeze.pth) when --weights holds only the backbone" };
        var cmd = new Command("lpips",
            "LPIPS v0.1 distance between two images of the same size (pixels read as [0,1], compared in [-1,1])");
        cmd.Arguments.Add(a);
        cmd.Arguments.Add(b);
        cmd.Options.Add(net);
        cmd.Options.Add(weights);
        cmd.Options.Add(lin);
        var dataRoot = CommonOptions.DataRoot();
        cmd.Options.Add(dataRoot);
        cmd.SetAction(parse =>
        {
            using var lpips = Lpips.Load(net.ValueIn(parse), Lpips.ResolveWeights(parse.GetValue(weights),
                net.ValueIn(parse), parse.GetValue(dataRoot)), parse.GetValue(lin));
            double d = LpipsImages.Distance(lpips, parse.GetValue(a)!, parse.GetValue(b)!);
            Console.WriteLine(((float)d).ToString("G6", CultureInfo.InvariantCulture));
            return 0;
        });
        root.Subcommands.Add(cmd);
        CommandTree.Group(root, "weights", "Network weights PagLab does not ship").Subcommands.Add(FetchWeights());
    }

    static Command FetchWeights()
    {
        var name = new Argument<string>("name") { Description = string.Join(" | ",
            LpipsWeightsDownload.Sources.Keys) };
        var dataRoot = CommonOptions.DataRoot();
        var urlBase = new Option<string?>("--url-base") { Description =
            "Download from this base URL instead of the official ones (a mirror); also $PAGLAB_DOWNLOAD_BASE" };
        var cmd = new Command("fetch", "Download official LPIPS weights (SHA-256 checked) and convert them into "
            + "DATA_ROOT/weights/, where every command finds them") { name, dataRoot, urlBase };
        cmd.SetAction(parse =>
        {
            string? mirror = parse.GetValue(urlBase) ?? Environment.GetEnvironmentVariable("PAGLAB_DOWNLOAD_BASE");
            var source = LpipsWeightsDownload.For(parse.GetValue(name)!, mirror);
            string written = LpipsWeightsDownload.FetchAsync(source, Data.Datasets.ResolveRoot(parse.GetValue(
                dataRoot)), new ConsoleProgress(TimeSpan.FromSeconds(5))).GetAwaiter().GetResult();
            Console.WriteLine($"LPIPS-{source.Net} weights: {written}");
            return 0;
        });
        return cmd;
    }
}
