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

    private readonly TokenVocabulary _vocabulary;
    private byte[] _pending;
    private int _pendingLength;
    private byte[] _output;
    // True until the first token after Reset: Metaspace decodes it differently.
    private bool _atFirstToken = true;
    // True until the first byte after Reset: the SentencePiece Strip decoder removes one leading space of the sequence.
    private bool _atStart = true;

    public IncrementalDetokenizer(TokenVocabulary vocabulary, int initialCapacity = 64)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        ArgumentOutOfRangeException.ThrowIfLessThan(initialCapacity, 4);
        _vocabulary = vocabulary;
        _pending = new byte[initialCapacity];
        _output = new byte[initialCapacity * 3];
    }

    public TokenVocabulary Vocabulary => _vocabulary;

    /// <summary>Bytes appended but not yet returned (an incomplete UTF-8 tail, or text not yet taken).</summary>
    public int PendingByteCount => _pendingLength;

    /// <summary>Starts a new sequence: drops pending bytes and re-arms the leading-space strip.</summary>
    public void Reset()
    {
        _pendingLength = 0;
        _atFirstToken = true;
        _atStart = true;
    }

    /// <summary>
    /// Appends the bytes of <paramref name="tokenId"/>. Special tokens are skipped when <paramref name="skipSpecial"/>;
    /// ids the file does not define (a model whose logits are wider than its tokenizer) decode to nothing, as in HF.
    /// </summary>
    public void Append(int tokenId, bool skipSpecial)
    {
        if (!_vocabulary.IsDefined(tokenId) || (skipSpecial && _vocabulary.IsSpecial(tokenId)))
        {
            return;
        }
        ReadOnlySpan<byte> bytes;
        if (_atFirstToken)
        {
            _atFirstToken = false;
            bytes = _vocabulary.GetFirstTokenBytes(tokenId);
        }
        else
        {
            bytes = _vocabulary.GetBytes(tokenId);
        }
        if (bytes.IsEmpty)
        {
            return;
        }
        if (_atStart)
        {
            _atStart = false;
            if (_vocabulary.StripsLeadingSpace && bytes[0] == (byte)' ')
            {
                bytes = bytes[1..];
            }
        }
        int needed = _pendingLength + bytes.Length;
        if (needed > _pending.Length)
        {
            Array.Resize(ref _pending, Math.Max(needed, _pending.Length * 2));
        }
        bytes.CopyTo(_pending.AsSpan(_pendingLength));
        _pendingLength = needed;
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
        ReadOnlySpan<byte> source = _pending.AsSpan(0, _pendingLength);
        // Worst case every byte is invalid and becomes three.
        int capacity = source.Length * 3;
        if (capacity > _output.Length)
        {
            _output = new byte[Math.Max(capacity, _output.Length * 2)];
        }
        Span<byte> output = _output;
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
            source[read..].CopyTo(_pending);
        }
        _pendingLength = tail;
        return output[..written];
    }
}
