using System.Diagnostics;
using OnnxLm.Engine.Cache;
using OnnxLm.Engine.Cache.Ssd;

namespace OnnxLm.Tests.Cache.Ssd;

/// <summary>
/// Measurements behind the SSD tier's design (run explicitly: <c>--treenode-filter "/*/*/SsdKvTierMeasurements/*"</c>).
/// They print numbers and still assert that what was measured round-trips.
/// </summary>
public class SsdKvTierMeasurements
{
    const int Blocks = 1000;

    [Test, Explicit]
    public async Task Block_write_and_read_throughput_one_file_per_block_vs_runs()
    {
        var layout = SsdTestBlocks.Benchmark;
        using var t = new SsdTestBlocks(layout);
        var chain = t.MakeChain(1, Blocks);
        double mb = Blocks * (double)layout.BlockBytes / 1e6;

        var tier = t.Open(maxBytes: 1L << 40);
        await tier.Ready;
        long enqueueTicks = 0;
        var sw = Stopwatch.StartNew();
        for (int j = 0; j < Blocks; j++)
        {
            while (true)
            {
                // Time only accepted calls: the caller's cost of a write, not the wait for a free buffer.
                long before = Stopwatch.GetTimestamp();
                if (tier.TryEnqueueWrite(chain.Hashes[j], chain.Parent(j), chain.TokensOf(j).Span, chain.Bytes[j]))
                {
                    enqueueTicks += Stopwatch.GetTimestamp() - before;
                    break;
                }
                Thread.Sleep(1);
            }
        }
        tier.WaitForWrites(TimeSpan.FromMinutes(5));
        double write = sw.Elapsed.TotalSeconds;
        await Assert.That(tier.BlocksWritten).IsEqualTo(Blocks);
        tier.Dispose();

        // The same without fsync (verification on read makes it safe, durability aside).
        using var nosync = new SsdTestBlocks(layout, new UInt128(9, 9));
        var fast = new SsdKvTier(nosync.Options(maxBytes: 1L << 40), new PhysicalSsdFileSystem(fsync: false));
        sw.Restart();
        for (int j = 0; j < Blocks; j++)
            while (!fast.TryEnqueueWrite(chain.Hashes[j], chain.Parent(j), chain.TokensOf(j).Span, chain.Bytes[j])) Thread.Sleep(1);
        fast.WaitForWrites(TimeSpan.FromMinutes(5));
        double writeNoSync = sw.Elapsed.TotalSeconds;
        fast.Dispose();

        // Runs of 16 blocks per file, same durability (write, fsync, rename): what a multi-block format would cost.
        string runs = Path.Combine(t.Root, "runs");
        Directory.CreateDirectory(runs);
        var run = new byte[16 * layout.BlockBytes];
        sw.Restart();
        for (int r = 0; r < Blocks / 16; r++)
        {
            for (int k = 0; k < 16; k++) chain.Bytes[r * 16 + k].CopyTo(run, k * layout.BlockBytes);
            string temp = Path.Combine(runs, $"{r}.tmp");
            PhysicalSsdFileSystem.Instance.WriteDurable(temp, run, default);
            File.Move(temp, Path.Combine(runs, $"{r}.run"));
        }
        double runWrite = sw.Elapsed.TotalSeconds;
        double runMb = Blocks / 16 * 16 * (double)layout.BlockBytes / 1e6;

        bool dropped = TryDropPageCache();
        using var reader = t.Open();
        await reader.Ready;
        var buffer = new byte[layout.BlockBytes];
        sw.Restart();
        for (int j = 0; j < Blocks; j++)
            if (!await reader.ReadBlockAsync(chain.Hashes[j], chain.TokensOf(j), chain.Parent(j), buffer)) throw new InvalidOperationException($"block {j} not read");
        double readSeq = sw.Elapsed.TotalSeconds;
        await Assert.That(buffer.AsSpan().SequenceEqual(chain.Bytes[^1])).IsTrue();

        TryDropPageCache();
        var staging = new byte[64 * layout.BlockBytes];
        sw.Restart();
        for (int start = 0; start < Blocks; start += 64)
        {
            int n = Math.Min(64, Blocks - start);
            int ok = await reader.ReadChainAsync(chain.Tokens, start, chain.Parent(start), chain.Hashes.AsMemory(start, n), staging);
            if (ok != n) throw new InvalidOperationException($"chain at {start}: {ok} of {n}");
        }
        double readPar = sw.Elapsed.TotalSeconds;
        await Assert.That(reader.CorruptBlocks).IsEqualTo(0);

        Report($"SSD tier, {Blocks} blocks x {layout.BlockBytes} B ({mb:F0} MB), page cache dropped before reads: {dropped}");
        Report($"  write, one file per block: {mb / write:F0} MB/s, {Blocks / write:F0} files/s; TryEnqueueWrite {Stopwatch.GetElapsedTime(0, enqueueTicks).TotalMicroseconds / Blocks:F1} us/block on the caller");
        Report($"  write, one file per block, no fsync: {mb / writeNoSync:F0} MB/s, {Blocks / writeNoSync:F0} files/s");
        Report($"  write, runs of 16 blocks:  {runMb / runWrite:F0} MB/s, {Blocks / 16 / runWrite:F0} files/s");
        Report($"  read+verify, sequential:   {mb / readSeq:F0} MB/s, {Blocks / readSeq:F0} blocks/s");
        Report($"  read+verify, 64 in parallel: {mb / readPar:F0} MB/s, {Blocks / readPar:F0} blocks/s");
    }

