using PagLab.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Data;

/// <summary>How to find and size a dataset. Train/test sizes take the first n of each split.</summary>
public sealed record DataOptions(string? DataRoot = null, long Seed = 0, int? TrainSize = null, int? TestSize = null);

/// <summary>What `paglab data list` shows for one dataset.</summary>
public sealed record DatasetInfo(string Name, ImageShape Shape, int Classes, bool Present, string Where);

/// <summary>The registry of every dataset PagLab knows, by name.</summary>
public static class Datasets
{
    public static readonly IReadOnlyList<string> Names = new[]
    {
        "mnist", "fashion-mnist", "cifar10", "imagenet64", "shapes",
        "mnist-distractor", "fashion-mnist-distractor", "shapes-distractor", "subspace-gaussians",
        "subspace-gaussians-weak",
    };

    public static readonly IReadOnlyList<string> MnistClasses = Enumerable.Range(0,
        10).Select(i => i.ToString()).ToArray();
    public static readonly IReadOnlyList<string> FashionClasses = new[]
        { "t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot" };

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
        string generator = name.EndsWith("-distractor",
            StringComparison.Ordinal) ? name[..^"-distractor".Length] : name;
        bool generated = generator is "shapes" or "subspace-gaussians" or "subspace-gaussians-weak";
        if (generated && (options.TrainSize > MaxGenerated || options.TestSize > MaxGenerated))
            throw new PagLabException($"{name} is generated at the size asked for: at most {MaxGenerated} images per "
                + $"split, got {Math.Max(options.TrainSize ?? 0, options.TestSize ?? 0)}");
        string root = ResolveRoot(options.DataRoot);
        IDataset full = name switch
        {
            "mnist" => Idx("mnist", root, MnistClasses),
            "fashion-mnist" => Idx("fashion-mnist", root, FashionClasses),
            "cifar10" => Cifar10Reader.Load(root),
            "imagenet64" => ImageNet64Reader.Load(root),
            "shapes" => ShapesDataset.Create(options.Seed, options.TrainSize ?? 10_000, options.TestSize ?? 2_000),
            "subspace-gaussians" => SubspaceGaussians.Create(new SubspaceGaussiansOptions
            { Seed = options.Seed, TrainSize = options.TrainSize ?? 10_000, TestSize = options.TestSize ?? 2_000 }),
            "subspace-gaussians-weak" => SubspaceGaussians.Create(
                SubspaceGaussiansOptions.Weak(options.Seed, options.TrainSize ?? 64, options.TestSize ?? 10_000)),
            _ when name.EndsWith("-distractor", StringComparison.Ordinal) && Names.Contains(name) =>
                DistractorDataset.Create(Load(name[..^"-distractor".Length], options), options.Seed),
            _ => throw new PagLabException($"unknown dataset '{name}' (known: {string.Join(", ", Names)})"),
        };
        return Trim(full, options);
    }

    /// <summary>Where a file-backed dataset lives under the root.</summary>
    public static string Folder(string root, string name) => Path.Combine(root, name);

    public static IReadOnlyList<DatasetInfo> Describe(string? dataRoot)
    {
        string root = ResolveRoot(dataRoot);
        bool Has(string n) => n switch
        {
            "mnist" or "fashion-mnist" => IdxFiles(Folder(root, n)).All(f => f is not null),
            "cifar10" => Cifar10Reader.FindFolder(root) is not null,
            "imagenet64" => File.Exists(Path.Combine(Folder(root, "imagenet64"), "val_data.npz")),
            _ => true,
        };
        return new[]
        {
            new DatasetInfo("mnist", new(1, 28, 28), 10, Has("mnist"), Folder(root, "mnist")),
            new DatasetInfo("fashion-mnist", new(1, 28, 28), 10, Has("fashion-mnist"), Folder(root, "fashion-mnist")),
            new DatasetInfo("cifar10", new(3, 32, 32), 10, Has("cifar10"),
                Cifar10Reader.FindFolder(root) ?? Folder(root, "cifar10")),
            new DatasetInfo("imagenet64", new(3, 64, 64), 1000, Has("imagenet64"), Folder(root, "imagenet64")),
            new DatasetInfo("shapes", new(1, 28, 28), 10, true, "embedded (procedural)"),
            new DatasetInfo("mnist-distractor", new(1, 56, 28), 10, Has("mnist"), "built from mnist"),
            new DatasetInfo("fashion-mnist-distractor", new(1, 56, 28), 10, Has("fashion-mnist"),
                "built from fashion-mnist"),
            new DatasetInfo("shapes-distractor", new(1, 56, 28), 10, true, "embedded (procedural)"),
            new DatasetInfo("subspace-gaussians", new(1, 28, 28), 10, true, "embedded (synthetic, closed forms)"),
            new DatasetInfo("subspace-gaussians-weak", new(1, 8, 8), 2, true,
                "embedded (synthetic, closed forms; standard training is weak)"),
        };
    }

    /// <summary>The four IDX files (train images, train labels, test images, test labels), gz preferred; null where
    /// missing.</summary>
    public static string?[] IdxFiles(string folder)
    {
        string? Find(string stem) =>
            new[] { stem + ".gz", stem }.Select(f => Path.Combine(folder, f)).FirstOrDefault(File.Exists);
        return new[] { Find("train-images-idx3-ubyte"), Find("train-labels-idx1-ubyte"), Find("t10k-images-idx3-ubyte"),
            Find("t10k-labels-idx1-ubyte") };
    }

    static IDataset Idx(string name, string root, IReadOnlyList<string> classes)
    {
        string folder = Folder(root, name);
        var files = IdxFiles(folder);
        string[] stems = { "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte" };
        for (int i = 0; i < 4; i++)
            if (files[i] is null)
                throw new PagLabException($"dataset '{name}' not found: no {stems[i]}[.gz] in {folder}"
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
        // generated at the requested size
        if (full is SubspaceGaussians or InMemoryDataset { Name: "shapes" }) return full;
        return new InMemoryDataset(full.Name, full.Shape, full.ClassNames,
            options.TrainSize is int tr ? full.Train.Take(tr) : full.Train,
            options.TestSize is int te ? full.Test.Take(te) : full.Test);
    }
}
