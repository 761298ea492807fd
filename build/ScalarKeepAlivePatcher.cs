// Keeps every TorchSharp.Scalar parameter and local alive until its method returns, in a copy of TorchSharp.dll.
//
// Why: TorchSharp 0.107's Scalar frees its native c10::Scalar in a finalizer, and methods such as
// Tensor.add(Tensor, Scalar alpha) pass only alpha.Handle to native code, with no GC.KeepAlive(alpha). When the
// Scalar is a temporary (a + b calls add(b, 1)), a collection on another thread during the native call can free it
// while libtorch reads it: "Expected false to be true ... toFloat" (docs/reliability.md; upstream PRs 1434, 1496).
// The rewrite adds `GC.KeepAlive(x)` before every `ret` for each Scalar or Scalar[] parameter and local (and for
// `this` in Scalar's own methods), and marks the assembly with an empty resource so a second run does nothing.
//
// This file is compiled twice: by MSBuild's RoslynCodeTaskFactory as the task PatchScalarKeepAlive, and into the
// test project (with PAGLAB_NO_MSBUILD).
#nullable enable
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Mono.Cecil;
using Mono.Cecil.Cil;

public enum ScalarPatchOutcome { Patched, AlreadyPatched }

public static class ScalarKeepAlive
{
    /// <summary>Name of the empty manifest resource that marks a patched TorchSharp.dll.</summary>
    public const string Marker = "PagLab.ScalarKeepAlive.v1";
    const string ScalarType = "TorchSharp.Scalar";

    /// <summary>Patches the file in place; returns what it found and how many methods it changed.</summary>
    public static (ScalarPatchOutcome Outcome, int Methods) Patch(string path)
    {
        string temp = path + ".patching";
        int methods;
        using (var module = ModuleDefinition.ReadModule(path, new ReaderParameters { ReadSymbols = false }))
        {
            if (IsPatched(module)) return (ScalarPatchOutcome.AlreadyPatched, 0);
            methods = Rewrite(module);
            module.Resources.Add(new EmbeddedResource(Marker, ManifestResourceAttributes.Private, new byte[0]));
            module.Write(temp);
        }
        // Write beside, then rename over: never a half-written assembly, and never through a link into the cache.
        File.Replace(temp, path, null);
        return (ScalarPatchOutcome.Patched, methods);
    }

    public static bool IsPatched(ModuleDefinition module) => module.Resources.Any(r => r.Name == Marker);

    /// <summary>Adds the keep-alives to every method of the module that holds a Scalar; returns how many.</summary>
    public static int Rewrite(ModuleDefinition module)
    {
        var keepAlive = KeepAliveReference(module);
        int patched = 0;
        foreach (var type in module.GetTypes())
            foreach (var method in type.Methods)
                if (method.HasBody && RewriteMethod(method, keepAlive)) patched++;
        return patched;
    }

    static bool RewriteMethod(MethodDefinition method, MethodReference keepAlive)
    {
        var body = method.Body;
        var roots = new List<Func<Instruction>>();
        if (method.HasThis && !method.IsConstructor && method.DeclaringType.FullName == ScalarType)
            roots.Add(() => Instruction.Create(OpCodes.Ldarg_0)); // Scalar's own methods read this.Handle
        foreach (var parameter in method.Parameters.Where(p => IsScalar(p.ParameterType)))
            roots.Add(() => LoadArgument(method, parameter));
        foreach (var local in body.Variables.Where(v => IsScalar(v.VariableType)))
            roots.Add(() => LoadLocal(local));
        var returns = body.Instructions.Where(i => i.OpCode == OpCodes.Ret).ToList();
        // A `tail.` call must be followed by ret directly; C# never emits one, so such a method stays as it is.
        if (roots.Count == 0 || returns.Count == 0 || body.Instructions.Any(i => i.OpCode == OpCodes.Tail))
            return false;

        LengthenShortBranches(body); // the inserted instructions may move a target out of a short branch's reach
        VariableDefinition? result = null;
        if (method.ReturnType.FullName != "System.Void")
        {
            result = new VariableDefinition(method.ReturnType);
            body.Variables.Add(result);
        }
        var il = body.GetILProcessor();
        foreach (var ret in returns)
        {
            // ret becomes the first new instruction, so branches, leaves and handler ends that point at it still
            // land at the start of the sequence: [stloc result] (ldX; call KeepAlive)* [ldloc result] ret.
            var sequence = new List<Instruction>();
            if (result != null) sequence.Add(Instruction.Create(OpCodes.Stloc, result));
            foreach (var root in roots)
            {
                sequence.Add(root());
                sequence.Add(Instruction.Create(OpCodes.Call, keepAlive));
            }
            if (result != null) sequence.Add(LoadLocal(result));
            sequence.Add(Instruction.Create(OpCodes.Ret));
            ret.OpCode = sequence[0].OpCode;
            ret.Operand = sequence[0].Operand;
            var previous = ret;
            foreach (var next in sequence.Skip(1))
            {
                il.InsertAfter(previous, next);
                previous = next;
            }
        }
        return true;
    }

