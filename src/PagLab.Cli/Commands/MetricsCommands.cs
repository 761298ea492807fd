using System.CommandLine;
using System.Globalization;
using PagLab.Common;
using PagLab.IO;
using PagLab.Metrics;
using static TorchSharp.torch;

namespace PagLab.Cli.Commands;

/// <summary>`paglab lpips A B`: the LPIPS distance between two images.</summary>
public sealed class MetricsCommands : ICommandGroup
{
    public void Register(RootCommand root)
    {
        var a = new Argument<string>("a") { Description = "First image (PNG, JPEG, ...)" };
        var b = new Argument<string>("b") { Description = "Second image, same size" };
        var net = NamedOption.Create("--net", "Backbone", LpipsNet.Squeeze);
        var weights = new Option<string?>("--weights") { Description =
            "LPIPS weights (.safetensors/.pth; features.N.* and linK.model.1.weight), or torchvision's backbone .pth "
            + "with --weights-lin; default $PAGLAB_LPIPS_WEIGHTS, else DATA_ROOT/weights/lpips-NET-v0.1.safetensors" };
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
    }
}
