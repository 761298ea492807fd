using PagLab.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Data;

/// <summary>How to find and size a dataset. Train/test sizes take the first n of each split.</summary>
public sealed record DataOptions(string? DataRoot = null, long Seed = 0, int? TrainSize = null, int? TestSize = null);

/// <summary>What `paglab data list` shows for one dataset.</summary>
public sealed record DatasetInfo(string Name, ImageShape Shape, int Classes, bool Present, string Where);

/// <summary>Every dataset PagLab knows; its name is how specs, run folders and the command line spell it.</summary>
public enum DatasetName
{
    [Name("mnist", "MNIST digits (LeCun et al. 1998), 1x28x28, from IDX files")] Mnist,
    [Name("fashion-mnist", "Fashion-MNIST (Xiao et al. 2017), 1x28x28, from IDX files")] FashionMnist,
    [Name("cifar10", "CIFAR-10 (Krizhevsky 2009), 3x32x32, from the binary version")] Cifar10,
    [Name("imagenet64", "downsampled ImageNet 64x64 (Chrabaszcz et al. 2017), from npz files")] ImageNet64,
    [Name("shapes", "embedded procedural outlines, 1x28x28")] Shapes,
    [Name("mnist-distractor", "mnist beside a fixed letter A (PAGs, Suppl. B.9), 1x56x28")] MnistDistractor,
    [Name("fashion-mnist-distractor", "fashion-mnist beside a fixed letter A, 1x56x28")] FashionMnistDistractor,
    [Name("shapes-distractor", "shapes beside a fixed letter A, 1x56x28")] ShapesDistractor,
    [Name("subspace-gaussians", "embedded synthetic Gaussians on a known subspace (closed forms)")]
    SubspaceGaussians,
    [Name("subspace-gaussians-weak", "embedded synthetic Gaussians, 1x8x8, on which standard training is weak")]
    SubspaceGaussiansWeak,
}

/// <summary>
/// One row of the dataset registry: its image shape and classes, its official files (with SHA-256), the
/// alignment noise level the paper uses on it, and how it is read (from files under the data root, generated,
/// or built from another dataset).
/// </summary>
public sealed record DatasetEntry
{
    public required DatasetName Id { get; init; }
    public required ImageShape Shape { get; init; }
    public int Classes { get; init; } = 10;
    public IReadOnlyList<RemoteFile> Files { get; init; } = Array.Empty<RemoteFile>();
    /// <summary>Why the files cannot be fetched by PagLab (imagenet64: login required); null when they can.</summary>
    public string? ManualDownload { get; init; }
    /// <summary>
    /// PAGs, Section 5 and Suppl. B.3: sigma = 0.5 on CIFAR-10 and 1.2 on ImageNet-64 in EDM's [-1,1] pixel
    /// units, i.e. 0.25 and 0.6 on [0,1] pixels; the paper states none for the others (PagLab's own 0.5).
    /// </summary>
    public double AlignmentSigma { get; init; } = Datasets.OtherAlignmentSigma;
    /// <summary>The usual per-channel mean and std of its [0,1] pixels (the torchvision recipes), which a traced
    /// model may expect; null where there is none.</summary>
    public (float[] Mean, float[] Std)? UsualNormalisation { get; init; }
    /// <summary>Generated at the size asked for (a size cap applies; no trimming after).</summary>
    public bool Generated { get; init; }
    /// <summary>The dataset a distractor set is built from; null otherwise.</summary>
    public DatasetName? Source { get; init; }
    /// <summary>Reads the full dataset under a data root (sizes are for generated sets).</summary>
    public required Func<string, DataOptions, IDataset> Read { get; init; }
    /// <summary>Whether the files are under a data root (true for generated sets).</summary>
    public Func<string, bool> Present { get; init; } = _ => true;
    /// <summary>Where `data list` says it lives, under a data root.</summary>
    public required Func<string, string> Where { get; init; }

    public string Name => Vocabulary.Name(Id);
}

/// <summary>The registry of every dataset PagLab knows, by name (as robustness's DATASETS table).</summary>
public static class Datasets
{
    /// <summary>PagLab's own alignment noise level where the paper states none, in [0,1]-pixel units.</summary>
    public const double OtherAlignmentSigma = 0.5;

    public static readonly IReadOnlyList<string> MnistClasses =
        Enumerable.Range(0, 10).Select(i => i.ToString()).ToArray();
    public static readonly IReadOnlyList<string> FashionClasses = new[]
        { "t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot" };

    const string MnistUrl = "https://ossci-datasets.s3.amazonaws.com/mnist/";
    const string FashionUrl = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/";
    static readonly ImageShape Grey28 = new(1, 28, 28), Distractor = new(1, 56, 28);
    static readonly string[] IdxStems = { "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte" };

