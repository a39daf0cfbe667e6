using OnnxLm.Engine.Cache.Ssd;

namespace OnnxLm.Tests.Cache.Ssd;

/// <summary>A full disk, a read-only or uncreatable directory, a second process, and crashes in the middle of writes.</summary>
public class SsdKvTierFaultTests
{
    [Test]
    public async Task Full_disk_stops_writing_logs_once_and_reads_keep_working()
    {
        using var t = new SsdTestBlocks(SsdTestBlocks.SmallFp32);
        var fs = new FaultyFileSystem();
        var chain = t.MakeChain(21, 8);
        using var tier = new SsdKvTier(t.Options(), fs);
        for (int j = 0; j < 3; j++) tier.TryEnqueueWrite(chain.Hashes[j], chain.Parent(j), chain.TokensOf(j).Span, chain.Bytes[j]);
        tier.WaitForWrites(TimeSpan.FromSeconds(10));
        fs.DiskFull = true;
        for (int j = 3; j < 6; j++) tier.TryEnqueueWrite(chain.Hashes[j], chain.Parent(j), chain.TokensOf(j).Span, chain.Bytes[j]);
        tier.WaitForWrites(TimeSpan.FromSeconds(10));
        await Assert.That(tier.WritingStopped).IsTrue();
        await Assert.That(tier.TryEnqueueWrite(chain.Hashes[6], chain.Parent(6), chain.TokensOf(6).Span, chain.Bytes[6])).IsFalse();
        // One attempt hit the full disk; the rest were not even tried.
        await Assert.That(fs.WriteAttempts).IsEqualTo(1 + 3 + 1);
        await Assert.That(t.Logs.Count(l => l.Contains("disk is full", StringComparison.Ordinal))).IsEqualTo(1);
        await Assert.That(tier.BlocksWritten).IsEqualTo(3);
        for (int j = 0; j < 3; j++) await Assert.That((await chain.ReadAsync(tier, j))!.AsSpan().SequenceEqual(chain.Bytes[j])).IsTrue();
        await Assert.That(Directory.GetFiles(Path.Combine(tier.Directory, "tmp"))).IsEmpty();
    }

    [Test]
    public async Task Read_only_directory_serves_reads_with_one_warning_and_never_writes()
    {
        using var t = new SsdTestBlocks(SsdTestBlocks.SmallFp32);
        var chain = t.MakeChain(22, 3);
        using (var writer = t.Open())
        {
            chain.EnqueueAll(writer);
            writer.WaitForWrites(TimeSpan.FromSeconds(10));
        }
        t.Logs.Clear();
        var fs = new FaultyFileSystem { ReadOnly = true };
        using var tier = new SsdKvTier(t.Options(), fs);
        await tier.Ready;
        await Assert.That(tier.Mode).IsEqualTo(SsdTierMode.ReadOnly);
        await Assert.That(tier.ModeReason).Contains("not writable");
        await Assert.That(t.Logs.Count).IsEqualTo(1);
        await Assert.That(t.Logs[0]).Contains("read-only");
        await Assert.That(tier.TryEnqueueWrite(chain.Hashes[0], default, chain.TokensOf(0).Span, chain.Bytes[0])).IsFalse();
        var hashes = new UInt128[3];
        await Assert.That(tier.LookupChain(chain.Tokens, 0, default, 3, hashes)).IsEqualTo(3);
        await Assert.That((await chain.ReadAsync(tier, 2))!.AsSpan().SequenceEqual(chain.Bytes[2])).IsTrue();
    }

    [Test]
    public async Task Uncreatable_directory_disables_the_tier_with_one_warning()
    {
        using var t = new SsdTestBlocks(SsdTestBlocks.SmallFp32);
        var chain = t.MakeChain(23, 2);
        using var tier = new SsdKvTier(t.Options(), new FaultyFileSystem { Uncreatable = true });
        await tier.Ready;
        await Assert.That(tier.Mode).IsEqualTo(SsdTierMode.Disabled);
        await Assert.That(t.Logs.Count).IsEqualTo(1);
        await Assert.That(t.Logs[0]).Contains("disabled");
        await Assert.That(tier.TryEnqueueWrite(chain.Hashes[0], default, chain.TokensOf(0).Span, chain.Bytes[0])).IsFalse();
        await Assert.That(tier.LookupChain(chain.Tokens, 0, default, 2, new UInt128[2])).IsEqualTo(0);
        await Assert.That(await chain.ReadAsync(tier, 0)).IsNull();
    }

