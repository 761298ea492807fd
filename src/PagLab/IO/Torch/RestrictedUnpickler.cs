using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using PagLab.Common;

namespace PagLab.IO.Torch;

/// <summary>A Python tuple (kept apart from lists so rebuild arguments read naturally).</summary>
public sealed record PyTuple(IReadOnlyList<object?> Items);

/// <summary>An allowed Python global (module.name); calling it is interpreted by <see cref="RestrictedUnpickler"/>,
/// never executed.</summary>
public sealed record PyGlobal(string Module, string Name)
{
    public string FullName => $"{Module}.{Name}";
}

/// <summary>A Python dict in insertion order (OrderedDict or plain dict).</summary>
public sealed class PyDict
{
    public List<KeyValuePair<object, object?>> Items { get; } = new();
    public void Set(object key, object? value)
    {
        int i = Items.FindIndex(kv => Equals(kv.Key, key));
        if (i >= 0) Items[i] = new(key, value); else Items.Add(new(key, value));
    }
}

/// <summary>What a persistent id ("storage", type, key, location, numel) resolves to.</summary>
public sealed record StorageRef(string Key, string StorageType, long Numel, long ElementOffset = 0);

/// <summary>torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...), not yet materialised.</summary>
public sealed record TensorRef(StorageRef Storage, long Offset, long[] Size, long[] Stride);

/// <summary>
/// A pickle virtual machine that only understands what a PyTorch state dict needs: dicts, ordered
/// dicts, lists, tuples, numbers, strings, None/bools, persistent storage ids and the tensor rebuild
/// functions. Every other global is refused at the GLOBAL opcode, before anything could be called;
/// nothing is ever executed, the few allowed "calls" are interpreted here.
/// Format: Python's pickle protocols 0-5 (Lib/pickletools.py documents the opcodes).
/// </summary>
public sealed class RestrictedUnpickler
{
    /// <summary>Storage classes torch.save writes (torch.FloatStorage etc.) with their element size.</summary>
    public static readonly IReadOnlyDictionary<string, int> StorageTypes = new Dictionary<string, int>
    {
        ["FloatStorage"] = 4, ["DoubleStorage"] = 8, ["HalfStorage"] = 2, ["BFloat16Storage"] = 2, ["LongStorage"] = 8,
        ["IntStorage"] = 4, ["ShortStorage"] = 2, ["CharStorage"] = 1, ["ByteStorage"] = 1, ["BoolStorage"] = 1,
    };

    static readonly HashSet<string> AllowedGlobals = new(StringComparer.Ordinal)
    {
        "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_parameter",
    };

    const int MaxDepth = 10_000_000; // stack + memo entries: a state dict never comes close

    readonly byte[] data;
    readonly string path;
    readonly Func<object?, object?> persistentLoad;
    int pos;

    RestrictedUnpickler(byte[] data, int start, string path, Func<object?, object?> persistentLoad)
    {
        this.data = data;
        pos = start;
        this.path = path;
        this.persistentLoad = persistentLoad;
    }

    /// <summary>Position just after the STOP opcode of the last <c>Load</c> (legacy files hold several
    /// pickles).</summary>
    public int End => pos;

    /// <summary>Reads one pickle starting at <paramref name="start"/>; returns its value and where it ended.</summary>
    public static object? Load(byte[] data, string path, Func<object?, object?>? persistentLoad, int start, out int end)
    {
        var u = new RestrictedUnpickler(data, start, path, persistentLoad ?? (pid => throw new DataFormatException(path,
            "pickle refers to external data (persistent id) where none is expected")));
        var value = u.Run();
        end = u.pos;
        return value;
    }

    public static object? Load(byte[] data, string path, Func<object?, object?>? persistentLoad = null) =>
        Load(data, path, persistentLoad, 0, out _);

    DataFormatException Bad(string problem) => new(path, problem);

    sealed class Mark { public static readonly Mark Instance = new(); }

