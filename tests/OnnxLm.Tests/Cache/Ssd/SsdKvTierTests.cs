using OnnxLm.Engine.Cache;
using OnnxLm.Engine.Cache.Ssd;

namespace OnnxLm.Tests.Cache.Ssd;

/// <summary>Round trips through the disk, restarts, the index, chain lookups, the safetensors format and the bounded queue.</summary>
public class SsdKvTierTests
{
    static KvBlockLayout LayoutFor(string name) => name == "int8" ? SsdTestBlocks.SmallInt8 : SsdTestBlocks.SmallFp32;

    [Test]
    [Arguments("fp32")]
    [Arguments("int8")]
    public async Task Blocks_written_before_a_restart_read_back_byte_for_byte(string kind)
    {
        using var t = new SsdTestBlocks(LayoutFor(kind));
        var chain = t.MakeChain(1, 6);
        using (var tier = t.Open())
        {
            await Assert.That(tier.Mode).IsEqualTo(SsdTierMode.ReadWrite);
            await Assert.That(chain.EnqueueAll(tier)).IsEqualTo(6);
            await Assert.That(tier.WaitForWrites(TimeSpan.FromSeconds(10))).IsTrue();
            await Assert.That(tier.BlocksWritten).IsEqualTo(6);
        }
        using var again = t.Open();
        await again.Ready;
        var hashes = new UInt128[8];
        await Assert.That(again.LookupChain(chain.Tokens, 0, default, 8, hashes)).IsEqualTo(6);
        await Assert.That(hashes.AsSpan(0, 6).SequenceEqual(chain.Hashes)).IsTrue();
        for (int j = 0; j < 6; j++)
        {
            var back = await chain.ReadAsync(again, j);
            await Assert.That(back).IsNotNull();
            await Assert.That(back!.AsSpan().SequenceEqual(chain.Bytes[j])).IsTrue();
        }
        await Assert.That(again.CorruptBlocks).IsEqualTo(0);
        await Assert.That(again.BlocksRead).IsEqualTo(6);
    }

    [Test]
    public async Task Lookup_continues_from_a_ram_block_and_stops_at_the_first_missing_block()
    {
        using var t = new SsdTestBlocks(SsdTestBlocks.SmallFp32);
        var chain = t.MakeChain(2, 8);
        using var tier = t.Open();
        // Blocks 0-1 stay "in RAM", 2-5 go to disk, 6 is missing, 7 is on disk but unreachable past the gap.
        for (int j = 2; j < 8; j++)
            if (j != 6) tier.TryEnqueueWrite(chain.Hashes[j], chain.Parent(j), chain.TokensOf(j).Span, chain.Bytes[j]);
        tier.WaitForWrites(TimeSpan.FromSeconds(10));
        var hashes = new UInt128[8];
        await Assert.That(tier.LookupChain(chain.Tokens, 2, chain.Hashes[1], 8, hashes)).IsEqualTo(4);
        await Assert.That(hashes[3]).IsEqualTo(chain.Hashes[5]);
        // Capped by maxBlocks, by the prompt's whole blocks, and a wrong parent finds nothing.
        await Assert.That(tier.LookupChain(chain.Tokens, 2, chain.Hashes[1], 2, hashes)).IsEqualTo(2);
        await Assert.That(tier.LookupChain(chain.Tokens.AsSpan(0, 4 * 4 + 3), 2, chain.Hashes[1], 8, hashes)).IsEqualTo(2);
        await Assert.That(tier.LookupChain(chain.Tokens, 2, chain.Hashes[0], 8, hashes)).IsEqualTo(0);
        await Assert.That(tier.LookupChain(chain.Tokens, 0, default, 8, hashes)).IsEqualTo(0);
        // The parallel chain read returns the verified prefix.
        var staging = new byte[4 * t.Layout.BlockBytes];
        int read = await tier.ReadChainAsync(chain.Tokens, 2, chain.Hashes[1], chain.Hashes.AsMemory(2, 4), staging);
        await Assert.That(read).IsEqualTo(4);
        for (int j = 0; j < 4; j++)
            await Assert.That(staging.AsSpan(j * (int)t.Layout.BlockBytes, (int)t.Layout.BlockBytes).SequenceEqual(chain.Bytes[2 + j])).IsTrue();
    }

    [Test]
    public async Task Clean_shutdown_saves_an_index_and_a_crash_or_corrupt_index_is_rebuilt_by_scanning()
    {
        using var t = new SsdTestBlocks(SsdTestBlocks.SmallFp32);
        var chain = t.MakeChain(3, 10);
        string dir;
        using (var tier = t.Open())
        {
            dir = tier.Directory;
            await Assert.That(File.Exists(Path.Combine(dir, "dirty"))).IsTrue();
            chain.EnqueueAll(tier);
            tier.WaitForWrites(TimeSpan.FromSeconds(10));
        }
        await Assert.That(File.Exists(Path.Combine(dir, "index.bin"))).IsTrue();
        await Assert.That(File.Exists(Path.Combine(dir, "dirty"))).IsFalse();

        using (var tier = t.Open())
        {
            await tier.Ready;
            await Assert.That(tier.BlockCount).IsEqualTo(10);
        }

        // A corrupt index is ignored and the directory scanned.
        var index = await File.ReadAllBytesAsync(Path.Combine(dir, "index.bin"));
        index[40] ^= 0xFF;
        await File.WriteAllBytesAsync(Path.Combine(dir, "index.bin"), index);
        using (var tier = t.Open())
        {
            await tier.Ready;
            await Assert.That(tier.BlockCount).IsEqualTo(10);
            await Assert.That(await chain.ReadAsync(tier, 9)).IsNotNull();
        }

        // A stale index after a crash (dirty marker present): files it lacks are found, files it lists but gone are dropped.
        var extra = t.MakeChain(4, 3);
        var before = await File.ReadAllBytesAsync(Path.Combine(dir, "index.bin"));
        using (var tier = t.Open())
        {
            extra.EnqueueAll(tier);
            tier.WaitForWrites(TimeSpan.FromSeconds(10));
            File.Delete(tier.BlockPath(chain.Hashes[0], chain.Parent(0)));
        }
        // Simulate the crash: the last periodic index (without the 3 new blocks, with the deleted one) and the dirty marker.
        await File.WriteAllBytesAsync(Path.Combine(dir, "dirty"), []);
        await File.WriteAllBytesAsync(Path.Combine(dir, "index.bin"), before);
        using (var tier = t.Open())
        {
            await tier.Ready;
            await Assert.That(tier.BlockCount).IsEqualTo(12);
            await Assert.That(await extra.ReadAsync(tier, 2)).IsNotNull();
            var hashes = new UInt128[10];
            await Assert.That(tier.LookupChain(chain.Tokens, 0, default, 10, hashes)).IsEqualTo(0);
        }
    }

