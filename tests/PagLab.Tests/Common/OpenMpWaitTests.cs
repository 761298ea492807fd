using System.Runtime.InteropServices;
using PagLab.Common;

namespace PagLab.Tests.Common;

public class OpenMpWaitTests
{
    [DllImport("libc", CharSet = CharSet.Ansi)]
    static extern IntPtr getenv(string name);

    [Fact]
    public void UsePassiveWait_PutsPassiveInTheNativeEnvironment_WhenTheUserSetNothing()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "libtorch's libgomp is the Linux case");
        string? userPolicy = Environment.GetEnvironmentVariable(OpenMpWait.Policy);
        Assert.SkipWhen(userPolicy is not null && userPolicy != "PASSIVE"
            || Environment.GetEnvironmentVariable(OpenMpWait.SpinCount) is not null, "the user chose a setting");

        Assert.True(OpenMpWait.UsePassiveWait());
        // The C environment, which libgomp reads, not .NET's managed copy.
        Assert.Equal("PASSIVE", Marshal.PtrToStringUTF8(getenv(OpenMpWait.Policy)));
    }
}
