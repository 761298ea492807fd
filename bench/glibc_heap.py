"""gdb command `heap-free`: the free chunks of glibc's main arena (unsorted and large bins), read from memory
without calling malloc (a call from gdb can deadlock on the arena lock the stopped thread holds).
Needs glibc's debug symbols (Debian 12 has them here). Prints the free total, the largest chunks and, for each,
the in-use chunk after it with the symbol its first word points at (a vtable names the C++ object).
Used for docs/BENCHMARKS.md ("Single-op twins"), e.g. at the first 32 MiB mmap after the profile rows:
  gdb -batch -ex 'handle all nostop noprint pass' -ex 'source bench/glibc_heap.py' \
      -ex 'break mmap64 if $rsi==33558528' -ex run -ex heap-free --args dotnet ... run --rows profile/,twin/relu/"""
import gdb


def free_chunks():
    arena = gdb.parse_and_eval("main_arena")
    chunk_ptr = gdb.lookup_type("struct malloc_chunk").pointer()
    char_ptr = gdb.lookup_type("char").pointer()
    found = []
    for i in [1] + list(range(64, 127)):  # bin 1 is the unsorted bin, 64-126 the large bins
        header = (arena["bins"][(i - 1) * 2].address.cast(char_ptr) - 16).cast(chunk_ptr)
        c = arena["bins"][(i - 1) * 2]
        while int(c) != int(header):
            found.append((int(c["mchunk_size"]) & ~7, int(c)))
            c = c["fd"]
    return sorted(found, reverse=True), int(arena["top"]["mchunk_size"]) & ~7


def after(address):
    """Size of the chunk at address and the symbol its first word points at, if any."""
    chunk = gdb.Value(address).cast(gdb.lookup_type("struct malloc_chunk").pointer())
    word = int(gdb.Value(address + 16).cast(gdb.lookup_type("unsigned long").pointer()).dereference())
    symbol = gdb.execute(f"info symbol {word:#x}", to_string=True).strip()
    return int(chunk["mchunk_size"]) & ~7, symbol.split(" in section")[0] if "No symbol" not in symbol else hex(word)


class HeapFree(gdb.Command):
    def __init__(self):
        super().__init__("heap-free", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        chunks, top = free_chunks()
        print(f"free: {len(chunks)} chunks, {sum(s for s, _ in chunks) >> 20} MiB, top {top >> 20} MiB")
        for size, address in chunks[:int(arg or 12)]:
            next_size, symbol = after(address + size)
            print(f"  {size} B at {address:#x}; next in use: {next_size} B, {symbol}")


HeapFree()