    /// <summary>The table: one entry per <see cref="DatasetName"/>, in its order. SHA-256 digests checked against
    /// several independent published copies (see docs/data.md).</summary>
    public static readonly IReadOnlyList<DatasetEntry> Table = new DatasetEntry[]
    {
        IdxDataset(DatasetName.Mnist, MnistClasses, (new[] { 0.1307f }, new[] { 0.3081f }), IdxRemoteFiles(MnistUrl,
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422,
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881,
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877,
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542)),
        IdxDataset(DatasetName.FashionMnist, FashionClasses, (new[] { 0.2860f }, new[] { 0.3530f }),
            IdxRemoteFiles(FashionUrl,
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", 26421880,
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29515,
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4422102,
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5148)),
        new()
        {
            Id = DatasetName.Cifar10, Shape = new(3, 32, 32), AlignmentSigma = 0.25,
            UsualNormalisation = (new[] { 0.4914f, 0.4822f, 0.4465f }, new[] { 0.2470f, 0.2435f, 0.2616f }),
            Read = (root, _) => Cifar10Reader.Load(root),
            Present = root => Cifar10Reader.FindFolder(root) is not null,
            Where = root => Cifar10Reader.FindFolder(root) ?? Folder(root, DatasetName.Cifar10),
            Files = new[]
            {
                new RemoteFile("cifar-10-binary.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
                    "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd", 170052171),
            },
        },
        new()
        {
            Id = DatasetName.ImageNet64, Shape = new(3, 64, 64), Classes = 1000, AlignmentSigma = 0.6,
            UsualNormalisation = (new[] { 0.485f, 0.456f, 0.406f }, new[] { 0.229f, 0.224f, 0.225f }),
            Read = (root, _) => ImageNet64Reader.Load(root),
            Present = root => File.Exists(ImageNet64Reader.ValidationFile(root)),
            Where = root => Folder(root, DatasetName.ImageNet64),
            ManualDownload = "download the 64x64 npz files from image-net.org (login required) into "
                + "<data-root>/imagenet64/",
        },
        new()
        {
            Id = DatasetName.Shapes, Shape = Grey28, Generated = true, Where = _ => "embedded (procedural)",
            Read = (_, o) => ShapesDataset.Create(o.Seed, o.TrainSize ?? 10_000, o.TestSize ?? 2_000),
        },
        DistractorOf(DatasetName.MnistDistractor, DatasetName.Mnist),
        DistractorOf(DatasetName.FashionMnistDistractor, DatasetName.FashionMnist),
        DistractorOf(DatasetName.ShapesDistractor, DatasetName.Shapes) with { Where = _ => "embedded (procedural)" },
        new()
        {
            Id = DatasetName.SubspaceGaussians, Shape = Grey28, Generated = true,
            Where = _ => "embedded (synthetic, closed forms)",
            Read = (_, o) => SubspaceGaussians.Create(new SubspaceGaussiansOptions
                { Seed = o.Seed, TrainSize = o.TrainSize ?? 10_000, TestSize = o.TestSize ?? 2_000 }),
        },
        new()
        {
            Id = DatasetName.SubspaceGaussiansWeak, Shape = new(1, 8, 8), Classes = 2, Generated = true,
            Where = _ => "embedded (synthetic, closed forms; standard training is weak)",
            Read = (_, o) => SubspaceGaussians.Create(
                SubspaceGaussiansOptions.Weak(o.Seed, o.TrainSize ?? 64, o.TestSize ?? 10_000)),
        },
    };

    public static IReadOnlyList<string> Names => Vocabulary.Names<DatasetName>();

    public static string Name(DatasetName id) => Vocabulary.Name(id);

    public static DatasetEntry Entry(DatasetName id) => Table[(int)id];

    /// <summary>The entry named <paramref name="name"/>; else a one-line error listing the names.</summary>
    public static DatasetEntry Entry(string name) => Entry(Vocabulary.Parse<DatasetName>(name, "dataset"));

    /// <summary>The alignment noise level of a dataset (<see cref="DatasetEntry.AlignmentSigma"/>); PagLab's own
    /// default for a name outside the table (an imported model's dataset).</summary>
    public static double AlignmentSigma(string dataset) =>
        Vocabulary.TryParse(dataset, out DatasetName id) ? Entry(id).AlignmentSigma : OtherAlignmentSigma;

    /// <summary>A dataset of four IDX files (train/test images and labels) in its folder under the root.</summary>
    static DatasetEntry IdxDataset(DatasetName id, IReadOnlyList<string> classes,
        (float[] Mean, float[] Std) usualNormalisation, RemoteFile[] files) => new()
    {
        Id = id, Shape = Grey28, Files = files, Read = (root, _) => Idx(id, root, classes),
        UsualNormalisation = usualNormalisation,
        Present = root => IdxFiles(Folder(root, id)).All(f => f is not null), Where = root => Folder(root, id),
    };

    static DatasetEntry DistractorOf(DatasetName id, DatasetName source) => new()
    {
        Id = id, Shape = Distractor, Source = source, Present = root => Entry(source).Present(root),
        Where = _ => $"built from {Name(source)}",
        Read = (_, o) => DistractorDataset.Create(Name(id), Load(Name(source), o), o.Seed),
    };

