using System.Text;
using OnnxLm.Engine.Text;

namespace OnnxLm.Tests.Text;

public class IncrementalDetokenizerTests
{
    private static readonly TokenVocabulary ByteLevel =
        TokenVocabulary.Load(TokenizerFiles.WriteByteLevel(TokenizerFiles.NewTempDirectory()));
    private static readonly TokenVocabulary SentencePiece =
        TokenVocabulary.Load(TokenizerFiles.WriteSentencePiece(TokenizerFiles.NewTempDirectory()));

    /// <summary>Appends each token and takes after each one; returns the pieces (the final one from Flush).</summary>
    private static List<byte[]> Stream(IncrementalDetokenizer detokenizer, IEnumerable<int> tokens, bool skipSpecial = true)
    {
        var pieces = new List<byte[]>();
        foreach (int token in tokens)
        {
            detokenizer.Append(token, skipSpecial);
            pieces.Add(detokenizer.TakeCompleted().ToArray());
        }
        pieces.Add(detokenizer.Flush().ToArray());
        return pieces;
    }

    private static string Text(List<byte[]> pieces) => Encoding.UTF8.GetString([.. pieces.SelectMany(p => p)]);

    [Test]
    public async Task Multibyte_characters_split_across_tokens_arrive_whole_and_in_order()
    {
        var detokenizer = new IncrementalDetokenizer(ByteLevel);
        int[] tokens =
        [
            'a', TokenizerFiles.EuroHead, 0xAC, // € = E2 82 | AC
            TokenizerFiles.SmileHead, TokenizerFiles.SmileTail, // 🙂 = F0 9F | 99 82
            0xC3, 0xA9, // é one byte per token
            TokenizerFiles.CjkLead, TokenizerFiles.CjkTail, // 中 = E4 | B8 AD
            TokenizerFiles.EAcute, 'z',
        ];

        var pieces = Stream(detokenizer, tokens);

        string[] expected = ["a", "", "€", "", "🙂", "", "é", "", "中", "é", "z", ""];
        await Assert.That(pieces.Select(p => Encoding.UTF8.GetString(p)).ToArray()).IsEquivalentTo(expected);
    }

    [Test]
    public async Task Incomplete_sequence_is_held_until_completed()
    {
        var detokenizer = new IncrementalDetokenizer(ByteLevel);

        detokenizer.Append(0xF0, skipSpecial: true);
        await Assert.That(detokenizer.TakeCompleted().Length).IsEqualTo(0);
        detokenizer.Append(0x9F, skipSpecial: true);
        detokenizer.Append(0x99, skipSpecial: true);
        await Assert.That(detokenizer.TakeCompleted().Length).IsEqualTo(0);
        await Assert.That(detokenizer.PendingByteCount).IsEqualTo(3);
        detokenizer.Append(0x82, skipSpecial: true);
        await Assert.That(Encoding.UTF8.GetString(detokenizer.TakeCompleted())).IsEqualTo("🙂");
        await Assert.That(detokenizer.PendingByteCount).IsEqualTo(0);
    }

