using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using Mono.Cecil;
using Mono.Cecil.Cil;
using TorchSharp;
using static TorchSharp.torch;

namespace PagLab.Tests.Build;

/// <summary>The stress tests collect garbage continuously for seconds, which would slow timed tests beside them.
/// </summary>
[CollectionDefinition(nameof(CollectingThread), DisableParallelization = true)]
public sealed class CollectingThread;

/// <summary>Tests the build-time rewrite that keeps TorchSharp's Scalars alive through their native calls
/// (build/ScalarKeepAlivePatcher.cs), on the TorchSharp.dll these tests run with and on the NuGet original.</summary>
[Collection(nameof(CollectingThread))]
public class ScalarKeepAliveTests
{
    static string LoadedTorchSharp => typeof(Scalar).Assembly.Location;

    /// <summary>The unpatched TorchSharp.dll in the NuGet cache (the build records the cache's path).</summary>
    static string OriginalTorchSharp
    {
        get
        {
            string root = typeof(ScalarKeepAliveTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
                .Single(a => a.Key == "NuGetPackageRoot").Value!;
            string version = typeof(Scalar).Assembly.GetName().Version!.ToString(3);
            string path = Path.Combine(root, "torchsharp", version, "lib", "net8.0", "TorchSharp.dll");
            Assert.True(File.Exists(path), $"the NuGet original of TorchSharp.dll is missing: {path}");
            return path;
        }
    }

    [Fact]
    public void TorchSharp_LoadedByTheTests_IsPatched()
    {
        Assert.Contains(ScalarKeepAlive.Marker, typeof(Scalar).Assembly.GetManifestResourceNames());
    }

    [Fact]
    public void TensorAdd_KeepsItsScalarAlive_BeforeEveryReturn()
    {
        var (returns, keptAlive) = AddReturnsAndKeepAlives(LoadedTorchSharp);
        Assert.NotEqual(0, returns);
        Assert.Equal(returns, keptAlive);
    }

    /// <summary>The NuGet original lacks them: what the race needs (the stress below, run on the original by hand,
    /// failed within seconds: 197 failures in 2.5 M additions in 10 s; a test of that would depend on the scheduler).
    /// </summary>
    [Fact]
    public void TensorAdd_InTheNuGetOriginal_DoesNotKeepItsScalarAlive()
    {
        var (returns, keptAlive) = AddReturnsAndKeepAlives(OriginalTorchSharp);
        Assert.NotEqual(0, returns);
        Assert.Equal(0, keptAlive);
    }

    /// <summary>In Tensor.add(Tensor, Scalar): its returns, and its GC.KeepAlive calls on alpha.</summary>
    static (int Returns, int KeepAlives) AddReturnsAndKeepAlives(string torchSharp)
    {
        using var module = ModuleDefinition.ReadModule(torchSharp);
        var tensor = module.GetType("TorchSharp.torch").NestedTypes.Single(t => t.Name == "Tensor");
        var add = tensor.Methods.Single(m => m.Name == "add" && m.Parameters.Count == 2
            && m.Parameters[0].ParameterType == tensor && m.Parameters[1].ParameterType.FullName == "TorchSharp.Scalar");
        var instructions = add.Body.Instructions;
        int returns = instructions.Count(i => i.OpCode == OpCodes.Ret);
        int keptAlive = instructions.Count(i => i.OpCode == OpCodes.Call && i.Operand is MethodReference m
            && m.FullName == "System.Void System.GC::KeepAlive(System.Object)"
            && i.Previous.OpCode == OpCodes.Ldarg_2); // this, other, alpha
        return (returns, keptAlive);
    }

    [Fact]
    public void PatchedMethods_AllCompile()
    {
        // The JIT refuses invalid IL (an unbalanced stack, a bad branch) with InvalidProgramException.
        bool HoldsScalar(Type t) => t == typeof(Scalar) || t == typeof(Scalar[]);
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance
            | BindingFlags.Static | BindingFlags.DeclaredOnly;
        var methods = typeof(Scalar).Assembly.GetTypes().Where(t => !t.ContainsGenericParameters)
            .SelectMany(t => t.GetMethods(all).Cast<MethodBase>().Concat(t.GetConstructors(all)))
            .Where(m => !m.ContainsGenericParameters && m.GetMethodBody() is { } body
                && (m.GetParameters().Any(p => HoldsScalar(p.ParameterType))
                    || body.LocalVariables.Any(v => HoldsScalar(v.LocalType))))
            .ToList();
        Assert.InRange(methods.Count, 150, 10_000);
        foreach (var method in methods) RuntimeHelpers.PrepareMethod(method.MethodHandle);
    }

    [Fact]
    public void Patch_OfTheNuGetOriginal_KeepsItsIdentity_AndASecondRunChangesNothing()
    {
        string folder = Directory.CreateTempSubdirectory("paglab-scalar-").FullName;
        try
        {
            string copy = Path.Combine(folder, "TorchSharp.dll");
            File.Copy(OriginalTorchSharp, copy);
            var (outcome, methods) = ScalarKeepAlive.Patch(copy);
            Assert.Equal(ScalarPatchOutcome.Patched, outcome);
            Assert.InRange(methods, 150, 10_000); // 190 in TorchSharp 0.107.0
            byte[] once = File.ReadAllBytes(copy);
            Assert.Equal((ScalarPatchOutcome.AlreadyPatched, 0), ScalarKeepAlive.Patch(copy));
            Assert.Equal(once, File.ReadAllBytes(copy));
            // Name, version and public key token unchanged: everything compiled against TorchSharp still binds.
            Assert.Equal(AssemblyName.GetAssemblyName(OriginalTorchSharp).FullName,
                AssemblyName.GetAssemblyName(copy).FullName);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Additions_WhileAnotherThreadCollects_NeverFail()
    {
        using var a = ones(4);
        using var b = ones(4);
        var (additions, failures) = Stress(() => a + b, TimeSpan.FromSeconds(2));
        Assert.True(failures == 0, $"{failures} of {additions} additions failed");
    }

    /// <summary>Adds on this thread while another thread collects and runs finalizers in a loop.</summary>
    static (long Additions, int Failures) Stress(Func<IDisposable> add, TimeSpan duration)
    {
        bool stop = false;
        var collector = new Thread(() =>
        {
            while (!Volatile.Read(ref stop))
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        });
        collector.Start();
        long additions = 0;
        int failures = 0;
        try
        {
            var watch = Stopwatch.StartNew();
            while (watch.Elapsed < duration)
                for (int i = 0; i < 1000; i++, additions++)
                {
                    // libtorch reads a freed Scalar: "Expected false to be true ... toFloat"
                    try { add().Dispose(); }
                    catch (System.Runtime.InteropServices.ExternalException) { failures++; }
                }
        }
        finally
        {
            Volatile.Write(ref stop, true);
            collector.Join();
        }
        return (additions, failures);
    }
}
