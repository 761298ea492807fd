using PagLab.Common;
using PagLab.IO.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Tests.IO;

public class TorchFileTests
{
    static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Metrics", "Fixtures", name);

    /// <summary>The values make_fixtures.tiny_state() saved with PyTorch 1.13.</summary>
    static void AssertTinyState(Dictionary<string, Tensor> sd)
    {
        Assert.Equal(new[] { "a", "t", "b", "n", "h", "m" }, sd.Keys);
        using var a = arange(18, dtype: float32).reshape(2, 1, 3, 3) / 4;
        Assert.True(sd["a"].equal(a).all().item<bool>());
        Assert.Equal(new long[] { 3, 2 }, sd["t"].shape);
        Assert.Equal(ScalarType.Float64, sd["t"].dtype);
        Assert.Equal(new double[] { 0, 3, 1, 4, 2, 5 }, sd["t"].data<double>().ToArray());
        Assert.True(sd["b"].equal(a[1]).all().item<bool>());
        Assert.Equal(ScalarType.Int64, sd["n"].dtype);
        Assert.Empty(sd["n"].shape);
        Assert.Equal(7L, sd["n"].item<long>());
        Assert.Equal(ScalarType.Float16, sd["h"].dtype);
        Assert.Equal(new[] { 1.5f, -2f }, sd["h"].to(float32).data<float>().ToArray());
        Assert.Equal(new[] { true, false }, sd["m"].data<bool>().ToArray());
    }

    [Theory]
    [InlineData("tiny_zip.pth")]
    [InlineData("tiny_legacy.pth")]
    public void ReadStateDict_FileWrittenByPyTorch_GivesItsValuesTypesAndShapes(string file) =>
        AssertTinyState(TorchFile.ReadStateDict(Fixture(file)));

    [Fact]
    public void WriteThenRead_RoundTrip_KeepsNamesOrderValuesAndTypes()
    {
        string path = Path.Combine(TestPaths.TempDir(), "rt.pt");
        var sd = TorchFile.ReadStateDict(Fixture("tiny_legacy.pth"));
        sd["big"] = randn(5, 7, 3);
        sd["empty"] = zeros(0, 4);
        TorchFile.WriteStateDict(path, sd);
        var back = TorchFile.ReadStateDict(path);
        Assert.Equal(sd.Keys, back.Keys);
        foreach (var (k, t) in sd)
        {
            Assert.Equal(t.dtype, back[k].dtype);
            Assert.Equal(t.shape, back[k].shape);
            Assert.True(t.equal(back[k]).all().item<bool>());
        }
    }

