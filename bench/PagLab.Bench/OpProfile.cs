using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// Load-independent counts per call of each single-op twin (bench/pytorch/op_twins.py `profile` is the
/// PyTorch side): minor and major page faults and user/system CPU time from getrusage, managed bytes
/// allocated, and the resident set. Page faults and allocations do not depend on the machine's load; CPU
/// time depends on it far less than wall time does. Under `perf stat` or `strace -c`, run one pass with
/// --calls N and with --calls 0 and take the difference.
/// Usage: op-profile [--threads 2] [--calls 20] [--rows twin/relu/forward] [--out profile.json]
/// </summary>
static class OpProfile
{
    [StructLayout(LayoutKind.Sequential)]
    struct RUsage
    {
        public long UtimeSec, UtimeUsec, StimeSec, StimeUsec, MaxRss, Ixrss, Idrss, Isrss, MinFlt, MajFlt, Nswap,
            InBlock, OuBlock, MsgSnd, MsgRcv, NSignals, NvCsw, NivCsw;
    }

    [DllImport("libc")]
    static extern int getrusage(int who, out RUsage usage);

    static RUsage Now() { getrusage(0, out var u); return u; } // RUSAGE_SELF: OpenMP's threads included

    public static int Run(string[] a)
    {
        int threads = int.Parse(Bench.Arg(a, "--threads", "2")), calls = int.Parse(Bench.Arg(a, "--calls", "20"));
        var prefixes = Bench.Arg(a, "--rows", "twin/").Split(',', StringSplitOptions.RemoveEmptyEntries);
        torch.set_num_threads(threads);
        using var tensors = NewDisposeScope();
        var result = new JsonObject();
        foreach (var (name, call) in OpTwins.Passes(n => prefixes.Any(p => n.StartsWith(p) || p.StartsWith(n))))
        {
            if (!prefixes.Any(name.StartsWith)) continue;
            call(); call(); // warm-up: kernels chosen, caches and the allocator's state settled
            var (before, bytes, sw) = (Now(), GC.GetAllocatedBytesForCurrentThread(), Stopwatch.StartNew());
            for (int i = 0; i < calls; i++) call();
            var (after, wall) = (Now(), sw.Elapsed.TotalMilliseconds);
            double Per(double v) => calls == 0 ? 0 : Math.Round(v / calls, 2);
            double Cpu(long s, long us) => s * 1e3 + us / 1e3;
            result[name] = new JsonObject
            {
                ["minflt"] = Per(after.MinFlt - before.MinFlt), ["majflt"] = Per(after.MajFlt - before.MajFlt),
                ["user_ms"] = Per(Cpu(after.UtimeSec, after.UtimeUsec) - Cpu(before.UtimeSec, before.UtimeUsec)),
                ["sys_ms"] = Per(Cpu(after.StimeSec, after.StimeUsec) - Cpu(before.StimeSec, before.StimeUsec)),
                ["ctx_switches"] = Per(after.NvCsw - before.NvCsw + after.NivCsw - before.NivCsw),
                ["wall_ms"] = Per(wall), ["managed_bytes"] = Per(GC.GetAllocatedBytesForCurrentThread() - bytes),
                ["rss_mb"] = Environment.WorkingSet >> 20,
            };
            Console.Error.WriteLine($"{name}: {result[name]!.ToJsonString()}");
        }
        string json = JsonSerializer.Serialize(new JsonObject { ["calls"] = calls, ["threads"] = threads,
            ["rows"] = result }, new JsonSerializerOptions { WriteIndented = true });
        string? outPath = Bench.Arg(a, "--out", "");
        if (outPath.Length > 0) File.WriteAllText(outPath, json); else Console.WriteLine(json);
        return 0;
    }
}
