using System.Buffers;
using System.IO.Hashing;
using Microsoft.Win32.SafeHandles;

namespace OnnxLm.Engine.Cache.Ssd;

/// <summary>
/// Reads one block file and verifies it as it goes: the length first (a truncated or padded file, or one of another
/// block size, fails before any parsing), then the header against the expected block (<see cref="KvBlockCodec"/>), then
/// the payload's checksum. A lossless payload is read straight into the destination; an int8 one through a pooled
/// scratch buffer and back into pool order. Invariant: only <see cref="Outcome.Ok"/> leaves a usable destination; the
/// caller owns the index and counts what the outcome means.
/// </summary>
internal static class SsdBlockReader
{
    public enum Outcome
    {
        Ok,
        /// <summary>No such file (pruned, deleted) or an I/O error: a miss.</summary>
        Missing,
        /// <summary>The file exists and fails verification.</summary>
        Corrupt,
    }

    /// <summary>Reads and verifies <paramref name="path"/> as block <paramref name="hash"/>; returns the outcome and the
    /// file's length.</summary>
    public static async ValueTask<(Outcome Result, long Length)> ReadAsync(ISsdFileSystem fs, string path, KvBlockCodec codec, UInt128 hash,
        UInt128 parent, ReadOnlyMemory<int> tokens, Memory<byte> destination)
    {
        int blockBytes = codec.BlockBytes;
        var layout = codec.Layout;
        byte[]? head = null, scratch = null;
        bool corrupt;
        long fileLength = 0;
        try
        {
            using var handle = fs.OpenRead(path);
            fileLength = RandomAccess.GetLength(handle);
            head = ArrayPool<byte>.Shared.Rent(4096);
            int got = await ReadFullyAsync(handle, head.AsMemory(0, (int)Math.Min(head.Length, fileLength)), 0).ConfigureAwait(false);
            corrupt = !codec.TryPayloadOffset(head.AsSpan(0, got), fileLength, out long payloadOffset);
            if (!corrupt && payloadOffset > got)
            {
                ArrayPool<byte>.Shared.Return(head);
                head = null;
                head = ArrayPool<byte>.Shared.Rent((int)payloadOffset);
                got = await ReadFullyAsync(handle, head.AsMemory(0, (int)payloadOffset), 0).ConfigureAwait(false);
                corrupt = got != payloadOffset;
            }
            UInt128 checksum = default;
            corrupt = corrupt || !codec.TryVerifyHeader(head.AsSpan(8, (int)payloadOffset - 8), hash, parent, tokens.Span, out checksum);
            if (!corrupt)
            {
                Memory<byte> payload = layout.Quantized
                    ? (scratch = ArrayPool<byte>.Shared.Rent(blockBytes)).AsMemory(0, blockBytes)
                    : destination;
                corrupt = await ReadFullyAsync(handle, payload, payloadOffset).ConfigureAwait(false) != blockBytes
                    || XxHash128.HashToUInt128(payload.Span) != checksum;
                if (!corrupt && layout.Quantized) KvBlockFile.ToPoolOrder(layout, payload.Span, destination.Span);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (Outcome.Missing, 0);
        }
        finally
        {
            if (head is not null) ArrayPool<byte>.Shared.Return(head);
            if (scratch is not null) ArrayPool<byte>.Shared.Return(scratch);
        }
        return (corrupt ? Outcome.Corrupt : Outcome.Ok, fileLength);
    }

    static async ValueTask<int> ReadFullyAsync(SafeFileHandle handle, Memory<byte> buffer, long offset)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = await RandomAccess.ReadAsync(handle, buffer[total..], offset + total).ConfigureAwait(false);
            if (n == 0) break;
            total += n;
        }
        return total;
    }
}