    [Test]
    public async Task Missing_parent_path_on_a_real_file_system_disables_the_tier()
    {
        // A root below a regular file cannot be created by anyone, root included.
        using var t = new SsdTestBlocks(SsdTestBlocks.SmallFp32);
        string file = Path.Combine(t.Root, "not-a-directory");
        await File.WriteAllTextAsync(file, "x");
        using var tier = new SsdKvTier(t.Options() with { Directory = Path.Combine(file, "kv") });
        await Assert.That(tier.Mode).IsEqualTo(SsdTierMode.Disabled);
        await Assert.That(t.Logs.Count).IsEqualTo(1);
    }

    [Test]
    public async Task Second_instance_on_one_directory_is_read_only_and_sees_the_first_ones_blocks()
    {
        using var t = new SsdTestBlocks(SsdTestBlocks.SmallFp32);
        var chain = t.MakeChain(24, 4);
        using var first = t.Open();
        chain.EnqueueAll(first);
        first.WaitForWrites(TimeSpan.FromSeconds(10));
        using (var second = t.Open())
        {
            await second.Ready;
            await Assert.That(first.Mode).IsEqualTo(SsdTierMode.ReadWrite);
            await Assert.That(second.Mode).IsEqualTo(SsdTierMode.ReadOnly);
            await Assert.That(second.ModeReason).Contains("another process holds");
            await Assert.That(t.Logs.Count(l => l.Contains("read-only", StringComparison.Ordinal))).IsEqualTo(1);
            await Assert.That(second.TryEnqueueWrite(chain.Hashes[0], default, chain.TokensOf(0).Span, chain.Bytes[0])).IsFalse();
            await Assert.That((await chain.ReadAsync(second, 3))!.AsSpan().SequenceEqual(chain.Bytes[3])).IsTrue();
        }
        first.Dispose();
        using var third = t.Open();
        await Assert.That(third.Mode).IsEqualTo(SsdTierMode.ReadWrite);
    }

    [Test]
    public async Task Crash_at_any_moment_of_writing_leaves_only_complete_blocks()
    {
        using var t = new SsdTestBlocks(SsdTestBlocks.SmallFp32);
        var rng = new Random(25);
        var served = 0;
        for (int round = 0; round < 20; round++)
        {
            var chain = t.MakeChain(100 + round, 12);
            long fileBytes = 0;
            // Roughly the bytes one round writes (header + payload per block); the cut lands anywhere in it.
            var fs = new FaultyFileSystem();
            var tier = new SsdKvTier(t.Options(), fs);
            await tier.Ready;
            fileBytes = 12 * (t.Layout.BlockBytes + 1024);
            fs.CrashAfterBytes = rng.NextInt64(fileBytes);
            chain.EnqueueAll(tier);
            tier.WaitForWrites(TimeSpan.FromSeconds(10));
            // Dispose of a crashed instance changes nothing on disk (every mutation throws), like a killed process.
            fs.Crashed = true;
            tier.Dispose();

            using var again = t.Open();
            await again.Ready;
            await Assert.That(again.Mode).IsEqualTo(SsdTierMode.ReadWrite);
            await Assert.That(Directory.GetFiles(Path.Combine(again.Directory, "tmp"))).IsEmpty();
            var hashes = new UInt128[12];
            int found = again.LookupChain(chain.Tokens, 0, default, 12, hashes);
            for (int j = 0; j < found; j++)
            {
                var back = await chain.ReadAsync(again, j);
                await Assert.That(back).IsNotNull();
                await Assert.That(back!.AsSpan().SequenceEqual(chain.Bytes[j])).IsTrue();
                served++;
            }
            await Assert.That(again.CorruptBlocks).IsEqualTo(0);
        }
        await Assert.That(served).IsGreaterThan(0);
    }

    [Test]
    public async Task Torn_files_under_final_names_are_never_served()
    {
        // Not producible by the writer (rename after fsync), but a disk or a copy tool can leave them: every length fails.
        using var t = new SsdTestBlocks(SsdTestBlocks.SmallFp32);
        var chain = t.MakeChain(26, 1);
        string path;
        using (var tier = t.Open())
        {
            chain.EnqueueAll(tier);
            tier.WaitForWrites(TimeSpan.FromSeconds(10));
            path = tier.BlockPath(chain.Hashes[0], default);
        }
        var whole = await File.ReadAllBytesAsync(path);
        var rng = new Random(26);
        for (int i = 0; i < 25; i++)
        {
            int keep = i == 0 ? whole.Length - 1 : rng.Next(whole.Length);
            await File.WriteAllBytesAsync(path, whole.AsSpan(0, keep).ToArray());
            await File.WriteAllBytesAsync(Path.Combine(Path.GetDirectoryName(path)!, "..", "..", "dirty"), []);
            using var tier = t.Open();
            await tier.Ready;
            await Assert.That(await chain.ReadAsync(tier, 0)).IsNull();
            await Assert.That(tier.CorruptBlocks).IsEqualTo(1);
            await Assert.That(File.Exists(path)).IsFalse();
        }
    }
}
