using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PagLab.Common;

/// <summary>
/// Large tensors on transparent huge pages. libtorch takes every CPU tensor from glibc's malloc, which
/// serves big blocks (a 128x64x32x32 activation is 32 MiB) with a fresh mmap and unmaps them on free, so
/// every training step pays one page fault per 4 KiB of every large activation and gradient: measured
/// 35-70 % of a resnet18 relu or batch-norm pass (docs/BENCHMARKS.md, "Single-op twins"). libtorch 2.x
/// asks the kernel for huge pages (madvise) on allocations of 2 MiB and more when the variable
/// THP_MEM_ALLOC_ENABLE is 1 (c10's alloc_cpu), and returns memory on free as before. It aligns them to
/// 4 KiB only, so the partial 2 MiB ends of each block still fault per 4 KiB: 528 faults per 32 MiB block
/// instead of 8193 (strace and getrusage, 2026-12-07), 15-fold fewer. libtorch reads the variable once,
/// at its first allocation, so it is set before any tensor exists: by this module's initializer and by
/// every entry point. A value the user set is kept (THP_MEM_ALLOC_ENABLE=0 turns it off).
/// </summary>
public static class TensorMemory
{
    public const string Variable = "THP_MEM_ALLOC_ENABLE";

#pragma warning disable CA2255 // a library initializer on purpose: it must run before libtorch's first allocation
    [ModuleInitializer]
    internal static void OnLoad() { UseHugePages(); OpenMpWait.UsePassiveWait(); }
#pragma warning restore CA2255

    /// <summary>
    /// Sets THP_MEM_ALLOC_ENABLE=1 in the process's native environment unless it is set already; true when
    /// huge pages are asked for. Only Linux has the setting; elsewhere it does nothing.
    /// </summary>
    public static bool UseHugePages()
    {
        if (!OperatingSystem.IsLinux()) return false;
        // .NET's Environment.SetEnvironmentVariable keeps a managed copy only; libtorch reads the C environment.
        if (Marshal.PtrToStringUTF8(getenv(Variable)) is string set) return set.Trim() == "1";
        return setenv(Variable, "1", 0) == 0;
    }

    [DllImport("libc", CharSet = CharSet.Ansi)]
    static extern IntPtr getenv(string name);

    [DllImport("libc", CharSet = CharSet.Ansi)]
    static extern int setenv(string name, string value, int overwrite);
}