    [Theory]
    [InlineData("evil_os_system.pth", "os.system")]
    [InlineData("evil_eval_zip.pth", "builtins.eval")]
    [InlineData("evil_reduce.pkl", "posix.system")]
    public void MaliciousPickle_IsRefused_NamingTheGlobal(string file, string global)
    {
        var e = Assert.Throws<DataFormatException>(() => TorchFile.ReadStateDict(Fixture(file)));
        Assert.Contains($"refusing pickle global '{global}'", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void NotAPyTorchFile_GivesOneLineError()
    {
        string path = Path.Combine(TestPaths.TempDir(), "x.pth");
        File.WriteAllText(path, "hello world");
        var e = Assert.Throws<DataFormatException>(() => TorchFile.ReadStateDict(path));
        Assert.Contains("not a PyTorch file", e.Message);
    }

    [Theory]
    [InlineData("tiny_zip.pth", 1)]
    [InlineData("tiny_legacy.pth", 2)]
    public void MutatedOrTruncatedFiles_GiveCleanErrors_1000Times(string file, int seed)
    {
        byte[] original = File.ReadAllBytes(Fixture(file));
        var rng = new Random(seed);
        string path = Path.Combine(TestPaths.TempDir(), file);
        int refused = 0;
        for (int trial = 0; trial < 1000; trial++)
        {
            byte[] bytes;
            if (trial % 4 == 0) bytes = original[..rng.Next(original.Length)];
            else
            {
                bytes = (byte[])original.Clone();
                for (int m = rng.Next(1, 4); m > 0; m--) bytes[rng.Next(bytes.Length)] = (byte)rng.Next(256);
            }
            File.WriteAllBytes(path, bytes);
            try
            {
                foreach (var t in TorchFile.ReadStateDict(path).Values) t.Dispose();
            }
            catch (PagLabException e)
            {
                Assert.DoesNotContain('\n', e.Message);
                refused++;
            }
        }
        Assert.True(refused > 250, $"only {refused} of 1000 damaged files were refused");
    }
}

public class RestrictedUnpicklerTests
{
    /// <summary>Protocol-2 bytes in the style of 2018 files (Python 2 strings, [key, value] lists, LONG1 sizes, a CUDA
    /// location).</summary>
    static byte[] OldStyleObject()
    {
        var s = new List<byte> { 0x80, 2 };
        void Str(string text) { s.Add((byte)'U'); s.Add((byte)text.Length);
            s.AddRange(System.Text.Encoding.ASCII.GetBytes(text)); }
        void Global(string m, string n) => s.AddRange(System.Text.Encoding.ASCII.GetBytes($"c{m}\n{n}\n"));
        Global("collections", "OrderedDict");
        s.Add((byte)']'); s.Add((byte)'(');                      // [ ( ...
        s.Add((byte)']'); s.Add((byte)'(');                      //   [ ( ...
        Str("w");
        Global("torch._utils", "_rebuild_tensor_v2");
        s.Add((byte)'(');
        s.Add((byte)'('); Str("storage"); Global("torch", "FloatStorage"); Str("12345"); Str("cuda:0");
        // LONG1 3, None view
        s.AddRange(new byte[] { 0x8a, 1, 3 }); s.Add((byte)'N'); s.Add((byte)'t'); s.Add((byte)'Q');
        // offset 0, (3,), (1,), False
        s.AddRange(new byte[] { (byte)'K', 0, (byte)'K', 3, 0x85, (byte)'K', 1, 0x85, 0x89 });
        Global("collections", "OrderedDict"); s.Add((byte)')'); s.Add((byte)'R');
        s.Add((byte)'t'); s.Add((byte)'R');
        s.Add((byte)'e');                                        //   ] appended pair
        s.Add((byte)'a');                                        // list of pairs
        s.Add((byte)0x85); s.Add((byte)'R'); s.Add((byte)'.');   // OrderedDict(([...],))
        return s.ToArray();
    }

    [Fact]
    public void LegacyFile_InThe2018Style_IsRead()
    {
        byte[] tiny = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Metrics", "Fixtures",
            "tiny_legacy.pth"));
        int at = 0;
        // magic, protocol, sys info
        for (int i = 0; i < 3; i++) RestrictedUnpickler.Load(tiny, "tiny", null, at, out at);
        var file = new List<byte>(tiny[..at]);
        file.AddRange(OldStyleObject());
        file.AddRange(new byte[] { 0x80, 2, (byte)']', (byte)'(', (byte)'U', 5 });
        file.AddRange(System.Text.Encoding.ASCII.GetBytes("12345"));
        file.AddRange(new byte[] { (byte)'e', (byte)'.' });
        file.AddRange(BitConverter.GetBytes(3L));
        foreach (float f in new[] { 1.5f, -2f, 4f }) file.AddRange(BitConverter.GetBytes(f));
        string path = Path.Combine(TestPaths.TempDir(), "old.pth");
        File.WriteAllBytes(path, file.ToArray());
        var sd = TorchFile.ReadStateDict(path);
        Assert.Equal(new[] { 1.5f, -2f, 4f }, sd["w"].data<float>().ToArray());
    }

    [Theory]
    [InlineData("(S'ls'\nios\nsystem\n.", "refusing pickle global 'os.system'")]                    // INST, protocol 0
    // NEWOBJ target
    [InlineData("\u0080\u0002csubprocess\nPopen\n)\u0081.", "refusing pickle global 'subprocess.Popen'")]
    [InlineData("\u0080\u0002ctorch\nload\n.", "refusing pickle global 'torch.load'")]
    [InlineData("\u0080\u0002ccollections\nOrderedDict\n)\u0081.", "unsupported pickle opcode 0x81")]
    public void DisallowedGlobalsAndOpcodes_AreRefusedBeforeAnythingRuns(string pickle, string message)
    {
        var e = Assert.Throws<DataFormatException>(() =>
            RestrictedUnpickler.Load(System.Text.Encoding.Latin1.GetBytes(pickle), "x.pkl"));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void SelfReferencingList_GivesACleanError()
    {
        byte[] pickle = { 0x80, 2, (byte)']', (byte)'2', (byte)'a', (byte)'.' }; // l = []; l.append(l)
        var value = RestrictedUnpickler.Load(pickle, "loop.pkl");
        Assert.IsType<List<object?>>(value);
        string path = Path.Combine(TestPaths.TempDir(), "loop.pt");
        var zip = new List<(string, byte[])> { ("archive/data.pkl", pickle) };
        using (var f = File.Create(path)) StoredZip.Write(f, zip);
        var e = Assert.Throws<DataFormatException>(() => TorchFile.ReadStateDict(path));
        Assert.Contains("nests too deeply", e.Message);
    }
}
