using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PagLab.Common;
using static TorchSharp.torch;

namespace PagLab.Tests.Common;

public class TensorMemoryTests
{
    // The test host's first allocation may come from a test that never touches PagLab's assembly, so the
    // setting is made here too, as the CLI and the bench make it at their first line.
#pragma warning disable CA2255
    [ModuleInitializer]
    internal static void BeforeAnyTensor() => TensorMemory.UseHugePages();
#pragma warning restore CA2255

    [DllImport("LibTorchSharp")]
    static extern IntPtr THSTensor_data(IntPtr handle);

    [Fact]
    public void LargeTensors_LiveOnHugePages_WhereTheKernelOffersThem()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "transparent huge pages are a Linux setting");
        string mode = File.ReadAllText("/sys/kernel/mm/transparent_hugepage/enabled");
        Assert.SkipWhen(mode.Contains("[never]"), $"this kernel has transparent huge pages off ({mode.Trim()})");

        using var big = empty(48L << 20); // 192 MiB of float
        big.fill_(1f);
        long address = THSTensor_data(big.Handle).ToInt64();
        long hugeKb = HugePagesKbOfMappingAt(address);
        // Without the setting, glibc's mmap'd block is never huge-page backed under the "madvise" policy.
        Assert.True(hugeKb >= 64 * 1024, $"{hugeKb} kB of the 192 MiB tensor's mapping are on huge pages");
    }

    /// <summary>AnonHugePages of the /proc/self/smaps mapping that contains address.</summary>
    static long HugePagesKbOfMappingAt(long address)
    {
        bool inside = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            int dash = line.IndexOf('-');
            if (dash > 0 && line.IndexOf(' ') > dash && IsHex(line.AsSpan(0, dash)))
            {
                long start = long.Parse(line.AsSpan(0, dash), NumberStyles.HexNumber);
                long end = long.Parse(line.AsSpan(dash + 1, line.IndexOf(' ') - dash - 1), NumberStyles.HexNumber);
                inside = address >= start && address < end;
            }
            else if (inside && line.StartsWith("AnonHugePages:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1],
                    CultureInfo.InvariantCulture);
        }
        throw new InvalidOperationException($"no mapping holds 0x{address:x}");
    }

    static bool IsHex(ReadOnlySpan<char> s)
    {
        foreach (char c in s) if (!char.IsAsciiHexDigit(c)) return false;
        return s.Length > 0;
    }
}
