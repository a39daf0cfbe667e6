using OnnxLm.Engine.Cache;
using OnnxLm.Engine.Cache.Ssd;

namespace OnnxLm.Tests.Cache.Ssd;

/// <summary>Every kind of bad file is detected on read, deleted, counted and never served.</summary>
public class SsdKvTierCorruptionTests
{
    /// <summary>Writes a 3-block chain, damages block 1's file with <paramref name="damage"/>, restarts, reads.</summary>
    static async Task AssertDetected(KvBlockLayout layout, Action<SsdTestBlocks, SsdKvTier, SsdTestBlocks.Chain, string> damage)
    {
        using var t = new SsdTestBlocks(layout);
        var chain = t.MakeChain(11, 3);
        string path;
        using (var tier = t.Open())
        {
            chain.EnqueueAll(tier);
            tier.WaitForWrites(TimeSpan.FromSeconds(10));
            path = tier.BlockPath(chain.Hashes[1], chain.Hashes[0]);
            damage(t, tier, chain, path);
        }
        using var again = t.Open();
        await again.Ready;
        var hashes = new UInt128[3];
        // The index still lists the block (it verifies on read, not at lookup).
        await Assert.That(again.LookupChain(chain.Tokens, 0, default, 3, hashes)).IsEqualTo(3);
        await Assert.That(await chain.ReadAsync(again, 1)).IsNull();
        await Assert.That(again.CorruptBlocks).IsEqualTo(1);
        await Assert.That(File.Exists(path)).IsFalse();
        await Assert.That(again.LookupChain(chain.Tokens, 0, default, 3, hashes)).IsEqualTo(1);
        // The neighbours are untouched.
        await Assert.That((await chain.ReadAsync(again, 0))!.AsSpan().SequenceEqual(chain.Bytes[0])).IsTrue();
        await Assert.That((await chain.ReadAsync(again, 2))!.AsSpan().SequenceEqual(chain.Bytes[2])).IsTrue();
    }

    static void Mutate(string path, Action<byte[]> change)
    {
        var b = File.ReadAllBytes(path);
        change(b);
        File.WriteAllBytes(path, b);
    }

    [Test]
    [Arguments(0)]
    [Arguments(7)]
    [Arguments(100)]
    [Arguments(-1)]
    public async Task Truncated_file_is_detected(int keep) =>
        await AssertDetected(SsdTestBlocks.SmallFp32, (_, _, _, path) =>
        {
            var b = File.ReadAllBytes(path);
            File.WriteAllBytes(path, b.AsSpan(0, keep >= 0 ? keep : b.Length - 1).ToArray());
        });

    [Test]
    [Arguments("fp32")]
    [Arguments("int8")]
    public async Task Flipped_payload_byte_is_detected(string kind) =>
        await AssertDetected(kind == "int8" ? SsdTestBlocks.SmallInt8 : SsdTestBlocks.SmallFp32,
            (_, _, _, path) => Mutate(path, b => b[^5] ^= 0x10));

    [Test]
    public async Task Flipped_header_byte_in_the_tokens_is_detected() =>
        await AssertDetected(SsdTestBlocks.SmallFp32, (_, _, chain, path) => Mutate(path, b =>
        {
            // Change one digit of the first token id to another digit: still valid JSON, still a number list.
            var text = System.Text.Encoding.ASCII.GetString(b);
            int at = text.IndexOf("\"tokens\":\"", StringComparison.Ordinal) + 10;
            b[at] = (byte)(b[at] == '1' ? '2' : '1');
        }));

    [Test]
    public async Task Flipped_header_byte_in_the_checksum_is_detected() =>
        await AssertDetected(SsdTestBlocks.SmallFp32, (_, _, _, path) => Mutate(path, b =>
        {
            var text = System.Text.Encoding.ASCII.GetString(b);
            int at = text.IndexOf("\"payload_xxh128\":\"", StringComparison.Ordinal) + 18;
            b[at] = (byte)(b[at] == (byte)'0' ? '1' : '0');   // still hex: the header parses, the payload check fails
        }));

