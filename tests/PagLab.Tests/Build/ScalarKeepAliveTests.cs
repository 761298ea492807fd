using System.Diagnostics;
using System.Linq.Expressions;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.Loader;
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
        using var module = ModuleDefinition.ReadModule(LoadedTorchSharp);
        var tensor = module.GetType("TorchSharp.torch").NestedTypes.Single(t => t.Name == "Tensor");
        var add = tensor.Methods.Single(m => m.Name == "add" && m.Parameters.Count == 2
            && m.Parameters[0].ParameterType == tensor && m.Parameters[1].ParameterType.FullName == "TorchSharp.Scalar");
        var instructions = add.Body.Instructions;
        var returns = instructions.Where(i => i.OpCode == OpCodes.Ret).ToList();
        var keptAlive = instructions.Where(i => i.OpCode == OpCodes.Call && i.Operand is MethodReference m
            && m.FullName == "System.Void System.GC::KeepAlive(System.Object)"
            && i.Previous.OpCode == OpCodes.Ldarg_2).ToList(); // this, other, alpha
        Assert.NotEmpty(returns);
        Assert.Equal(returns.Count, keptAlive.Count);
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
        var (additions, failures) = Stress(() => a + b, TimeSpan.FromSeconds(2), stopAtFirstFailure: false);
        Assert.True(failures == 0, $"{failures} of {additions} additions failed");
    }

    /// <summary>The stress above finds the race: on the NuGet original (loaded beside ours, sharing its native
    /// library) it fails within seconds (about 15 failures a second measured, 2 busy cores).</summary>
    [Fact]
    public void Additions_OnUnpatchedTorchSharp_WhileAnotherThreadCollects_Fail()
    {
        var torchSharp = new AssemblyLoadContext("unpatched TorchSharp").LoadFromAssemblyPath(OriginalTorchSharp);
        Assert.DoesNotContain(ScalarKeepAlive.Marker, torchSharp.GetManifestResourceNames());
        var tensor = torchSharp.GetType("TorchSharp.torch+Tensor", throwOnError: true)!;
        var ones = torchSharp.GetType("TorchSharp.torch", throwOnError: true)!.GetMethods()
            .First(m => m.Name == "ones" && m.GetParameters()[0].ParameterType == typeof(long[]));
        Expression Ones() => Expression.Constant(ones.Invoke(null, ones.GetParameters()
            .Select((p, i) => i == 0 ? new long[] { 4 } : p.DefaultValue).ToArray()), tensor);
        var add = Expression.Lambda<Func<IDisposable>>(Expression.Convert(Expression.Call(
            tensor.GetMethod("op_Addition", [tensor, tensor])!, Ones(), Ones()), typeof(IDisposable))).Compile();
        var (additions, failures) = Stress(add, TimeSpan.FromSeconds(20), stopAtFirstFailure: true);
        Assert.True(failures > 0, $"none of {additions} additions failed on the unpatched TorchSharp");
    }

    /// <summary>Adds on this thread while another thread collects and runs finalizers in a loop.</summary>
    static (long Additions, int Failures) Stress(Func<IDisposable> add, TimeSpan duration, bool stopAtFirstFailure)
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
            while (watch.Elapsed < duration && !(stopAtFirstFailure && failures > 0))
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
