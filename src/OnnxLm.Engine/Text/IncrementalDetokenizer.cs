using System.Buffers;
using System.Text;

namespace OnnxLm.Engine.Text;

/// <summary>
/// Turns a stream of token ids into a stream of valid UTF-8, one request at a time (reuse it with <see cref="Reset"/>).
/// Invariant: the concatenation of everything returned by <see cref="TakeCompleted"/> and <see cref="Flush"/> equals
/// Python's <c>b"".join(token_bytes).decode("utf-8", errors="replace")</c> (which is also what HF's byte-level
/// <c>decode</c> does): each maximal invalid subpart becomes one U+FFFD, and an incomplete sequence at the end is held
/// back (at most 3 bytes) until the next token completes it, or replaced by one U+FFFD at <see cref="Flush"/>.
/// The decoder's rules for the start of a sequence apply to the first token that is not skipped: Strip removes one
/// leading space of the text, Metaspace drops the first token's replacement characters
/// (<see cref="TokenVocabulary.GetFirstTokenBytes"/>). So the text is HF's <c>decode(ids, skip_special_tokens)</c> (see
/// <c>tests/OnnxLm.Tests/Text/RealTokenizerTests.cs</c> for the comparison and the documented differences).
/// Buffers only grow (doubling), so after warm-up no call allocates.
/// </summary>
public sealed class IncrementalDetokenizer
{
    private static ReadOnlySpan<byte> ReplacementCharacter => [0xEF, 0xBF, 0xBD];

    private readonly TokenVocabulary vocabulary;
    private byte[] pending;
    private int pendingLength;
    private byte[] output;
    // True until the first token after Reset: Metaspace decodes it differently.
    private bool atFirstToken = true;
    // True until the first byte after Reset: the SentencePiece Strip decoder removes one leading space of the sequence.
    private bool atStart = true;

    public IncrementalDetokenizer(TokenVocabulary vocabulary, int initialCapacity = 64)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        ArgumentOutOfRangeException.ThrowIfLessThan(initialCapacity, 4);
        this.vocabulary = vocabulary;
        pending = new byte[initialCapacity];
        output = new byte[initialCapacity * 3];
    }

    public TokenVocabulary Vocabulary => vocabulary;

    /// <summary>Bytes appended but not yet returned (an incomplete UTF-8 tail, or text not yet taken).</summary>
    public int PendingByteCount => pendingLength;

    /// <summary>Starts a new sequence: drops pending bytes and re-arms the leading-space strip.</summary>
    public void Reset()
    {
        pendingLength = 0;
        atFirstToken = true;
        atStart = true;
    }

    /// <summary>
    /// Appends the bytes of <paramref name="tokenId"/>. Special tokens are skipped when <paramref name="skipSpecial"/>;
    /// ids the file does not define (a model whose logits are wider than its tokenizer) decode to nothing, as in HF.
    /// </summary>
    public void Append(int tokenId, bool skipSpecial)
    {
        if (!vocabulary.IsDefined(tokenId) || (skipSpecial && vocabulary.IsSpecial(tokenId)))
        {
            return;
        }
        ReadOnlySpan<byte> bytes;
        if (atFirstToken)
        {
            atFirstToken = false;
            bytes = vocabulary.GetFirstTokenBytes(tokenId);
        }
        else
        {
            bytes = vocabulary.GetBytes(tokenId);
        }
        if (bytes.IsEmpty)
        {
            return;
        }
        if (atStart)
        {
            atStart = false;
            if (vocabulary.StripsLeadingSpace && bytes[0] == (byte)' ')
            {
                bytes = bytes[1..];
            }
        }
        int needed = pendingLength + bytes.Length;
        if (needed > pending.Length)
        {
            Array.Resize(ref pending, Math.Max(needed, pending.Length * 2));
        }
        bytes.CopyTo(pending.AsSpan(pendingLength));
        pendingLength = needed;
    }

    /// <summary>
    /// The text completed since the last take: the longest prefix of the pending bytes that does not end inside a
    /// UTF-8 sequence that could still complete, with invalid sequences replaced. Valid until the next call.
    /// </summary>
    public ReadOnlySpan<byte> TakeCompleted() => Decode(final: false);

    /// <summary>End of sequence: like <see cref="TakeCompleted"/>, but an incomplete tail becomes U+FFFD.</summary>
    public ReadOnlySpan<byte> Flush() => Decode(final: true);

    private ReadOnlySpan<byte> Decode(bool final)
    {
        ReadOnlySpan<byte> source = pending.AsSpan(0, pendingLength);
        // Worst case every byte is invalid and becomes three.
        int capacity = source.Length * 3;
        if (capacity > this.output.Length)
        {
            this.output = new byte[Math.Max(capacity, this.output.Length * 2)];
        }
        Span<byte> output = this.output;
        int read = 0;
        int written = 0;
        while (read < source.Length)
        {
            // Most text is ASCII: copy runs of it without decoding.
            ReadOnlySpan<byte> rest = source[read..];
            int ascii = rest.IndexOfAnyExceptInRange((byte)0, (byte)0x7F);
            if (ascii < 0)
            {
                ascii = rest.Length;
            }
            rest[..ascii].CopyTo(output[written..]);
            read += ascii;
            written += ascii;
            if (read == source.Length)
            {
                break;
            }
            // Rune.DecodeFromUtf8 reports the maximal invalid subpart (Unicode's recommended practice), which is what
            // Python's errors="replace" and Rust's from_utf8_lossy replace with one U+FFFD each.
            OperationStatus status = Rune.DecodeFromUtf8(source[read..], out _, out int consumed);
            if (status == OperationStatus.Done)
            {
                source.Slice(read, consumed).CopyTo(output[written..]);
                written += consumed;
            }
            else if (status == OperationStatus.NeedMoreData && !final)
            {
                break; // A valid but unfinished sequence at the end: the next token may complete it.
            }
            else
            {
                ReplacementCharacter.CopyTo(output[written..]);
                written += ReplacementCharacter.Length;
            }
            read += consumed;
        }
        // Keep the held-back tail (at most 3 bytes) at the front for the next token.
        int tail = source.Length - read;
        if (tail > 0)
        {
            source[read..].CopyTo(pending);
        }
        pendingLength = tail;
        return output[..written];
    }
}