    [Test]
    [Arguments("fp32")]
    [Arguments("int8")]
    public async Task Files_are_valid_safetensors_for_an_independent_reader(string kind)
    {
        var layout = LayoutFor(kind);
        using var t = new SsdTestBlocks(layout);
        var chain = t.MakeChain(5, 2);
        string path;
        using (var tier = t.Open())
        {
            chain.EnqueueAll(tier);
            tier.WaitForWrites(TimeSpan.FromSeconds(10));
            path = tier.BlockPath(chain.Hashes[1], chain.Hashes[0]);
        }
        var (tensors, metadata) = MinimalSafetensorsReader.Read(await File.ReadAllBytesAsync(path));
        await Assert.That(metadata["block_hash"]).IsEqualTo(chain.Hashes[1].ToString("x32"));
        await Assert.That(metadata["parent_hash"]).IsEqualTo(chain.Hashes[0].ToString("x32"));
        await Assert.That(metadata["model_fingerprint"]).IsEqualTo(t.Fingerprint.ToString("x32"));
        await Assert.That(metadata["tokens"]).IsEqualTo(string.Join(",", chain.TokensOf(1).ToArray()));
        await Assert.That(metadata["format_version"]).IsEqualTo("1");
        await Assert.That(metadata["block_size"]).IsEqualTo("4");
        await Assert.That(metadata["payload_xxh128"].Length).IsEqualTo(32);
        var bytes = chain.Bytes[1];
        if (!layout.Quantized)
        {
            await Assert.That(tensors.Keys.Single()).IsEqualTo("kv");
            await Assert.That(tensors["kv"].Dtype).IsEqualTo("F32");
            await Assert.That(string.Join(",", tensors["kv"].Shape)).IsEqualTo("2,2,2,4,8");
            await Assert.That(tensors["kv"].Data.AsSpan().SequenceEqual(bytes)).IsTrue();
            return;
        }
        // Int8: the pool interleaves values and scales per slab; the file holds them as two tensors.
        await Assert.That(tensors["kv_values"].Dtype).IsEqualTo("I8");
        await Assert.That(string.Join(",", tensors["kv_values"].Shape)).IsEqualTo("2,2,2,4,8");
        await Assert.That(tensors["kv_scales"].Dtype).IsEqualTo("F32");
        await Assert.That(string.Join(",", tensors["kv_scales"].Shape)).IsEqualTo("2,2,2,4");
        for (int s = 0; s < layout.Slabs; s++)
        {
            var slab = bytes.AsMemory(s * layout.SlabBytes, layout.SlabBytes);
            await Assert.That(tensors["kv_values"].Data.AsSpan(s * layout.SlabValues, layout.SlabValues).SequenceEqual(slab.Span[..layout.SlabValues])).IsTrue();
            await Assert.That(tensors["kv_scales"].Data.AsSpan(s * 4 * layout.GroupsPerSlab, 4 * layout.GroupsPerSlab).SequenceEqual(slab.Span[layout.SlabValues..])).IsTrue();
        }
    }

    [Test]
    public async Task A_full_write_queue_drops_blocks_instead_of_blocking_the_caller()
    {
        using var t = new SsdTestBlocks(SsdTestBlocks.SmallFp32);
        var fs = new FaultyFileSystem();
        var chain = t.MakeChain(6, 10);
        using var tier = new SsdKvTier(t.Options() with { WriteQueueDepth = 2 }, fs);
        await tier.Ready;
        fs.WriteGate = new ManualResetEventSlim(false);   // a disk that does not finish any write for now
        var started = System.Diagnostics.Stopwatch.StartNew();
        int accepted = chain.EnqueueAll(tier);
        await Assert.That(started.ElapsedMilliseconds).IsLessThan(1000);
        await Assert.That(accepted).IsEqualTo(2);
        await Assert.That(tier.WritesDropped).IsEqualTo(8);
        // Re-offering a queued block is not a second write.
        await Assert.That(tier.TryEnqueueWrite(chain.Hashes[0], default, chain.TokensOf(0).Span, chain.Bytes[0])).IsTrue();
        fs.WriteGate.Set();
        await Assert.That(tier.WaitForWrites(TimeSpan.FromSeconds(10))).IsTrue();
        await Assert.That(tier.BlocksWritten).IsEqualTo(2);
        await Assert.That(await chain.ReadAsync(tier, 1)).IsNotNull();
    }
}
