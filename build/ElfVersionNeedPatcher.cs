// Marks one GNU version-need (e.g. GLIBCXX_3.4.32) weak in an ELF64 shared library.
//
// Why: TorchSharp 0.107.0's libLibTorchSharp.so asks for GLIBCXX_3.4.32, which Debian 12's
// libstdc++ (3.4.30) lacks. The only symbol behind it, std::ios_base_library_init(), is never
// called, so a weak need (VER_FLG_WEAK) lets the loader accept the library with a warning at most.
//
// This file is compiled twice: by MSBuild's RoslynCodeTaskFactory as the task PatchElfVersionNeed,
// and into the test project (with PAGLAB_NO_MSBUILD) to test the parser on constructed ELF files.
using System;
using System.IO;
using System.Text;

public enum ElfPatchOutcome { Patched, AlreadyWeak, VersionAbsent }

public sealed class ElfFormatException : Exception
{
    public ElfFormatException(string message) : base(message) { }
}

public static class ElfVersionNeed
{
    const uint ShtGnuVerneed = 0x6ffffffe; // SHT_GNU_verneed
    const ushort VerFlgWeak = 0x2;         // VER_FLG_WEAK

    /// <summary>Patches the file in place; returns what it found. Throws ElfFormatException on anything unexpected.</summary>
    public static ElfPatchOutcome MarkWeak(string path, string versionName)
    {
        byte[] elf = File.ReadAllBytes(path);
        var (outcome, flagsOffset) = Inspect(elf, versionName);
        if (outcome != ElfPatchOutcome.Patched) return outcome;
        ushort flags = ReadU16(elf, flagsOffset);
        WriteU16(elf, flagsOffset, (ushort)(flags | VerFlgWeak));
        // Write beside, then rename over: a crash never leaves a half-patched library.
        string temp = path + ".patching";
        File.WriteAllBytes(temp, elf);
        File.Replace(temp, path, null); // rename(2) on Unix: atomic
        return ElfPatchOutcome.Patched;
    }

    /// <summary>Finds the vernaux entry of versionName; returns the offset of its vna_flags when a patch is needed.</summary>
    public static (ElfPatchOutcome Outcome, long FlagsOffset) Inspect(byte[] elf, string versionName)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new ElfFormatException("not an ELF file (bad magic number)");
        if (elf[4] != 2) throw new ElfFormatException("not a 64-bit ELF file");
        if (elf[5] != 1) throw new ElfFormatException("not a little-endian ELF file");

        long shoff = (long)ReadU64(elf, 0x28);
        int shentsize = ReadU16(elf, 0x3A);
        int shnum = ReadU16(elf, 0x3C);
        int shstrndx = ReadU16(elf, 0x3E);
        if (shentsize != 64) throw new ElfFormatException($"unexpected section header size {shentsize}");
        if (shnum == 0 || shoff <= 0 || shoff + (long)shnum * shentsize > elf.Length)
            throw new ElfFormatException("section header table missing or outside the file");
        if (shstrndx >= shnum) throw new ElfFormatException("section name table index out of range");