    static RemoteFile[] IdxRemoteFiles(string url, string trainImages, long trainImagesSize, string trainLabels,
        long trainLabelsSize, string testImages, long testImagesSize, string testLabels, long testLabelsSize)
    {
        RemoteFile File(int i, string sha, long size) => new(IdxStems[i] + ".gz", url + IdxStems[i] + ".gz", sha, size);
        return new[] { File(0, trainImages, trainImagesSize), File(1, trainLabels, trainLabelsSize),
            File(2, testImages, testImagesSize), File(3, testLabels, testLabelsSize) };
    }

    /// <summary>The dataRoot given, else $PAGLAB_DATA, else ~/.cache/paglab.</summary>
    public static string ResolveRoot(string? dataRoot)
    {
        if (!string.IsNullOrWhiteSpace(dataRoot)) return Path.GetFullPath(dataRoot);
        var env = Environment.GetEnvironmentVariable("PAGLAB_DATA");
        if (!string.IsNullOrWhiteSpace(env)) return Path.GetFullPath(env);
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        string cache = Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } x
            ? x : Path.Combine(home, ".cache");
        return Path.Combine(cache, "paglab");
    }

    /// <summary>Load <paramref name="name"/> and insist its images are what <paramref name="user"/> (a model, a
    /// denoiser) expects.</summary>
    public static IDataset LoadFor(string name, DataOptions options, ImageShape expected, string user)
    {
        var data = Load(name, options);
        if (data.Shape != expected) throw new PagLabException($"{user} expects {expected} images, {data.Name} has "
            + $"{data.Shape}");
        return data;
    }

    /// <summary>
    /// The most images a generated dataset makes per split: 200,000 28x28 images are 630 MB of float32
    /// (twice that with a distractor); file-backed datasets are bounded by their files instead.
    /// </summary>
    public const int MaxGenerated = 200_000;

    public static IDataset Load(string name, DataOptions? options = null)
    {
        options ??= new DataOptions();
        if (options.TrainSize is <= 0
            || options.TestSize is <= 0) throw new PagLabException("train and test sizes must be positive");
        if (!Vocabulary.TryParse(name, out DatasetName id))
            throw new PagLabException($"unknown dataset '{name}' (known: {string.Join(", ", Names)})");
        var entry = Entry(id);
        if (Entry(entry.Source ?? id).Generated && (options.TrainSize > MaxGenerated
            || options.TestSize > MaxGenerated))
            throw new PagLabException($"{name} is generated at the size asked for: at most {MaxGenerated} images per "
                + $"split, got {Math.Max(options.TrainSize ?? 0, options.TestSize ?? 0)}");
        var full = entry.Read(ResolveRoot(options.DataRoot), options);
        return entry.Generated ? full : Trim(full, options);
    }

    /// <summary>Where a file-backed dataset lives under the root.</summary>
    public static string Folder(string root, string name) => Path.Combine(root, name);

    public static string Folder(string root, DatasetName id) => Folder(root, Name(id));

    public static IReadOnlyList<DatasetInfo> Describe(string? dataRoot)
    {
        string root = ResolveRoot(dataRoot);
        return Table.Select(e => new DatasetInfo(e.Name, e.Shape, e.Classes, e.Present(root), e.Where(root)))
            .ToArray();
    }

    /// <summary>The four IDX files (train images, train labels, test images, test labels), gz preferred; null where
    /// missing.</summary>
    public static string?[] IdxFiles(string folder)
    {
        string? Find(string stem) =>
            new[] { stem + ".gz", stem }.Select(f => Path.Combine(folder, f)).FirstOrDefault(File.Exists);
        return IdxStems.Select(Find).ToArray();
    }

    static IDataset Idx(DatasetName id, string root, IReadOnlyList<string> classes)
    {
        string name = Name(id), folder = Folder(root, id);
        var files = IdxFiles(folder);
        for (int i = 0; i < 4; i++)
            if (files[i] is null)
                throw new PagLabException($"dataset '{name}' not found: no {IdxStems[i]}[.gz] in {folder}"
                                          + $" (run 'paglab data fetch {name}' or pass `dataRoot`)");
        DataSplit Split(string images, string labels)
        {
            var x = IdxReader.ReadImages(images);
            var y = IdxReader.ReadLabels(labels);
            if (x.shape[0] != y.shape[0]) throw new DataFormatException(labels,
                $"{y.shape[0]} labels for {x.shape[0]} images in {images}");
            if (x.shape[2] != 28 || x.shape[3] != 28) throw new DataFormatException(images,
                $"expected 28x28 images, got {x.shape[2]}x{x.shape[3]}");
            if (y.numel() > 0 && (y.min().item<long>() < 0 || y.max().item<long>() >= classes.Count))
                throw new DataFormatException(labels, $"labels outside 0..{classes.Count - 1}");
            return new DataSplit(x, y);
        }
        return new InMemoryDataset(name, new ImageShape(1, 28, 28), classes, Split(files[0]!, files[1]!),
            Split(files[2]!, files[3]!));
    }

    static IDataset Trim(IDataset full, DataOptions options)
    {
        if (options.TrainSize is null && options.TestSize is null) return full;
        return new InMemoryDataset(full.Name, full.Shape, full.ClassNames,
            options.TrainSize is int tr ? full.Train.Take(tr) : full.Train,
            options.TestSize is int te ? full.Test.Take(te) : full.Test);
    }
}
