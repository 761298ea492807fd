using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PagLab.Common;

/// <summary>
/// OpenMP threads that sleep when they have no work. libtorch's CPU kernels run on libgomp, whose idle
/// threads by default spin 300,000 rounds after every parallel region before they sleep. On a machine
/// shared with other work (or with fewer free cores than threads) that spinning takes the cores the
/// kernels need: measured per single-op twin, OMP_WAIT_POLICY=PASSIVE cut PagLab's CPU time per call 2-6x
/// (relu forward 14.6-17.7 to 6.3-8.8 ms user+sys, batch-norm forward 42-45 to 22-23 ms) with the same
/// page faults and results (docs/BENCHMARKS.md, "Per call, load-independent counts"). libgomp reads its
/// settings when libtorch loads, so they are set before: by this module's initializer and each entry
/// point. A setting the user made is kept: GOMP_SPINCOUNT=300000 restores libgomp's default.
/// </summary>
public static class OpenMpWait
{
    public const string Policy = "OMP_WAIT_POLICY", SpinCount = "GOMP_SPINCOUNT";

#pragma warning disable CA2255 // a library initializer on purpose: it must run before libtorch loads libgomp
    [ModuleInitializer]
    internal static void OnLoad() => UsePassiveWait();
#pragma warning restore CA2255

    /// <summary>
    /// Sets OMP_WAIT_POLICY=PASSIVE in the native environment unless it or GOMP_SPINCOUNT is set already;
    /// true when passive waiting is asked for. Only Linux is covered (libtorch's libgomp); elsewhere nothing.
    /// </summary>
    public static bool UsePassiveWait()
    {
        if (!OperatingSystem.IsLinux()) return false;
        // .NET's Environment.SetEnvironmentVariable keeps a managed copy only; libgomp reads the C environment.
        if (getenv(SpinCount) != IntPtr.Zero) return false;
        if (Marshal.PtrToStringUTF8(getenv(Policy)) is string set) return set.Trim().ToUpperInvariant() == "PASSIVE";
        return setenv(Policy, "PASSIVE", 0) == 0;
    }

    [DllImport("libc", CharSet = CharSet.Ansi)]
    static extern IntPtr getenv(string name);

    [DllImport("libc", CharSet = CharSet.Ansi)]
    static extern int setenv(string name, string value, int overwrite);
}