        var names = Section(elf, shoff, shstrndx, shnum);
        for (int i = 0; i < shnum; i++)
        {
            var sh = Section(elf, shoff, i, shnum);
            if (sh.Type != ShtGnuVerneed) continue;
            string sectionName = CString(elf, names.Offset, names.Size, sh.Name);
            if (sectionName != ".gnu.version_r")
                throw new ElfFormatException($"version-need section is named '{sectionName}', expected '.gnu.version_r'");
            if (sh.Link >= shnum) throw new ElfFormatException(".gnu.version_r links to a missing string table");
            var dynstr = Section(elf, shoff, (int)sh.Link, shnum);
            return FindNeed(elf, sh, dynstr, versionName);
        }
        return (ElfPatchOutcome.VersionAbsent, -1);
    }

    static (ElfPatchOutcome, long) FindNeed(byte[] elf, SectionHeader verneed, SectionHeader dynstr, string versionName)
    {
        long end = verneed.Offset + verneed.Size;
        long entry = verneed.Offset;
        for (uint n = 0; n < verneed.Info; n++) // sh_info = number of Elf64_Verneed entries
        {
            if (entry < verneed.Offset || entry + 16 > end) throw new ElfFormatException("Elf64_Verneed entry outside .gnu.version_r");
            ushort count = ReadU16(elf, entry + 2);
            uint auxOffset = ReadU32(elf, entry + 8);
            uint next = ReadU32(elf, entry + 12);
            long aux = entry + auxOffset;
            for (int a = 0; a < count; a++)
            {
                if (aux < verneed.Offset || aux + 16 > end) throw new ElfFormatException("Elf64_Vernaux entry outside .gnu.version_r");
                ushort flags = ReadU16(elf, aux + 4);
                uint nameIndex = ReadU32(elf, aux + 8);
                uint auxNext = ReadU32(elf, aux + 12);
                if (CString(elf, dynstr.Offset, dynstr.Size, nameIndex) == versionName)
                    return ((flags & VerFlgWeak) != 0 ? ElfPatchOutcome.AlreadyWeak : ElfPatchOutcome.Patched, aux + 4);
                if (auxNext == 0) break;
                aux += auxNext;
            }
            if (next == 0) break;
            entry += next;
        }
        return (ElfPatchOutcome.VersionAbsent, -1);
    }

    // A plain struct: MSBuild compiles this file against netstandard, which has no records.
    struct SectionHeader
    {
        public uint Name, Type, Link, Info;
        public long Offset, Size;
    }

    static SectionHeader Section(byte[] elf, long shoff, int index, int shnum)
    {
        long h = shoff + (long)index * 64;
        var sh = new SectionHeader
        {
            Name = ReadU32(elf, h), Type = ReadU32(elf, h + 4), Offset = (long)ReadU64(elf, h + 0x18),
            Size = (long)ReadU64(elf, h + 0x20), Link = ReadU32(elf, h + 0x28), Info = ReadU32(elf, h + 0x2C),
        };
        const uint ShtNobits = 8;
        if (sh.Type != ShtNobits && (sh.Offset < 0 || sh.Size < 0 || sh.Offset + sh.Size > elf.Length))
            throw new ElfFormatException($"section {index} lies outside the file");
        return sh;
    }

    static string CString(byte[] elf, long tableOffset, long tableSize, uint index)
    {
        if (index >= tableSize) throw new ElfFormatException("string index outside its string table");
        long start = tableOffset + index, stop = start;
        while (stop < tableOffset + tableSize && elf[stop] != 0) stop++;
        if (stop == tableOffset + tableSize) throw new ElfFormatException("unterminated string in string table");
        return Encoding.ASCII.GetString(elf, (int)start, (int)(stop - start));
    }

    static void Check(byte[] b, long at, int width)
    {
        if (at < 0 || at + width > b.Length) throw new ElfFormatException("truncated ELF file");
    }
    static ushort ReadU16(byte[] b, long at) { Check(b, at, 2); return BitConverter.ToUInt16(b, (int)at); }
    static uint ReadU32(byte[] b, long at) { Check(b, at, 4); return BitConverter.ToUInt32(b, (int)at); }
    static ulong ReadU64(byte[] b, long at) { Check(b, at, 8); return BitConverter.ToUInt64(b, (int)at); }
    static void WriteU16(byte[] b, long at, ushort v) { Check(b, at, 2); b[at] = (byte)v; b[at + 1] = (byte)(v >> 8); }
}

#if !PAGLAB_NO_MSBUILD
/// <summary>MSBuild task: marks VersionName weak in every file of Files (see ElfVersionNeed).</summary>
public class PatchElfVersionNeed : Microsoft.Build.Utilities.Task
{
    [Microsoft.Build.Framework.Required] public Microsoft.Build.Framework.ITaskItem[] Files { get; set; } = Array.Empty<Microsoft.Build.Framework.ITaskItem>();
    [Microsoft.Build.Framework.Required] public string VersionName { get; set; } = "";

    public override bool Execute()
    {
        foreach (var item in Files)
        {
            string path = item.GetMetadata("FullPath");
            try
            {
                var outcome = ElfVersionNeed.MarkWeak(path, VersionName);
                if (outcome == ElfPatchOutcome.Patched)
                    Log.LogMessage(Microsoft.Build.Framework.MessageImportance.High, $"PagLab: marked {VersionName} weak in {path}");
            }
            catch (Exception e) when (e is ElfFormatException || e is IOException || e is UnauthorizedAccessException)
            {
                Log.LogError($"PagLab: cannot mark {VersionName} weak in {path}: {e.Message}");
            }
        }
        return !Log.HasLoggedErrors;
    }
}
#endif