    // Expected outputs are Python's bytes.decode("utf-8", errors="replace"), re-encoded to UTF-8.
    [Test]
    [Arguments("80", "EF BF BD")]                                   // lone continuation byte
    [Arguments("41 80 42", "41 EF BF BD 42")]
    [Arguments("E2 82 41", "EF BF BD 41")]                          // truncated 3-byte sequence, then ASCII
    [Arguments("E2 41 82", "EF BF BD 41 EF BF BD")]
    [Arguments("C0 80", "EF BF BD EF BF BD")]                       // overlong 2-byte
    [Arguments("C1 BF", "EF BF BD EF BF BD")]
    [Arguments("E0 80 80", "EF BF BD EF BF BD EF BF BD")]           // overlong 3-byte
    [Arguments("F5 41", "EF BF BD 41")]                             // F5+ never starts a sequence
    [Arguments("FF", "EF BF BD")]
    [Arguments("F8 88 80 80 80", "EF BF BD EF BF BD EF BF BD EF BF BD EF BF BD")]
    [Arguments("ED A0 80", "EF BF BD EF BF BD EF BF BD")]           // surrogate U+D800
    [Arguments("ED 9F BF", "ED 9F BF")]                             // U+D7FF is fine
    [Arguments("F4 90 80 80", "EF BF BD EF BF BD EF BF BD EF BF BD")] // above U+10FFFF
    [Arguments("F0 9F 99", "EF BF BD")]                             // incomplete at the end: one U+FFFD
    [Arguments("C3 A9 80", "C3 A9 EF BF BD")]
    [Arguments("F0 9F 99 82 9F", "F0 9F 99 82 EF BF BD")]
    [Arguments("E2 82 E2 82 AC", "EF BF BD E2 82 AC")]              // a new lead byte ends the old sequence
    public async Task Invalid_utf8_becomes_U_FFFD_like_python_errors_replace(string input, string expected)
    {
        byte[] bytes = Convert.FromHexString(input.Replace(" ", ""));
        byte[] want = Convert.FromHexString(expected.Replace(" ", ""));
        var detokenizer = new IncrementalDetokenizer(ByteLevel);

        // One byte per token, taking after each: the streaming path.
        byte[] streamed = [.. Stream(detokenizer, bytes.Select(b => (int)b)).SelectMany(p => p)];
        // All bytes before a single take: the one-shot path.
        detokenizer.Reset();
        foreach (byte b in bytes) detokenizer.Append(b, skipSpecial: true);
        byte[] oneShot = [.. detokenizer.TakeCompleted().ToArray(), .. detokenizer.Flush().ToArray()];

        await Assert.That(Convert.ToHexString(streamed)).IsEqualTo(Convert.ToHexString(want));
        await Assert.That(Convert.ToHexString(oneShot)).IsEqualTo(Convert.ToHexString(want));
    }

    [Test]
    public async Task Sequence_that_cannot_complete_is_replaced_without_waiting()
    {
        var detokenizer = new IncrementalDetokenizer(ByteLevel);

        detokenizer.Append(TokenizerFiles.EuroHead, skipSpecial: true); // E2 82: could still become €
        await Assert.That(detokenizer.TakeCompleted().Length).IsEqualTo(0);
        detokenizer.Append('A', skipSpecial: true); // now it cannot
        await Assert.That(Convert.ToHexString(detokenizer.TakeCompleted())).IsEqualTo("EFBFBD41");
    }