    [Test, Explicit]
    public async Task Startup_with_100k_blocks_with_and_without_the_index()
    {
        const int count = 100_000;
        using var t = new SsdTestBlocks(SsdTestBlocks.SmallFp32);
        string dir;
        using (var tier = t.Open()) dir = tier.Directory;
        var rng = new Random(3);
        var sw = Stopwatch.StartNew();
        var payload = new byte[64];
        Span<byte> raw = stackalloc byte[16];
        for (int i = 0; i < count; i++)
        {
            rng.NextBytes(raw);
            var hash = new UInt128(BitConverter.ToUInt64(raw), BitConverter.ToUInt64(raw[8..]));
            string hex = hash.ToString("x32");
            string leaf = Path.Combine(dir, hex[..2], hex[2..3]);
            if (i < 4096 || !Directory.Exists(leaf)) Directory.CreateDirectory(leaf);
            File.WriteAllBytes(Path.Combine(leaf, $"{hex}-{default(UInt128):x32}.safetensors"), payload);
        }
        double create = sw.Elapsed.TotalSeconds;
        File.Delete(Path.Combine(dir, "index.bin"));

        sw.Restart();
        var scanned = t.Open();
        double ctorNoIndex = sw.Elapsed.TotalMilliseconds;
        await scanned.Ready;
        double readyNoIndex = sw.Elapsed.TotalMilliseconds;
        await Assert.That(scanned.BlockCount).IsEqualTo(count);
        sw.Restart();
        scanned.Dispose();
        double save = sw.Elapsed.TotalMilliseconds;

        sw.Restart();
        var indexed = t.Open();
        double ctorIndex = sw.Elapsed.TotalMilliseconds;
        await indexed.Ready;
        double readyIndex = sw.Elapsed.TotalMilliseconds;
        await Assert.That(indexed.BlockCount).IsEqualTo(count);
        indexed.Dispose();

        // After a crash: the index loads, then the reconciling scan runs in the background.
        await File.WriteAllBytesAsync(Path.Combine(dir, "dirty"), []);
        sw.Restart();
        var crashed = t.Open();
        double ctorDirty = sw.Elapsed.TotalMilliseconds;
        await crashed.Ready;
        double readyDirty = sw.Elapsed.TotalMilliseconds;
        await Assert.That(crashed.BlockCount).IsEqualTo(count);
        crashed.Dispose();

        Report($"SSD tier start-up, {count} block files (created in {create:F1} s):");
        Report($"  no index:    constructor {ctorNoIndex:F0} ms, index complete (scan) {readyNoIndex:F0} ms; index save at shutdown {save:F0} ms");
        Report($"  clean index: constructor {ctorIndex:F0} ms, index complete {readyIndex:F0} ms");
        Report($"  dirty index: constructor {ctorDirty:F0} ms, index complete (scan) {readyDirty:F0} ms");
    }

    /// <summary>TUnit captures the console: results also go to {temp}/onnxlm-ssd-measurements.txt.</summary>
    static void Report(string line)
    {
        Console.WriteLine(line);
        File.AppendAllText(Path.Combine(Path.GetTempPath(), "onnxlm-ssd-measurements.txt"), line + Environment.NewLine);
    }

    /// <summary>Cold reads need an empty page cache; dropping it is global, so only when ONNXLM_TEST_DROP_CACHES=1.</summary>
    static bool TryDropPageCache()
    {
        if (Environment.GetEnvironmentVariable("ONNXLM_TEST_DROP_CACHES") != "1") return false;
        try
        {
            File.WriteAllText("/proc/sys/vm/drop_caches", "3");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
