using OnnxLm.Engine.Cache.Ssd;

namespace OnnxLm.Tests.Cache.Ssd;

/// <summary>TTL and byte-cap pruning, least recently used first.</summary>
public class SsdKvTierPruningTests
{
    [Test]
    public async Task Blocks_unused_longer_than_the_ttl_are_deleted_and_a_read_renews_a_block()
    {
        using var t = new SsdTestBlocks(SsdTestBlocks.SmallFp32);
        var clock = new ManualTimeProvider(new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var chain = t.MakeChain(31, 4);
        using var tier = new SsdKvTier(t.Options() with { Time = clock, Ttl = TimeSpan.FromDays(7) });
        chain.EnqueueAll(tier);
        tier.WaitForWrites(TimeSpan.FromSeconds(10));
        clock.Advance(TimeSpan.FromDays(5));
        await Assert.That(await chain.ReadAsync(tier, 2)).IsNotNull();
        clock.Advance(TimeSpan.FromDays(3));   // blocks 0, 1, 3: 8 days unused; block 2: 3 days
        await tier.MaintainNowAsync();
        await Assert.That(tier.PrunedBlocks).IsEqualTo(3);
        await Assert.That(tier.BlockCount).IsEqualTo(1);
        await Assert.That(File.Exists(tier.BlockPath(chain.Hashes[0], default))).IsFalse();
        await Assert.That(File.Exists(tier.BlockPath(chain.Hashes[2], chain.Hashes[1]))).IsTrue();
        await Assert.That(await chain.ReadAsync(tier, 2)).IsNotNull();
    }

    [Test]
    public async Task Byte_cap_keeps_the_most_recently_used_blocks()
    {
        using var t = new SsdTestBlocks(SsdTestBlocks.SmallFp32);
        var clock = new ManualTimeProvider(DateTimeOffset.UnixEpoch.AddYears(55));
        var chain = t.MakeChain(32, 20);
        // Measure one file, then cap at 10 files.
        long fileSize;
        using (var probe = new SsdTestBlocks(t.Layout))
        using (var p = probe.Open())
        {
            probe.MakeChain(1, 1).EnqueueAll(p);
            p.WaitForWrites(TimeSpan.FromSeconds(10));
            fileSize = p.TotalBytes;
        }
        using var tier = new SsdKvTier(t.Options(maxBytes: fileSize * 10) with { Time = clock });
        for (int j = 0; j < 20; j++)
        {
            tier.TryEnqueueWrite(chain.Hashes[j], chain.Parent(j), chain.TokensOf(j).Span, chain.Bytes[j]);
            tier.WaitForWrites(TimeSpan.FromSeconds(10));
            clock.Advance(TimeSpan.FromMinutes(1));
            if (j == 5)
            {
                // Block 0 is read after block 5 was written: newer than blocks 1..5.
                await Assert.That(await chain.ReadAsync(tier, 0)).IsNotNull();
                clock.Advance(TimeSpan.FromMinutes(1));
            }
            await Assert.That(tier.TotalBytes).IsLessThanOrEqualTo(fileSize * 10);
        }
        await Assert.That(tier.BlocksWritten).IsEqualTo(20);
        await Assert.That(tier.PrunedBlocks).IsGreaterThan(0);
        // The newest written blocks survive; the oldest unread ones are gone; block 0 outlived blocks 1..5.
        await Assert.That(File.Exists(tier.BlockPath(chain.Hashes[19], chain.Hashes[18]))).IsTrue();
        await Assert.That(File.Exists(tier.BlockPath(chain.Hashes[1], chain.Hashes[0]))).IsFalse();
        int files = Directory.GetFiles(tier.Directory, "*.safetensors", SearchOption.AllDirectories).Length;
        await Assert.That(files).IsEqualTo(tier.BlockCount);
        await Assert.That((long)files * fileSize).IsLessThanOrEqualTo(fileSize * 10);
        bool zeroAlive = File.Exists(tier.BlockPath(chain.Hashes[0], default));
        bool fiveAlive = File.Exists(tier.BlockPath(chain.Hashes[5], chain.Hashes[4]));
        await Assert.That(zeroAlive || !fiveAlive).IsTrue();
    }
}
