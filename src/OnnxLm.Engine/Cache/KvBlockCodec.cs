using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text.Json;

namespace OnnxLm.Engine.Cache;

/// <summary>
/// Encodes and verifies one KV block as the bytes of a <see cref="KvBlockFile"/>: the SSD tier writes them as a file, the
/// remote tier as one Redis value, so a block moves between tiers and machines byte for byte. Verification accepts a value
/// only if its length, its header (hash, parent, tokens, fingerprint, layout, version) and its payload checksum all match
/// what the caller expects. Invariant: the encoding methods reuse one header buffer (one writer thread per codec); the
/// verification methods touch no mutable state and may run on any thread.
/// </summary>
internal sealed class KvBlockCodec(KvBlockLayout layout, UInt128 fingerprint) : IDisposable
{
    readonly ArrayBufferWriter<byte> header = new(1024), json = new(1024);
    Utf8JsonWriter? jsonWriter;

    public KvBlockLayout Layout { get; } = layout;
    public UInt128 Fingerprint { get; } = fingerprint;
    public string LayoutText { get; } = KvBlockFile.LayoutText(layout);
    /// <summary>Payload bytes of one block (the pool's block size).</summary>
    public int BlockBytes { get; } = checked((int)layout.BlockBytes);

    /// <summary>
    /// The header (length prefix, JSON, padding) of a block whose payload, in file order, is <paramref name="filePayload"/>;
    /// valid until the next call. The payload follows it directly.
    /// </summary>
    public ReadOnlySpan<byte> Header(UInt128 hash, UInt128 parent, ReadOnlySpan<int> tokens, ReadOnlySpan<byte> filePayload)
    {
        UInt128 checksum = XxHash128.HashToUInt128(filePayload);
        KvBlockFile.WriteHeader(header, json, ref jsonWriter, Layout, LayoutText, Fingerprint, hash, parent, tokens, checksum);
        return header.WrittenSpan;
    }

    /// <summary>The whole value (header then payload) in a new array: what the remote tier stores under the block's key.</summary>
    public byte[] Encode(UInt128 hash, UInt128 parent, ReadOnlySpan<int> tokens, ReadOnlySpan<byte> filePayload)
    {
        var head = Header(hash, parent, tokens, filePayload);
        var value = GC.AllocateUninitializedArray<byte>(head.Length + filePayload.Length);
        head.CopyTo(value);
        filePayload.CopyTo(value.AsSpan(head.Length));
        return value;
    }

    /// <summary>
    /// From the first bytes of a value (at least 8) and its total length: where the payload starts. False when the
    /// declared header length cannot be right (too long, or header plus one block's payload is not the value's length):
    /// a truncated or padded value, or one of another block size, fails before any parsing.
    /// </summary>
    public bool TryPayloadOffset(ReadOnlySpan<byte> head, long valueLength, out long payloadOffset)
    {
        payloadOffset = 0;
        if (head.Length < 8) return false;
        ulong declared = BinaryPrimitives.ReadUInt64LittleEndian(head);
        if (declared > KvBlockFile.MaxHeaderBytes) return false;
        payloadOffset = 8 + (long)declared;
        return payloadOffset + BlockBytes == valueLength;
    }

    /// <summary>Checks a header (the JSON after the length prefix) against the expected block; returns the declared checksum.</summary>
    public bool TryVerifyHeader(ReadOnlySpan<byte> headerJson, UInt128 hash, UInt128 parent, ReadOnlySpan<int> tokens, out UInt128 checksum) =>
        KvBlockFile.TryVerifyHeader(headerJson, Layout, LayoutText, Fingerprint, hash, parent, tokens, out checksum);

    /// <summary>
    /// Verifies a whole value (length, header, checksum) as block <paramref name="hash"/> with <paramref name="parent"/> and
    /// <paramref name="tokens"/> of this model, and copies its payload into <paramref name="poolDestination"/> in the pool's
    /// layout. False on any mismatch; the destination is then untouched.
    /// </summary>
    public bool TryDecode(ReadOnlySpan<byte> value, UInt128 hash, UInt128 parent, ReadOnlySpan<int> tokens, Span<byte> poolDestination)
    {
        if (!TryPayloadOffset(value, value.Length, out long offset)
            || !TryVerifyHeader(value[8..(int)offset], hash, parent, tokens, out UInt128 checksum))
            return false;
        var payload = value[(int)offset..];
        if (XxHash128.HashToUInt128(payload) != checksum) return false;
        KvBlockFile.ToPoolOrder(Layout, payload, poolDestination);
        return true;
    }

    public void Dispose() => jsonWriter?.Dispose();
}
