using System.Text;
using System.Text.Json;
using PagLab.Common;
using PagLab.Experiments;
using PagLab.Tests.Experiments;
using PagLab.Training;

namespace PagLab.Tests.Training;

/// <summary>`--tensorboard DIR`: the event file TorchSharp's SummaryWriter writes, read back.</summary>
public class TensorboardTests
{
    sealed record Scalar(string Tag, long Step, float Value);

    /// <summary>CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), masked as TFRecord does.</summary>
    static uint MaskedCrc(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
        }
        crc = ~crc;
        return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
    }

    static ulong Varint(ReadOnlySpan<byte> data, ref int at)
    {
        ulong value = 0;
        for (int shift = 0; ; shift += 7)
        {
            byte b = data[at++];
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return value;
        }
    }

    /// <summary>The fields of one protobuf message: (field number, wire type, varint or fixed value, bytes).</summary>
    static List<(int Field, int Wire, ulong Number, byte[] Bytes)> Fields(ReadOnlySpan<byte> message)
    {
        var fields = new List<(int, int, ulong, byte[])>();
        int at = 0;
        while (at < message.Length)
        {
            ulong key = Varint(message, ref at);
            int field = (int)(key >> 3), wire = (int)(key & 7);
            switch (wire)
            {
                case 0: fields.Add((field, wire, Varint(message, ref at), Array.Empty<byte>())); break;
                case 1:
                    fields.Add((field, wire, BitConverter.ToUInt64(message.Slice(at, 8)), Array.Empty<byte>()));
                    at += 8;
                    break;
                case 5:
                    fields.Add((field, wire, BitConverter.ToUInt32(message.Slice(at, 4)), Array.Empty<byte>()));
                    at += 4;
                    break;
                case 2:
                    int length = (int)Varint(message, ref at);
                    fields.Add((field, wire, 0, message.Slice(at, length).ToArray()));
                    at += length;
                    break;
                default: throw new InvalidDataException($"wire type {wire}");
            }
        }
        return fields;
    }

    /// <summary>
    /// TFRecord framing: uint64 length, masked CRC of the length, the Event proto, masked CRC of the proto.
    /// Event: 1 wall_time, 2 step, 3 file_version, 5 summary; Summary: 1 value. Every value with its event's step.
    /// </summary>
    static (string? FileVersion, List<(long Step, List<(int Field, int Wire, ulong Number, byte[] Bytes)> Value)>
        Values) ReadValues(string path)
    {
        byte[] file = File.ReadAllBytes(path);
        var values = new List<(long, List<(int, int, ulong, byte[])>)>();
        string? version = null;
        for (int at = 0; at < file.Length;)
        {
            var header = file.AsSpan(at, 8);
            int length = checked((int)BitConverter.ToUInt64(header));
            Assert.Equal(MaskedCrc(header), BitConverter.ToUInt32(file, at + 8));
            var proto = file.AsSpan(at + 12, length);
            Assert.Equal(MaskedCrc(proto), BitConverter.ToUInt32(file, at + 12 + length));
            at += 12 + length + 4;
            var eventFields = Fields(proto);
            long step = (long)eventFields.Where(f => f.Field == 2).Select(f => f.Number).FirstOrDefault();
            foreach (var f in eventFields)
            {
                if (f.Field == 3) version = Encoding.UTF8.GetString(f.Bytes);
                if (f.Field != 5) continue;
                foreach (var value in Fields(f.Bytes).Where(v => v.Field == 1)) values.Add((step, Fields(value.Bytes)));
            }
        }
        return (version, values);
    }

    static string Tag(List<(int Field, int Wire, ulong Number, byte[] Bytes)> value) =>
        Encoding.UTF8.GetString(value.Single(v => v.Field == 1).Bytes);

    /// <summary>The scalars (Value field 2, simple_value) of an event file.</summary>
    static (string? FileVersion, List<Scalar> Scalars) ReadEvents(string path)
    {
        var (version, values) = ReadValues(path);
        var scalars = values.Where(v => v.Value.Any(f => f.Field == 2 && f.Wire == 5))
            .Select(v => new Scalar(Tag(v.Value), v.Step,
                BitConverter.UInt32BitsToSingle((uint)v.Value.Single(f => f.Field == 2).Number))).ToList();
        return (version, scalars);
    }

    [Fact]
    public void ClassifierRun_WritesLossAndLrPerStep_AndTheEpochMetrics_IntoAnEventFile()
    {
        string runDir = TestPaths.TempDir("run"), board = Path.Combine(TestPaths.TempDir("tb"), "run");
        var config = new TrainConfig { Dataset = "shapes", Epochs = 2, TrainSize = 200, TestSize = 50, BatchSize = 50 };
        var result = Trainer.Run(config, runDir, tensorboard: board);
        Assert.Equal(RunStatus.Completed, result.Status);

        var file = Assert.Single(Directory.GetFiles(board, "events.out.tfevents.*"));
        var (version, scalars) = ReadEvents(file);
        Assert.Equal("brain.Event:2", version);
        var losses = scalars.Where(s => s.Tag == "step/loss").ToList();
        Assert.Equal(Enumerable.Range(1, 8).Select(i => (long)i), losses.Select(s => s.Step));
        Assert.All(scalars.Where(s => s.Tag == "step/lr"), s => Assert.Equal((float)config.LearningRate, s.Value));
        // the epoch's train loss is the mean of its batches' losses (equal batch sizes here)
        for (int epoch = 1; epoch <= 2; epoch++)
        {
            var metrics = result.Metrics[epoch - 1];
            float Epoch(string tag) => scalars.Single(s => s.Tag == tag && s.Step == epoch).Value;
            Assert.Equal((float)metrics.TestAccuracy, Epoch("epoch/testAccuracy"));
            Assert.Equal((float)metrics.TrainAccuracy, Epoch("epoch/trainAccuracy"));
            Assert.Equal(metrics.TrainLoss, losses.Skip(4 * (epoch - 1)).Take(4).Average(s => (double)s.Value), 5);
        }
    }

    [Fact]
    public void DenoiserRun_LogsItsLossPerSigmaBucket_UnderEpoch()
    {
        string runDir = TestPaths.TempDir("run"), board = TestPaths.TempDir("tb");
        var metrics = DenoiserTrainer.Run(new DenoiserConfig
        {
            Dataset = "subspace-gaussians", Arch = PagLab.Score.DenoiserArch.Mlp, HiddenWidth = 16, Epochs = 1,
                TrainSize = 64, BatchSize = 32,
        }, runDir, tensorboard: board);
        var (_, scalars) = ReadEvents(Assert.Single(Directory.GetFiles(board, "events.out.tfevents.*")));
        Assert.Equal(2, scalars.Count(s => s.Tag == "step/loss"));
        Assert.Equal((float)metrics[0].Loss, scalars.Single(s => s.Tag == "epoch/loss").Value);
        foreach (var (bucket, loss) in metrics[0].LossBySigma)
            Assert.Equal((float)loss, scalars.Single(s => s.Tag == $"epoch/lossBySigma/{bucket}").Value);
    }

    [Fact]
    public void SweepJob_WritesItsTrainingScalars_IntoASubFolderNamedByItsId()
    {
        var spec = TinySweep.Spec() with
            { Measure = TinySweep.Spec().Measure with { Manifold = false, Alignment = false } };
        string dir = TestPaths.TempDir("sweep"), board = TestPaths.TempDir("tb");
        var job = spec.Jobs()[0];
        Assert.Equal(JobState.Completed, SweepRunner.RunOne(spec, new SweepFolder(dir), job.Index,
            NullProgress.Instance, board));
        var events = Assert.Single(Directory.GetFiles(Path.Combine(board, job.Id), "events.out.tfevents.*"));
        var (_, scalars) = ReadEvents(events);
        Assert.Contains(scalars, s => s.Tag == "step/loss");
        Assert.Contains(scalars, s => s.Tag == "epoch/testAccuracy" && s.Step == 1);
    }

    [Fact]
    public void ClassifierRun_LogsTestLoss_ItsConfigAsText_AndTheGradientsOfFixedTestImagesEachEpoch()
    {
        string runDir = TestPaths.TempDir("run"), board = TestPaths.TempDir("tb");
        var config = new TrainConfig { Dataset = "shapes", Epochs = 2, TrainSize = 200, TestSize = 50, BatchSize = 50 };
        var result = Trainer.Run(config, runDir, tensorboard: board);
        var (_, values) = ReadValues(Assert.Single(Directory.GetFiles(board, "events.out.tfevents.*")));
        var (_, scalars) = ReadEvents(Assert.Single(Directory.GetFiles(board, "events.out.tfevents.*")));

        // test loss: the mean cross-entropy of the saved model on the test split, recomputed here
        using var model = PagLab.Models.SavedModel.Load(runDir);
        var test = PagLab.Data.Datasets.Load("shapes", new PagLab.Data.DataOptions(null, 0, 200, 50)).Test;
        double expected;
        using (TorchSharp.torch.no_grad())
            expected = TorchSharp.torch.nn.functional.cross_entropy(model.call(test.Images), test.Labels)
                .item<float>();
        Assert.Equal(expected, result.Metrics[1].TestLoss, 4);
        Assert.Equal((float)result.Metrics[1].TestLoss, scalars.Single(s => s.Tag == "epoch/testLoss" && s.Step == 2)
            .Value);

        // the run's config, as text
        var text = Assert.Single(values, v => Tag(v.Value).StartsWith("config", StringComparison.Ordinal));
        Assert.Contains("\"epochs\": 2", Encoding.UTF8.GetString(text.Value.SelectMany(f => f.Bytes).ToArray()));

        // one image per epoch: the 8 first test images above their input gradients (predicted class)
        var images = values.Where(v => Tag(v.Value) == "gradients").ToList();
        Assert.Equal(new long[] { 1, 2 }, images.Select(v => v.Step));
        var image = Fields(images[1].Value.Single(f => f.Field == 4).Bytes);      // Image: 1 h, 2 w, 3 colours, 4 PNG
        Assert.Equal(2UL * 28, image.Single(f => f.Field == 1).Number);
        Assert.Equal((ulong)ClassifierStep.TensorboardImages * 28, image.Single(f => f.Field == 2).Number);
        using var png = SkiaSharp.SKBitmap.Decode(image.Single(f => f.Field == 4).Bytes);
        var x = test.Images.narrow(0, 0, ClassifierStep.TensorboardImages);
        using var maps = PagLab.Imaging.ImageGrid.SignedToImage(
            PagLab.Score.ModelGradients.Compute(model, x, PagLab.Models.GradientMode.Predicted));
        foreach (var (i, row, col) in new[] { (0, 5, 7), (3, 14, 20), (7, 27, 3) })
        {
            Assert.Equal(x[i, 0, row, col].item<float>() * 255, png.GetPixel(i * 28 + col, row).Red, 1.0);
            var gradient = png.GetPixel(i * 28 + col, 28 + row);
            Assert.Equal(maps[i, 0, row, col].item<float>() * 255, gradient.Red, 1.5);
            Assert.Equal(maps[i, 2, row, col].item<float>() * 255, gradient.Blue, 1.5);
        }
    }

    [Fact]
    public void SweepSharedTrainings_LogTheAutoencoderAndTheDenoiser()
    {
        var spec = TinySweep.Spec() with
        {
            Datasets = new[] { "shapes" }, Train = TinySweep.Spec().Train with { Arch = PagLab.Models.Architecture.SmallCnn },
            Shared = new SharedSettings
            {
                TrainSize = 64, TangentCount = 2, TangentBatchSize = 2,
                Autoencoder = new PagLab.Training.AutoencoderSettings { Epochs = 1, BatchSize = 32, BaseChannels = 8 },
                Denoiser = new SharedDenoiserSettings { Epochs = 1, BatchSize = 32, BaseChannels = 8 },
            },
        };
        string dir = TestPaths.TempDir("sweep"), board = TestPaths.TempDir("tb");
        using var session = new SweepSession(spec, new SweepFolder(dir), board);
        Assert.True(session.TryComplete("shapes", NullProgress.Instance, wait: true));
        foreach (var (training, epochTag) in new[] { ("autoencoder", "epoch/testReconstruction"),
            ("denoiser", "epoch/loss") })
        {
            var events = Assert.Single(Directory.GetFiles(Path.Combine(board, "shared-shapes", training),
                "events.out.tfevents.*"));
            var (_, scalars) = ReadEvents(events);
            Assert.Equal(2, scalars.Count(s => s.Tag == "step/loss"));                  // 64 images, batches of 32
            Assert.Contains(scalars, s => s.Tag == epochTag && s.Step == 1);
            Assert.Contains(ReadValues(events).Values, v => Tag(v.Value).StartsWith("config", StringComparison.Ordinal));
        }
    }
}
