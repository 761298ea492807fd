using System.Globalization;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace PagLab.Tests.Common;

/// <summary>
/// PagLab leaves libtorch's large tensors on 4 KiB pages (docs/training.md, "Native memory"): on resnet18's gnorm,
/// smooth, randsmooth and pgd3 steps huge pages were 1.2-1.5x slower. A user who wants them sets
/// THP_MEM_ALLOC_ENABLE=1 before starting PagLab; PagLab never sets it.
/// </summary>
public class TensorMemoryTests
{
    [DllImport("LibTorchSharp")]
    static extern IntPtr THSTensor_data(IntPtr handle);

    [DllImport("libc", CharSet = CharSet.Ansi)]
    static extern IntPtr getenv(string name);

    [Fact]
    public void LargeTensors_StayOnSmallPages_UnlessTheUserAsksForHugePages()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "transparent huge pages are a Linux setting");
        Assert.SkipWhen(Environment.GetEnvironmentVariable("THP_MEM_ALLOC_ENABLE") is not null,
            "THP_MEM_ALLOC_ENABLE is set in this environment");
        string mode = File.ReadAllText("/sys/kernel/mm/transparent_hugepage/enabled");
        // Under "always" the kernel backs large mappings with huge pages whatever a process asks.
        Assert.SkipUnless(mode.Contains("[madvise]"), $"huge pages are not on request here ({mode.Trim()})");

        using var big = empty(48L << 20); // 192 MiB of float
        big.fill_(1f);
        Assert.Equal(IntPtr.Zero, getenv("THP_MEM_ALLOC_ENABLE"));     // not set behind the user's back
        long hugeKb = HugePagesKbOfMappingAt(THSTensor_data(big.Handle).ToInt64());
        Assert.True(hugeKb == 0, $"{hugeKb} kB of the 192 MiB tensor's mapping are on huge pages");
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
