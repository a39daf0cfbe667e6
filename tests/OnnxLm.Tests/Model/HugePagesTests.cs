using System.Runtime.InteropServices;
using OnnxLm.Engine.Model;
using OnnxLm.Engine.Scheduling;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Model;

/// <summary>Which mappings the huge-page pass picks, and that it actually collapses a dense anonymous region.</summary>
public class HugePagesTests
{
    const long MiB = 1 << 20;

    static IEnumerable<string> Mapping(long start, long bytes, string perms, string inode, string path, long rssBytes)
    {
        yield return $"{start:x}-{start + bytes:x} {perms} 00000000 00:00 {inode}" + (path.Length > 0 ? "                          " + path : "");
        yield return $"Size:           {bytes / 1024} kB";
        yield return "KernelPageSize:        4 kB";
        yield return $"Rss:            {rssBytes / 1024} kB";
        yield return "Pss:               0 kB";
        yield return "VmFlags: rd wr mr mw me ac sd";
    }

    [Test]
    public async Task Only_anonymous_writable_mappings_with_enough_resident_memory_are_picked()
    {
        long b = 0x7f0000000000;
        var smaps = new[]
        {
            Mapping(b, 64 * MiB, "rw-p", "0", "", 64 * MiB),                                  // weights: picked
            Mapping(b + 100 * MiB, 32 * MiB, "rw-p", "0", "[heap]", 31 * MiB),                // brk heap, dense: picked
            Mapping(b + 200 * MiB, 64 * MiB, "rw-p", "0", "", 4 * MiB),                       // little resident
            Mapping(b + 300 * MiB, 1 * MiB, "rw-p", "0", "", 1 * MiB),                        // smaller than a huge page
            Mapping(b + 400 * MiB, 64 * MiB, "r--p", "1234", "/models/model.onnx.data", 64 * MiB), // file-backed
            Mapping(b + 500 * MiB, 64 * MiB, "r--p", "0", "", 64 * MiB),                      // read-only
            Mapping(b + 600 * MiB, 16 * MiB, "rw-p", "0", "[stack]", 16 * MiB),               // a stack
        }.SelectMany(x => x);
        var picked = HugePages.AnonymousMappings(smaps, minResidentBytes: 8 * MiB);
        await Assert.That(picked.Count).IsEqualTo(2);
        await Assert.That((long)picked[0].Start).IsEqualTo(b);
        await Assert.That(picked[0].Length).IsEqualTo(64 * MiB);
        await Assert.That((long)picked[1].Start).IsEqualTo(b + 100 * MiB);
    }

    [Test]
    public async Task Malformed_lines_are_skipped()
    {
        string[] smaps = ["garbage", "zz-yy rw-p 0 00:00 0", "Rss: 12 kB", ""];
        await Assert.That(HugePages.AnonymousMappings(smaps, 0).Count).IsEqualTo(0);
    }

    [Test]
    public async Task A_dense_anonymous_region_ends_up_on_huge_pages_where_the_kernel_offers_them()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/sys/kernel/mm/transparent_hugepage/enabled")
            || File.ReadAllText("/sys/kernel/mm/transparent_hugepage/enabled").Contains("[never]"))
            return; // THP switched off: CollapseResident is a no-op by design
        long bytes = 32 * MiB;
        nint p = Allocate(bytes);
        try
        {
            Fill(p, bytes, 7);
            // MADV_COLLAPSE needs a free 2 MiB page per chunk and refuses a chunk another collapse holds (EAGAIN): with
            // the test run's other processes holding memory that can last a moment, so try for up to 4 s.
            long collapsed = 0, huge = 0;
            for (int attempt = 0; attempt < 20 && huge < bytes; attempt++)
            {
                if (attempt > 0) await Task.Delay(200);
                collapsed += HugePages.CollapseResident(minResidentBytes: 8 * MiB);
                huge = AnonHugeBytesIn(p, bytes);
            }
            if (Environment.OSVersion.Version >= new Version(6, 1))   // MADV_COLLAPSE exists
            {
                await Assert.That(collapsed).IsGreaterThanOrEqualTo(bytes);
                await Assert.That(huge).IsGreaterThanOrEqualTo(bytes);
            }
            await Assert.That(FirstNot(p, bytes, 7)).IsEqualTo(-1);   // the contents survive the move
        }
        finally
        {
            Free(p);
        }
    }

    [Test]
    public async Task A_cancelled_collapse_moves_nothing()
    {
        long bytes = 32 * MiB;
        nint p = Allocate(bytes);
        try
        {
            Fill(p, bytes, 3);
            using var cancelled = new CancellationTokenSource();
            cancelled.Cancel();
            await Assert.That(HugePages.CollapseResident(minResidentBytes: 8 * MiB, cancel: cancelled.Token)).IsEqualTo(0);
            await Assert.That(FirstNot(p, bytes, 3)).IsEqualTo(-1);
        }
        finally
        {
            Free(p);
        }
    }

    [Test]
    public async Task The_engine_is_ready_before_the_collapse_and_disposing_it_meanwhile_stops_the_collapse_cleanly()
    {
        var engine = InferenceEngine.Start(new EngineOptions { ModelDirectory = TestModels.TinyFp32, Threads = 1, SsdCache = false, HugePages = true, MaxBatchSize = 1 });
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!engine.IsReady && DateTime.UtcNow < deadline) await Task.Delay(5);
        await Assert.That(engine.IsReady).IsTrue();
        // Disposal right after readiness races the collapse on purpose: it must cancel and wait for it, not free the
        // weights under it.
        engine.Dispose();
        await Assert.That(engine.HugePagesSettled.IsCompleted).IsTrue();
        await Assert.That(engine.HugePagesSettled.IsFaulted).IsFalse();
    }

    static unsafe nint Allocate(long bytes) => (nint)NativeMemory.AlignedAlloc((nuint)bytes, 2 * 1024 * 1024);
    static unsafe void Free(nint p) => NativeMemory.AlignedFree((void*)p);
    static unsafe void Fill(nint p, long bytes, byte value) => new Span<byte>((void*)p, (int)bytes).Fill(value);
    static unsafe int FirstNot(nint p, long bytes, byte value) => new Span<byte>((void*)p, (int)bytes).IndexOfAnyExcept(value);

    /// <summary>AnonHugePages of the smaps entries overlapping [p, p + bytes).</summary>
    static long AnonHugeBytesIn(nint p, long bytes)
    {
        long total = 0;
        bool inside = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            int dash = line.IndexOf('-'), space = line.IndexOf(' ');
            if (dash > 0 && space > dash && long.TryParse(line.AsSpan(0, dash), System.Globalization.NumberStyles.HexNumber, null, out long s)
                && long.TryParse(line.AsSpan(dash + 1, space - dash - 1), System.Globalization.NumberStyles.HexNumber, null, out long e))
            {
                inside = s < p + bytes && e > p;
                continue;
            }
            if (inside && line.StartsWith("AnonHugePages:", StringComparison.Ordinal))
                total += long.Parse(line.AsSpan(14).Trim().ToString().Split(' ')[0]) * 1024;
        }
        return total;
    }
}
