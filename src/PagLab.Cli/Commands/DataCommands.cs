using System.CommandLine;
using PagLab.Data;
using PagLab.Imaging;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Cli.Commands;

/// <summary>paglab data list | show</summary>
public sealed class DataCommands : ICommandGroup
{
    public void Register(RootCommand root)
    {
        var data = new Command("data", "List, inspect and download datasets");
        data.Subcommands.Add(List());
        data.Subcommands.Add(Show());
        data.Subcommands.Add(Fetch());
        root.Subcommands.Add(data);
    }

    static Command List()
    {
        var dataRoot = CommonOptions.DataRoot();
        var cmd = new Command("list", "Name, shape, classes, presence and location of every dataset") { dataRoot };
        cmd.SetAction(parse =>
        {
            var infos = Datasets.Describe(parse.GetValue(dataRoot));
            Console.WriteLine($"data root: {Datasets.ResolveRoot(parse.GetValue(dataRoot))}");
            Console.WriteLine($"{"name",-26} {"shape",-9} {"classes",7}  {"present",-7}  where");
            foreach (var d in infos)
                Console.WriteLine($"{d.Name,-26} {d.Shape,-9} {d.Classes,7}  {(d.Present ? "yes" : "no"),-7}  "
                    + $"{d.Where}");
            return 0;
        });
        return cmd;
    }

    static Command Fetch()
    {
        var name = new Argument<string>("name") { Description = string.Join(" | ",
            Datasets.Table.Where(d => d.Files.Count > 0).Select(d => d.Name)) };
        var dataRoot = CommonOptions.DataRoot();
        var urlBase = new Option<string?>("--url-base") { Description =
            "Download from this base URL instead of the official one (a mirror); also $PAGLAB_DOWNLOAD_BASE" };
        var cmd = new Command("fetch",
            "Download a dataset's official files (SHA-256 checked, resumable, never a half file)") { name, dataRoot,
            urlBase };
        cmd.SetAction(parse =>
        {
            string root = Datasets.ResolveRoot(parse.GetValue(dataRoot));
            string? mirror = parse.GetValue(urlBase) ?? Environment.GetEnvironmentVariable("PAGLAB_DOWNLOAD_BASE");
            Downloader.FetchDatasetAsync(parse.GetValue(name)!, root, mirror,
                new ConsoleProgress(TimeSpan.FromSeconds(5)))
                .GetAwaiter().GetResult();
            Console.WriteLine($"{parse.GetValue(name)} is in {Datasets.Folder(root, parse.GetValue(name)!)}");
            return 0;
        });
        return cmd;
    }

    static Command Show()
    {
        var name = new Argument<string>("name") { Description = "Dataset name (see 'paglab data list')" };
        var output = CommonOptions.Out(description: "PNG file to write");
        var count = new Option<int>("--count") { Description = "Number of images", DefaultValueFactory = _ => 32 };
        var split = NamedOption.Create("--split", "Split", Split.Train);
        var dataRoot = CommonOptions.DataRoot();
        var seed = CommonOptions.Seed();
        var cmd = new Command("show", "Write a labelled grid of sample images (distractor sets also show their masks)")
            { name, output, count, split, dataRoot, seed };
        cmd.SetAction(parse =>
        {
            int n = parse.GetValue(count);
            Common.Require.InRange(n, 1, 1024, "--count");
            string path = parse.GetValue(output)!;
            PagLab.IO.OutputPolicy.CheckFile("out", path, PagLab.IO.FileKind.Png);
            // Generated datasets are made at a small size: only n images are shown.
            var options = new DataOptions(parse.GetValue(dataRoot), parse.GetValue(seed), TrainSize: Math.Max(n, 64),
                TestSize: Math.Max(n, 64));
            var dataset = Datasets.Load(parse.GetValue(name)!, options);
            var part = dataset.Part(split.ValueIn(parse)).Take(n);
            SampleGrid.Save(path, dataset, part);
            Console.WriteLine($"wrote {path} ({part.Count} {dataset.Name} images, {dataset.Shape})");
            return 0;
        });
        return cmd;
    }
}
