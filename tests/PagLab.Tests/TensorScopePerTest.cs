using System.Collections.Concurrent;
using System.Reflection;
using TorchSharp;
using Xunit.v3;
using static TorchSharp.torch;

[assembly: PagLab.Tests.TensorScopePerTest]

namespace PagLab.Tests;

/// <summary>
/// Every test runs inside a TorchSharp DisposeScope, so the tensors it creates and drops are freed on
/// its own thread when it ends, not later by the GC's finalizer thread while other tests run libtorch
/// code: finalizer-thread frees racing with running kernels are a known source of native heap
/// corruption (rare segfaults of the test host).
/// </summary>
[AttributeUsage(AttributeTargets.Assembly)]
public sealed class TensorScopePerTest : BeforeAfterTestAttribute
{
    static readonly ConcurrentDictionary<string, (DisposeScope Scope, int Thread)> Scopes = new();

    public override void Before(MethodInfo methodUnderTest, IXunitTest test)
    {
        // Async tests may end on another thread, and a DisposeScope belongs to the thread that opened it.
        if (typeof(Task).IsAssignableFrom(methodUnderTest.ReturnType)
            || typeof(ValueTask).IsAssignableFrom(methodUnderTest.ReturnType)) return;
        Scopes[test.UniqueID] = (NewDisposeScope(), Environment.CurrentManagedThreadId);
    }

    public override void After(MethodInfo methodUnderTest, IXunitTest test)
    {
        if (!Scopes.TryRemove(test.UniqueID, out var entry)) return;
        if (entry.Thread != Environment.CurrentManagedThreadId)
            throw new InvalidOperationException($"{test.TestDisplayName}: ran on another thread than it started on; "
                + $"its tensor scope cannot be closed");
        entry.Scope.Dispose();
    }
}