    object? Run()
    {
        var stack = new List<object?>();
        var marks = new Stack<int>();
        var memo = new Dictionary<long, object?>();
        while (true)
        {
            if (pos >= data.Length) throw Bad("pickle is truncated (no STOP opcode)");
            if (stack.Count > MaxDepth || memo.Count > MaxDepth) throw Bad("pickle is implausibly large");
            byte op = data[pos++];
            switch (op)
            {
                case 0x80: // PROTO
                    { int p = U8(); if (p > 5) throw Bad($"unsupported pickle protocol {p}"); break; }
                case 0x95: pos = checked(pos + 8); break; // FRAME: only a length hint
                case (byte)'.': // STOP
                    if (stack.Count != 1) throw Bad("malformed pickle (stack not balanced at STOP)");
                    return stack[0];
                case (byte)'(': marks.Push(stack.Count); break; // MARK
                case (byte)'N': stack.Add(null); break;
                case 0x88: stack.Add(true); break;
                case 0x89: stack.Add(false); break;
                case (byte)'J': stack.Add((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4))); break; // BININT
                case (byte)'K': stack.Add((long)U8()); break; // BININT1
                case (byte)'M': stack.Add((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2))); break; // BININT2
                case 0x8a: stack.Add(Long(U8())); break; // LONG1
                case 0x8b: stack.Add(Long(Length32())); break; // LONG4
                case (byte)'G': stack.Add(BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break; // BINFLOAT
                case (byte)'I': stack.Add(TextInt(Line())); break; // INT (protocol 0)
                case (byte)'L': stack.Add(TextInt(Line().TrimEnd('L'))); break; // LONG (protocol 0)
                case (byte)'F': // FLOAT (protocol 0)
                    stack.Add(double.TryParse(Line(), System.Globalization.NumberStyles.Float,
                        System.Globalization.CultureInfo.InvariantCulture,
                        out var f) ? f : throw Bad("bad float in pickle"));
                    break;
                case (byte)'S': stack.Add(Quoted(Line())); break; // STRING (protocol 0)
                case (byte)'X': stack.Add(Utf8(Length32())); break; // BINUNICODE
                case 0x8c: stack.Add(Utf8(U8())); break; // SHORT_BINUNICODE
                case 0x8d: stack.Add(Utf8(Length64())); break; // BINUNICODE8
                case (byte)'U': stack.Add(Encoding.Latin1.GetString(Take(U8()))); break; // SHORT_BINSTRING (py2 str)
                case (byte)'T': stack.Add(Encoding.Latin1.GetString(Take(Length32()))); break; // BINSTRING
                case (byte)'B': stack.Add(Take(Length32()).ToArray()); break; // BINBYTES
                case (byte)'C': stack.Add(Take(U8()).ToArray()); break; // SHORT_BINBYTES
                case 0x8e: stack.Add(Take(Length64()).ToArray()); break; // BINBYTES8
                case (byte)'}': stack.Add(new PyDict()); break; // EMPTY_DICT
                case (byte)']': stack.Add(new List<object?>()); break; // EMPTY_LIST
                case (byte)')': stack.Add(new PyTuple(Array.Empty<object?>())); break; // EMPTY_TUPLE
                case (byte)'t': stack.Add(new PyTuple(PopMark(stack, marks))); break; // TUPLE
                case 0x85: stack.Add(new PyTuple(PopN(stack, 1))); break; // TUPLE1
                case 0x86: stack.Add(new PyTuple(PopN(stack, 2))); break; // TUPLE2
                case 0x87: stack.Add(new PyTuple(PopN(stack, 3))); break; // TUPLE3
                case (byte)'l': stack.Add(PopMark(stack, marks).ToList()); break; // LIST
                case (byte)'d': // DICT
                    { var d = new PyDict(); SetItems(d, PopMark(stack, marks)); stack.Add(d); break; }
                case (byte)'a': // APPEND
                    { var v = PopN(stack, 1)[0]; AsList(Top(stack)).Add(v); break; }
                case (byte)'e': // APPENDS
                    { var items = PopMark(stack, marks); AsList(Top(stack)).AddRange(items); break; }
                case (byte)'s': // SETITEM
                    { var kv = PopN(stack, 2); SetItems(AsDict(Top(stack)), kv); break; }
                case (byte)'u': // SETITEMS
                    { var kv = PopMark(stack, marks); SetItems(AsDict(Top(stack)), kv); break; }
                case (byte)'q': memo[U8()] = Top(stack); break; // BINPUT
                case (byte)'r': memo[Length32()] = Top(stack); break; // LONG_BINPUT
                case (byte)'p': memo[TextInt(Line())] = Top(stack); break; // PUT
                case 0x94: memo[memo.Count] = Top(stack); break; // MEMOIZE
                case (byte)'h': stack.Add(Memo(memo, U8())); break; // BINGET
                case (byte)'j': stack.Add(Memo(memo, Length32())); break; // LONG_BINGET
                case (byte)'g': stack.Add(Memo(memo, TextInt(Line()))); break; // GET
                case (byte)'c': // GLOBAL "module\nname\n"
                    { string module = Line(), name = Line(); stack.Add(Global(module, name)); break; }
                case (byte)'i': // INST "module\nname\n": builds an instance, which no state dict needs
                    {
                        string module = Line(), name = Line();
                        Global(module, name);
                        throw Bad($"refusing to instantiate '{module}.{name}' (INST opcode)");
                    }
                case 0x93: // STACK_GLOBAL
                    {
                        var mn = PopN(stack, 2);
                        if (mn[0] is not string module
                            || mn[1] is not string name) throw Bad("malformed pickle (STACK_GLOBAL without names)");
                        stack.Add(Global(module, name));
                        break;
                    }
                case (byte)'Q': stack.Add(persistentLoad(PopN(stack, 1)[0])); break; // BINPERSID
                case (byte)'P': stack.Add(persistentLoad(Line())); break; // PERSID
                case (byte)'R': // REDUCE
                    {
                        var fa = PopN(stack, 2);
                        if (fa[0] is not PyGlobal g) throw Bad("malformed pickle (REDUCE on something that is not a "
                            + "global)");
                        if (fa[1] is not PyTuple args) throw Bad($"malformed pickle (REDUCE {g.FullName} without an "
                            + $"argument tuple)");
                        stack.Add(Call(g, args.Items));
                        break;
                    }
                case (byte)'b': // BUILD: only the state of an OrderedDict (state_dict()._metadata), which we drop
                    {
                        var state = PopN(stack, 1)[0];
                        if (Top(stack) is not PyDict
                            || state is not (PyDict or PyTuple or null)) throw Bad("pickle sets the state of an "
                            + "object other than a dict");
                        break;
                    }
                case (byte)'0': PopN(stack, 1); break; // POP
                case (byte)'1': PopMark(stack, marks); break; // POP_MARK
                case (byte)'2': stack.Add(Top(stack)); break; // DUP
                default:
                    throw Bad($"unsupported pickle opcode 0x{op:x2} at byte {pos - 1} (only state dicts of tensors "
                        + $"can be read)");
            }
        }
    }

    object Global(string module, string name)
    {
        string full = $"{module}.{name}";
        if (AllowedGlobals.Contains(full) || (module == "torch"
            && StorageTypes.ContainsKey(name))) return new PyGlobal(module, name);
        throw Bad($"refusing pickle global '{full}' (only tensors, storages and ordered dicts are allowed; nothing "
            + $"is executed)");
    }

    object? Call(PyGlobal g, IReadOnlyList<object?> a)
    {
        switch (g.FullName)
        {
            case "collections.OrderedDict":
                {
                    var d = new PyDict();
                    if (a.Count == 1 && a[0] is List<object?> pairs)
                        foreach (var p in pairs)
                            if (p is PyTuple { Items.Count: 2 } t) d.Set(Key(t.Items[0]), t.Items[1]);
                            // old PyTorch pickled [key, value] lists
                            else if (p is List<object?> { Count: 2 } l) d.Set(Key(l[0]), l[1]);
                            else throw Bad("OrderedDict built from something other than pairs");
                    else if (a.Count != 0) throw Bad("OrderedDict called with unexpected arguments");
                    return d;
                }
            case "torch._utils._rebuild_tensor_v2":
            case "torch._utils._rebuild_tensor":
                {
                    if (a.Count < 4) throw Bad($"{g.Name} called with {a.Count} arguments");
                    if (a[0] is not StorageRef storage) throw Bad($"{g.Name} called without a storage");
                    return new TensorRef(storage, Int(a[1]), Ints(a[2]), Ints(a[3]));
                }
            case "torch._utils._rebuild_parameter":
                if (a.Count < 1 || a[0] is not TensorRef data) throw Bad("_rebuild_parameter called without a tensor");
                return data;
            default:
                throw Bad($"refusing to call '{g.FullName}' (it is not a function a state dict needs)");
        }
    }

    long Int(object? v) => v is long l ? l : throw Bad("expected an integer in a tensor description");
    long[] Ints(object? v) => v is PyTuple t ? t.Items.Select(Int).ToArray() : v is List<object?> l
        ? l.Select(Int).ToArray() : throw Bad("expected a tuple of integers in a tensor description");

    object Key(object? k) => k switch
    {
        string or long or bool or double => k!,
        PyTuple t => string.Join(",", t.Items), // never in a state dict; kept as text
        _ => throw Bad("dict key of an unsupported type"),
    };

    void SetItems(PyDict d, IReadOnlyList<object?> kv)
    {
        if (kv.Count % 2 != 0) throw Bad("malformed pickle (odd number of dict items)");
        for (int i = 0; i < kv.Count; i += 2) d.Set(Key(kv[i]), kv[i + 1]);
    }

    PyDict AsDict(object? o) => o as PyDict ?? throw Bad("malformed pickle (SETITEM on something that is not a dict)");
    List<object?> AsList(object? o) => o as List<object?>
        ?? throw Bad("malformed pickle (APPEND on something that is not a list)");
    object? Top(List<object?> s) => s.Count > 0 && s[^1] is not Mark
        ? s[^1] : throw Bad("malformed pickle (empty stack)");
    object? Memo(Dictionary<long, object?> memo, long key) => memo.TryGetValue(key,
        out var v) ? v : throw Bad($"malformed pickle (memo entry {key} missing)");

    IReadOnlyList<object?> PopN(List<object?> s, int n)
    {
        if (s.Count < n) throw Bad("malformed pickle (stack underflow)");
        var items = s.GetRange(s.Count - n, n);
        s.RemoveRange(s.Count - n, n);
        return items;
    }

    IReadOnlyList<object?> PopMark(List<object?> s, Stack<int> marks)
    {
        if (marks.Count == 0) throw Bad("malformed pickle (no MARK)");
        int at = marks.Pop();
        if (at > s.Count) throw Bad("malformed pickle (MARK beyond the stack)");
        var items = s.GetRange(at, s.Count - at);
        s.RemoveRange(at, s.Count - at);
        return items;
    }

    int U8() => Take(1)[0];
    int Length32()
    {
        int n = BinaryPrimitives.ReadInt32LittleEndian(Take(4));
        return n >= 0 ? n : throw Bad("malformed pickle (negative length)");
    }
    int Length64()
    {
        long n = BinaryPrimitives.ReadInt64LittleEndian(Take(8));
        return n is >= 0 and <= int.MaxValue ? (int)n : throw Bad("malformed pickle (bad length)");
    }

    ReadOnlySpan<byte> Take(int n)
    {
        if (n < 0 || pos > data.Length - n) throw Bad("pickle is truncated");
        var span = data.AsSpan(pos, n);
        pos += n;
        return span;
    }

    string Utf8(int n)
    {
        try { return new UTF8Encoding(false, true).GetString(Take(n)); }
        catch (DecoderFallbackException) { throw Bad("pickle holds a string that is not valid UTF-8"); }
    }

    string Line()
    {
        int end = Array.IndexOf(data, (byte)'\n', pos);
        if (end < 0 || end - pos > 4096) throw Bad("pickle is truncated (unterminated text field)");
        string s = Encoding.Latin1.GetString(data, pos, end - pos);
        pos = end + 1;
        return s;
    }

    /// <summary>A protocol-0 STRING: Python repr of a str, quotes and backslash escapes removed.</summary>
    string Quoted(string s)
    {
        if (s.Length < 2 || s[0] != s[^1] || s[0] is not ('\'' or '"')) throw Bad("bad quoted string in pickle");
        var sb = new StringBuilder();
        for (int i = 1; i < s.Length - 1; i++)
        {
            if (s[i] != '\\') { sb.Append(s[i]); continue; }
            if (++i >= s.Length - 1) throw Bad("bad escape in pickle string");
            switch (s[i])
            {
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case 'x' when i + 2 < s.Length - 1 && int.TryParse(s.AsSpan(i + 1, 2),
                    System.Globalization.NumberStyles.HexNumber, null, out int code):
                    sb.Append((char)code); i += 2; break;
                default: sb.Append(s[i]); break;
            }
        }
        return sb.ToString();
    }

    long TextInt(string s)
    {
        if (s == "00") return 0; // protocol 0 False
        if (s == "01") return 1; // protocol 0 True
        return long.TryParse(s, System.Globalization.NumberStyles.AllowLeadingSign,
            System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : throw Bad("bad integer in pickle");
    }

    object Long(int n)
    {
        var bytes = Take(n);
        var big = new BigInteger(bytes, isUnsigned: false, isBigEndian: false);
        return big >= long.MinValue && big <= long.MaxValue ? (object)(long)big : big;
    }
}
