using System.Runtime.InteropServices;

using SockWatch.Agent.Interop;

namespace SockWatch.Agent.Tests;

public class NativeHeapTests
{
    [Fact]
    public unsafe void Prefault_makes_untouched_pages_resident_in_one_call_and_leaves_the_data_alone()
    {
        if (!OperatingSystem.IsLinux() || Environment.OSVersion.Version < new Version(5, 14))
        {
            return; // MADV_POPULATE_WRITE is Linux 5.14+; elsewhere Prefault only says false
        }

        const int length = 64 << 20;
        var memory = (byte*)NativeMemory.Alloc(length); // a fresh mmap: no page touched yet
        try
        {
            var span = new Span<byte>(memory, length);
            var before = RssAnonKiB();
            Assert.True(NativeHeap.Prefault(span));
            var after = RssAnonKiB();
            Assert.True(after - before >= 48 << 10, $"RssAnon grew by {after - before} KiB, not by about 64 MiB");
            Assert.True(span.IndexOfAnyExcept((byte)0) < 0); // populated pages read as zeroes

            span[12345] = 7;
            Assert.True(NativeHeap.Prefault(span)); // already resident: a no-op
            Assert.Equal(7, span[12345]);
        }
        finally
        {
            NativeMemory.Free(memory);
        }
    }

    [Fact]
    public void A_small_span_is_not_worth_a_system_call() => Assert.False(NativeHeap.Prefault(new long[16].AsSpan()));

    [Fact]
    public unsafe void Trim_returns_the_free_pages_in_the_middle_of_an_arena()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/proc/self/status"))
        {
            return;
        }

        // 1,200 blocks of 64 KiB (below glibc's mmap threshold, so from an arena), written to,
        // then all freed but the last, which pins the arena's top: free() alone keeps the rest.
        var blocks = new nint[1200];
        for (var i = 0; i < blocks.Length; i++)
        {
            var b = (byte*)NativeMemory.Alloc(64 << 10);
            new Span<byte>(b, 64 << 10).Fill(1);
            blocks[i] = (nint)b;
        }

        for (var i = 0; i < blocks.Length - 1; i++)
        {
            NativeMemory.Free((void*)blocks[i]);
        }

        var before = RssAnonKiB();
        NativeHeap.Trim();
        var after = RssAnonKiB();
        NativeMemory.Free((void*)blocks[^1]);
        Assert.True(before - after >= 40 << 10, $"RssAnon fell by {before - after} KiB, not by about 75 MiB");
    }

    private static long RssAnonKiB()
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("RssAnon:", StringComparison.Ordinal));
        return long.Parse(line["RssAnon:".Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
    }
}
