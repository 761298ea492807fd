using System.Text;

namespace PagLab.Tests.Build;

/// <summary>Tests the GLIBCXX weak-marking patcher on minimal ELF64 files built here, and on the real
/// library.</summary>
public class ElfVersionNeedTests
{
    // Builds: ELF header, .dynstr, .gnu.version_r (one Verneed for libstdc++ with the given versions),
    // .shstrtab, then the section header table (null, .dynstr, .gnu.version_r, .shstrtab).
    static byte[] MakeElf(params (string Name, ushort Flags)[] versions)
    {
        var dynstr = new List<byte> { 0 };
        int Add(List<byte> table,
            string s) { int at = table.Count; table.AddRange(Encoding.ASCII.GetBytes(s)); table.Add(0); return at; }
        int file = Add(dynstr, "libstdc++.so.6");
        var names = versions.Select(v => Add(dynstr, v.Name)).ToArray();
        var shstr = new List<byte> { 0 };
        int nDynstr = Add(shstr, ".dynstr"), nVerneed = Add(shstr, ".gnu.version_r"), nShstr = Add(shstr, ".shstrtab");

        var verneed = new List<byte>();
        void U16(List<byte> b, int v) => b.AddRange(BitConverter.GetBytes((ushort)v));
        void U32(List<byte> b, uint v) => b.AddRange(BitConverter.GetBytes(v));
        U16(verneed, 1); U16(verneed, versions.Length); U32(verneed, (uint)file); U32(verneed, 16); U32(verneed, 0);
        for (int i = 0; i < versions.Length; i++)
        {
            U32(verneed, 0x1234); U16(verneed, versions[i].Flags); U16(verneed, i + 2); U32(verneed, (uint)names[i]);
            U32(verneed, i == versions.Length - 1 ? 0u : 16u);
        }

        var body = new List<byte>(new byte[64]);
        long offDynstr = body.Count; body.AddRange(dynstr);
        while (body.Count % 8 != 0) body.Add(0);
        long offVerneed = body.Count; body.AddRange(verneed);
        long offShstr = body.Count; body.AddRange(shstr);
        while (body.Count % 8 != 0) body.Add(0);
        long shoff = body.Count;
        void Section(uint name, uint type, long off, long size, uint link, uint info)
        {
            var h = new List<byte>();
            U32(h, name); U32(h, type); h.AddRange(new byte[16]);
            h.AddRange(BitConverter.GetBytes(off)); h.AddRange(BitConverter.GetBytes(size));
            U32(h, link); U32(h, info); h.AddRange(new byte[16]);
            body.AddRange(h);
        }
        Section(0, 0, 0, 0, 0, 0);
        Section((uint)nDynstr, 3, offDynstr, dynstr.Count, 0, 0);
        Section((uint)nVerneed, 0x6ffffffe, offVerneed, verneed.Count, 1, 1);
        Section((uint)nShstr, 3, offShstr, shstr.Count, 0, 0);

        var elf = body.ToArray();
        new byte[] { 0x7f, (byte)'E', (byte)'L', (byte)'F', 2, 1, 1 }.CopyTo(elf, 0);
        BitConverter.GetBytes(shoff).CopyTo(elf, 0x28);
        BitConverter.GetBytes((ushort)64).CopyTo(elf, 0x3A);
        BitConverter.GetBytes((ushort)4).CopyTo(elf, 0x3C);
        BitConverter.GetBytes((ushort)3).CopyTo(elf, 0x3E);
        return elf;
    }

    static string Write(byte[] bytes)
    {
        string path = Path.Combine(TestPaths.TempDir("elf"), "lib.so");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void MarkWeak_SetsOnlyTheWeakFlagOfTheNamedVersion_AndIsIdempotent()
    {
        var original = MakeElf(("GLIBCXX_3.4.30", 0), ("GLIBCXX_3.4.32", 0), ("CXXABI_1.3", 0));
        string path = Write(original);

        Assert.Equal(ElfPatchOutcome.Patched, ElfVersionNeed.MarkWeak(path, "GLIBCXX_3.4.32"));
        var patched = File.ReadAllBytes(path);
        var differing = Enumerable.Range(0, original.Length).Where(i => original[i] != patched[i]).ToArray();
        var (_, flagsOffset) = ElfVersionNeed.Inspect(original, "GLIBCXX_3.4.32");
        Assert.Equal(new[] { (int)flagsOffset }, differing);
        Assert.Equal(2, patched[flagsOffset]);

        Assert.Equal(ElfPatchOutcome.AlreadyWeak, ElfVersionNeed.MarkWeak(path, "GLIBCXX_3.4.32"));
        Assert.Equal(patched, File.ReadAllBytes(path));
    }

    [Fact]
    public void MarkWeak_LeavesFileUntouched_WhenVersionAbsent()
    {
        var original = MakeElf(("GLIBCXX_3.4.30", 0));
        string path = Write(original);
        Assert.Equal(ElfPatchOutcome.VersionAbsent, ElfVersionNeed.MarkWeak(path, "GLIBCXX_3.4.32"));
        Assert.Equal(original, File.ReadAllBytes(path));
    }

    [Fact]
    public void MarkWeak_Refuses_NonElfAndTruncatedFiles()
    {
        Assert.Throws<ElfFormatException>(() =>
            ElfVersionNeed.MarkWeak(Write(Encoding.ASCII.GetBytes("#!/bin/sh\necho not a library\n")),
            "GLIBCXX_3.4.32"));
        var elf = MakeElf(("GLIBCXX_3.4.32", 0));
        Assert.Throws<ElfFormatException>(() => ElfVersionNeed.MarkWeak(Write(elf[..(elf.Length - 40)]),
            "GLIBCXX_3.4.32"));
        var wrongClass = (byte[])elf.Clone(); wrongClass[4] = 1;
        Assert.Throws<ElfFormatException>(() => ElfVersionNeed.MarkWeak(Write(wrongClass), "GLIBCXX_3.4.32"));
    }

    [Fact]
    public void MarkWeak_NeverThrowsAnythingButElfFormatException_OnMutatedInput()
    {
        var elf = MakeElf(("GLIBCXX_3.4.30", 0), ("GLIBCXX_3.4.32", 0));
        var random = new Random(7);
        for (int trial = 0; trial < 1000; trial++)
        {
            var bytes = (byte[])elf.Clone();
            for (int k = 0; k < 1 + random.Next(4); k++) bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            if (random.Next(4) == 0) bytes = bytes[..random.Next(bytes.Length)];
            try { ElfVersionNeed.Inspect(bytes, "GLIBCXX_3.4.32"); }
            catch (ElfFormatException) { }
        }
    }

    [Fact]
    public void BuildOutputLibrary_HasGlibcxx3432MarkedWeak()
    {
        var lib = Directory.GetFiles(AppContext.BaseDirectory, "libLibTorchSharp.so",
            SearchOption.AllDirectories).FirstOrDefault();
        Assert.NotNull(lib);
        var (outcome, _) = ElfVersionNeed.Inspect(File.ReadAllBytes(lib!), "GLIBCXX_3.4.32");
        Assert.Equal(ElfPatchOutcome.AlreadyWeak, outcome);
    }
}