    [Test]
    public async Task Flipped_header_byte_in_the_shape_is_detected() =>
        await AssertDetected(SsdTestBlocks.SmallFp32, (_, _, _, path) => Mutate(path, b =>
        {
            var text = System.Text.Encoding.ASCII.GetString(b);
            int at = text.IndexOf("\"shape\":[", StringComparison.Ordinal) + 9;
            b[at] = (byte)'3';   // [2,...] → [3,...]
        }));

    [Test]
    public async Task File_of_another_model_fingerprint_is_detected()
    {
        var other = new UInt128(1, 2);
        await AssertDetected(SsdTestBlocks.SmallFp32, (t, _, chain, path) =>
        {
            // The same block name (this model's chain hash) but written by another model's tier.
            using var foreign = new SsdTestBlocks(t.Layout, other);
            using (var tier = foreign.Open())
            {
                tier.TryEnqueueWrite(chain.Hashes[1], chain.Hashes[0], chain.TokensOf(1).Span, chain.Bytes[1]);
                tier.WaitForWrites(TimeSpan.FromSeconds(10));
                File.Copy(tier.BlockPath(chain.Hashes[1], chain.Hashes[0]), path, overwrite: true);
            }
        });
    }

    [Test]
    public async Task File_of_another_block_size_is_detected()
    {
        await AssertDetected(SsdTestBlocks.SmallFp32, (t, _, chain, path) =>
        {
            // Same model fingerprint and name, but a layout with 8-token blocks.
            var wide = t.Layout with { BlockSize = 8 };
            using var foreign = new SsdTestBlocks(wide, t.Fingerprint);
            using (var tier = foreign.Open())
            {
                var tokens = chain.Tokens.AsSpan(0, 8);
                tier.TryEnqueueWrite(chain.Hashes[1], chain.Hashes[0], tokens, new byte[wide.BlockBytes]);
                tier.WaitForWrites(TimeSpan.FromSeconds(10));
                File.Copy(tier.BlockPath(chain.Hashes[1], chain.Hashes[0]), path, overwrite: true);
            }
        });
    }

    [Test]
    [Arguments("fp32")]
    [Arguments("int8")]
    public async Task Any_single_header_byte_flip_is_rejected_or_describes_the_same_block(string kind)
    {
        var layout = kind == "int8" ? SsdTestBlocks.SmallInt8 : SsdTestBlocks.SmallFp32;
        using var t = new SsdTestBlocks(layout);
        var chain = t.MakeChain(12, 2);
        using var tier = t.Open();
        chain.EnqueueAll(tier);
        tier.WaitForWrites(TimeSpan.FromSeconds(10));
        var file = await File.ReadAllBytesAsync(tier.BlockPath(chain.Hashes[1], chain.Hashes[0]));
        int headerLength = (int)BitConverter.ToUInt64(file);
        string layoutText = KvBlockFile.LayoutText(layout);
        var tokens = chain.TokensOf(1).ToArray();
        await Assert.That(KvBlockFile.TryVerifyHeader(file.AsSpan(8, headerLength), layout, layoutText, t.Fingerprint, chain.Hashes[1], chain.Hashes[0], tokens, out var checksum)).IsTrue();
        string text = System.Text.Encoding.ASCII.GetString(file, 8, headerLength);
        int checksumAt = text.IndexOf("\"payload_xxh128\":\"", StringComparison.Ordinal) + 18;
        int accepted = 0;
        foreach (byte mask in new byte[] { 0x01, 0x20, 0x80 })
        {
            for (int i = 0; i < headerLength; i++)
            {
                var header = file.AsSpan(8, headerLength).ToArray();
                header[i] ^= mask;
                if (!KvBlockFile.TryVerifyHeader(header, layout, layoutText, t.Fingerprint, chain.Hashes[1], chain.Hashes[0], tokens, out var c)) continue;
                // Accepted only if it still names this block: the same checksum (a hex digit's case), or a flip inside the
                // checksum itself, which the payload check then rejects.
                accepted++;
                bool insideChecksum = i >= checksumAt && i < checksumAt + 32;
                await Assert.That(c == checksum || insideChecksum).IsTrue();
            }
        }
        // Almost every flip breaks the header; the few accepted are hex-case flips in the checksum-free places, or none.
        await Assert.That(accepted).IsLessThan(headerLength / 4);
    }
}
