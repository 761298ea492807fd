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
    /// Event: 1 wall_time, 2 step, 3 file_version, 5 summary; Summary: 1 value; Value: 1 tag, 2 simple_value.
    /// </summary>
    static (string? FileVersion, List<Scalar> Scalars) ReadEvents(string path)
    {
        byte[] file = File.ReadAllBytes(path);
        var scalars = new List<Scalar>();
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
                foreach (var value in Fields(f.Bytes).Where(v => v.Field == 1).Select(v => Fields(v.Bytes)))
                {
                    string tag = Encoding.UTF8.GetString(value.Single(v => v.Field == 1).Bytes);
                    float number = BitConverter.UInt32BitsToSingle((uint)value.Single(v => v.Field == 2).Number);
                    scalars.Add(new Scalar(tag, step, number));
                }
            }
        }
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
}
