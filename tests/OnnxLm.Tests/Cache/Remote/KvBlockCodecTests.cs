using OnnxLm.Engine.Cache;
using OnnxLm.Tests.Cache.Ssd;

namespace OnnxLm.Tests.Cache.Remote;

/// <summary><see cref="KvBlockCodec"/>: a value decodes to the block it encoded (int8 blocks back in pool order), and a
/// value is refused for any other hash, parent, tokens, fingerprint or layout, or with any byte changed.</summary>
public class KvBlockCodecTests
{
    [Test]
    [Arguments(false)]
    [Arguments(true)]
    public async Task A_value_decodes_to_its_block_and_to_nothing_else(bool int8)
    {
        using var t = new SsdTestBlocks(int8 ? SsdTestBlocks.SmallInt8 : SsdTestBlocks.SmallFp32);
        var chain = t.MakeChain(seed: 9, count: 2);
        using var codec = new KvBlockCodec(t.Layout, t.Fingerprint);
        var file = new byte[t.Layout.BlockBytes];
        KvBlockFile.ToFileOrder(t.Layout, chain.Bytes[1], file);
        byte[] value = codec.Encode(chain.Hashes[1], chain.Hashes[0], chain.TokensOf(1).Span, file);
        var pool = new byte[t.Layout.BlockBytes];
        await Assert.That(codec.TryDecode(value, chain.Hashes[1], chain.Hashes[0], chain.TokensOf(1).Span, pool)).IsTrue();
        await Assert.That(pool.AsSpan().SequenceEqual(chain.Bytes[1])).IsTrue();

        var tokens = chain.TokensOf(1).ToArray();
        tokens[^1]++;
        await Assert.That(codec.TryDecode(value, chain.Hashes[0], chain.Hashes[0], chain.TokensOf(1).Span, pool)).IsFalse();
        await Assert.That(codec.TryDecode(value, chain.Hashes[1], default, chain.TokensOf(1).Span, pool)).IsFalse();
        await Assert.That(codec.TryDecode(value, chain.Hashes[1], chain.Hashes[0], tokens, pool)).IsFalse();
        using var otherModel = new KvBlockCodec(t.Layout, t.Fingerprint + 1);
        await Assert.That(otherModel.TryDecode(value, chain.Hashes[1], chain.Hashes[0], chain.TokensOf(1).Span, pool)).IsFalse();
        await Assert.That(codec.TryDecode(value.AsSpan(0, value.Length - 1), chain.Hashes[1], chain.Hashes[0], chain.TokensOf(1).Span, pool)).IsFalse();

        // Every single flipped byte (header or payload) is refused.
        for (int i = 0; i < value.Length; i += Math.Max(1, value.Length / 200))
        {
            value[i] ^= 0x04;
            bool accepted = codec.TryDecode(value, chain.Hashes[1], chain.Hashes[0], chain.TokensOf(1).Span, pool);
            value[i] ^= 0x04;
            // Header padding is spaces the JSON reader skips: a flipped space may still parse; anything else must not.
            if (accepted) await Assert.That(value[i]).IsEqualTo((byte)' ').Because($"byte {i} changed and was accepted");
        }
    }
}