    static Instruction LoadArgument(MethodDefinition method, ParameterDefinition parameter)
    {
        int index = parameter.Index + (method.HasThis ? 1 : 0);
        return index switch
        {
            0 => Instruction.Create(OpCodes.Ldarg_0),
            1 => Instruction.Create(OpCodes.Ldarg_1),
            2 => Instruction.Create(OpCodes.Ldarg_2),
            3 => Instruction.Create(OpCodes.Ldarg_3),
            < 256 => Instruction.Create(OpCodes.Ldarg_S, parameter),
            _ => Instruction.Create(OpCodes.Ldarg, parameter),
        };
    }

    static Instruction LoadLocal(VariableDefinition local) => local.Index switch
    {
        0 => Instruction.Create(OpCodes.Ldloc_0),
        1 => Instruction.Create(OpCodes.Ldloc_1),
        2 => Instruction.Create(OpCodes.Ldloc_2),
        3 => Instruction.Create(OpCodes.Ldloc_3),
        < 256 => Instruction.Create(OpCodes.Ldloc_S, local),
        _ => Instruction.Create(OpCodes.Ldloc, local),
    };

    static readonly Dictionary<Code, OpCode> LongForms = new Dictionary<Code, OpCode>
    {
        [Code.Br_S] = OpCodes.Br, [Code.Brfalse_S] = OpCodes.Brfalse, [Code.Brtrue_S] = OpCodes.Brtrue,
        [Code.Beq_S] = OpCodes.Beq, [Code.Bge_S] = OpCodes.Bge, [Code.Bgt_S] = OpCodes.Bgt,
        [Code.Ble_S] = OpCodes.Ble, [Code.Blt_S] = OpCodes.Blt, [Code.Bne_Un_S] = OpCodes.Bne_Un,
        [Code.Bge_Un_S] = OpCodes.Bge_Un, [Code.Bgt_Un_S] = OpCodes.Bgt_Un, [Code.Ble_Un_S] = OpCodes.Ble_Un,
        [Code.Blt_Un_S] = OpCodes.Blt_Un, [Code.Leave_S] = OpCodes.Leave,
    };

    static void LengthenShortBranches(MethodBody body)
    {
        foreach (var instruction in body.Instructions)
            if (LongForms.TryGetValue(instruction.OpCode.Code, out var longForm)) instruction.OpCode = longForm;
    }

    static bool IsScalar(TypeReference type) =>
        type.FullName == ScalarType || (type is ArrayType array && array.ElementType.FullName == ScalarType);

    // System.GC through the module's own core library reference (System.Runtime for net8.0, netstandard for
    // netstandard2.0), never the one MSBuild runs on.
    static MethodReference KeepAliveReference(ModuleDefinition module)
    {
        var gc = new TypeReference("System", "GC", module, module.TypeSystem.CoreLibrary);
        var keepAlive = new MethodReference("KeepAlive", module.TypeSystem.Void, gc);
        keepAlive.Parameters.Add(new ParameterDefinition(module.TypeSystem.Object));
        return module.ImportReference(keepAlive);
    }
}

#if !PAGLAB_NO_MSBUILD
/// <summary>MSBuild task: keeps Scalars alive in every TorchSharp.dll of Files (see ScalarKeepAlive).</summary>
public class PatchScalarKeepAlive : Microsoft.Build.Utilities.Task
{
    [Microsoft.Build.Framework.Required]
    public Microsoft.Build.Framework.ITaskItem[] Files { get; set; } = Array.Empty<Microsoft.Build.Framework.ITaskItem>();

    public override bool Execute()
    {
        foreach (var item in Files)
        {
            string path = item.GetMetadata("FullPath");
            try
            {
                var watch = System.Diagnostics.Stopwatch.StartNew();
                var (outcome, methods) = ScalarKeepAlive.Patch(path);
                if (outcome == ScalarPatchOutcome.Patched)
                    Log.LogMessage(Microsoft.Build.Framework.MessageImportance.High,
                        $"PagLab: kept Scalars alive in {methods} methods of {path} ({watch.ElapsedMilliseconds} ms)");
            }
            catch (Exception e) when (e is BadImageFormatException || e is IOException
                || e is UnauthorizedAccessException || e is InvalidOperationException || e is NotSupportedException)
            {
                Log.LogError($"PagLab: cannot keep Scalars alive in {path}: {e.Message}");
            }
        }
        return !Log.HasLoggedErrors;
    }
}
#endif