    [Test]
    public async Task Streaming_equals_one_shot_decoding_for_random_token_sequences()
    {
        var random = new Random(1234);
        var detokenizer = new IncrementalDetokenizer(ByteLevel, initialCapacity: 4);
        // Bias towards the partial-UTF-8 and continuation-byte tokens so sequences split and break often.
        int[] interesting =
        [
            TokenizerFiles.EAcute, TokenizerFiles.EuroHead, TokenizerFiles.SmileHead, TokenizerFiles.SmileTail,
            TokenizerFiles.CjkLead, TokenizerFiles.CjkTail, TokenizerFiles.SpaceHello, 0xAC, 0x80, 0x99, 0x82, 0xE2,
            0xF0, 0xC3, 0xA9, 0xED, 0xA0, 0xC0, 0xF5, 'x', TokenizerFiles.ImEnd, TokenizerFiles.Tool, 290,
        ];
        for (int trial = 0; trial < 500; trial++)
        {
            detokenizer.Reset();
            var tokens = new int[random.Next(0, 40)];
            for (int i = 0; i < tokens.Length; i++)
            {
                tokens[i] = random.Next(3) == 0 ? random.Next(ByteLevel.Count) : interesting[random.Next(interesting.Length)];
            }
            var streamed = new List<byte>();
            foreach (int token in tokens)
            {
                detokenizer.Append(token, skipSpecial: false);
                if (random.Next(2) == 0) streamed.AddRange(detokenizer.TakeCompleted().ToArray()); // take at random points
            }
            streamed.AddRange(detokenizer.Flush().ToArray());

            // Oracle: concatenate all token bytes, decode once with .NET's replacing decoder (maximal subparts, like Python).
            byte[] all = [.. tokens.SelectMany(t => ByteLevel.GetBytes(t).ToArray())];
            byte[] expected = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(all));
            await Assert.That(Convert.ToHexString([.. streamed])).IsEqualTo(Convert.ToHexString(expected));
        }
    }

    [Test]
    public async Task Special_tokens_are_skipped_only_when_asked()
    {
        var detokenizer = new IncrementalDetokenizer(ByteLevel);
        int[] tokens = ['h', 'i', TokenizerFiles.ImEnd, TokenizerFiles.Tool];

        string skipped = Text(Stream(detokenizer, tokens, skipSpecial: true));
        detokenizer.Reset();
        string kept = Text(Stream(detokenizer, tokens, skipSpecial: false));

        await Assert.That(skipped).IsEqualTo("hi<tool>");
        await Assert.That(kept).IsEqualTo("hi<|im_end|><tool>");
    }

    [Test]
    public async Task Ids_outside_the_vocabulary_decode_to_nothing()
    {
        var detokenizer = new IncrementalDetokenizer(ByteLevel);

        await Assert.That(Text(Stream(detokenizer, ['a', ByteLevel.Count, -1, 50_000, 'b']))).IsEqualTo("ab");
    }

    [Test]
    public async Task SentencePiece_strips_one_leading_space_from_the_first_token_only()
    {
        var detokenizer = new IncrementalDetokenizer(SentencePiece);
        int[] tokens = [TokenizerFiles.SpBos, TokenizerFiles.SpHello, TokenizerFiles.SpWorld, TokenizerFiles.SpEos];

        var pieces = Stream(detokenizer, tokens, skipSpecial: true);
        string[] expected = ["", "Hello", " world", "", ""];
        await Assert.That(pieces.Select(p => Encoding.UTF8.GetString(p)).ToArray()).IsEquivalentTo(expected);

        detokenizer.Reset(); // re-arms the strip
        await Assert.That(Text(Stream(detokenizer, [TokenizerFiles.SpSpace, TokenizerFiles.SpSpace, TokenizerFiles.SpWorld])))
            .IsEqualTo("  world");
    }

    [Test]
    public async Task Byte_level_keeps_the_leading_space()
    {
        var detokenizer = new IncrementalDetokenizer(ByteLevel);

        await Assert.That(Text(Stream(detokenizer, [TokenizerFiles.SpaceHello, TokenizerFiles.SpaceHello]))).IsEqualTo(" hello hello");
    }

    [Test]
    public async Task SentencePiece_byte_fallback_tokens_join_into_characters()
    {
        var detokenizer = new IncrementalDetokenizer(SentencePiece);
        int b = TokenizerFiles.SpByte0;
        // "▁Hello" "<0xE2>" "<0x82>" "<0xAC>" "é" "<0xF0>" "<0x9F>" "<0x99>" "<0x82>" "<0xE4>"  (last one truncated)
        int[] tokens = [TokenizerFiles.SpHello, b + 0xE2, b + 0x82, b + 0xAC, TokenizerFiles.SpEAcute, b + 0xF0, b + 0x9F, b + 0x99, b + 0x82, b + 0xE4];

        var pieces = Stream(detokenizer, tokens);

        string[] expected = ["Hello", "", "", "€", "é", "", "", "", "🙂", "", "\uFFFD"];
        await Assert.That(pieces.Select(p => Encoding.UTF8.GetString(p)).ToArray()).IsEquivalentTo(expected);
    }

    [Test]
    public async Task Append_and_TakeCompleted_do_not_allocate_in_steady_state()
    {
        var detokenizer = new IncrementalDetokenizer(ByteLevel);
        int[] tokens =
        [
            TokenizerFiles.SpaceHello, TokenizerFiles.EuroHead, 0xAC, TokenizerFiles.SmileHead, TokenizerFiles.SmileTail,
            0x80, TokenizerFiles.CjkLead, TokenizerFiles.CjkTail, TokenizerFiles.ImEnd, 'x', 0xC0,
        ];
        Run(detokenizer, tokens, 2_000); // warm-up: buffers reach their size, methods get jitted

        long allocated = Run(detokenizer, tokens, 20_000);

        await Assert.That(allocated).IsEqualTo(0L);
    }

    private static long Run(IncrementalDetokenizer detokenizer, int[] tokens, int iterations)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        long total = 0;
        for (int i = 0; i < iterations; i++)
        {
            if (i % 100 == 0)
            {
                total += detokenizer.Flush().Length;
                detokenizer.Reset();
            }
            detokenizer.Append(tokens[i % tokens.Length], skipSpecial: (i & 1) == 0);
            total += detokenizer.TakeCompleted().Length;
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        GC.KeepAlive(total);
        return allocated;
    }
}
