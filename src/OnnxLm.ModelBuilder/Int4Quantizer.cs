namespace OnnxLm.Builder;

/// <summary>
/// Packs a float MatMul weight <c>W[K, N]</c> into the <c>com.microsoft::MatMulNBits</c> layout (bits 4, block B of 16
/// to 256 as GenAI's model builder writes them, no zero-point input, so the zero point is 8): <c>B[N, K/B, B/2]</c>
/// bytes with the even element in the low nibble, and <c>scales[N * K/B]</c> with <c>scale = max|w| / 7</c> and
/// <c>q = clamp(round(w / scale) + 8, 0, 15)</c>.
/// </summary>
internal static class Int4Quantizer
{
    /// <summary>The block size of users' usual CPU folders (<c>cpu-int4-rtn-block-32-acc-level-4</c>).</summary>
    public const int DefaultBlockSize = 32;

    public static bool IsValidBlockSize(int blockSize) => blockSize is >= 16 and <= 256 && (blockSize & (blockSize - 1)) == 0;

    public static void Quantize(ReadOnlySpan<float> weight, int k, int n, Span<byte> packed, Span<float> scales, int blockSize = DefaultBlockSize)
    {
        int BlockSize = blockSize, BytesPerBlock = blockSize / 2;
        int blocks = k / BlockSize;
        if (!IsValidBlockSize(blockSize) || k % BlockSize != 0 || weight.Length != k * n || packed.Length != n * blocks * BytesPerBlock
            || scales.Length != n * blocks)
            throw new ArgumentException($"Int4 buffers do not match [K, N] with K a multiple of {blockSize}.");

        var maxAbs = new float[n];
        for (int b = 0; b < blocks; b++)
        {
            // Rows of W are contiguous over n, so walk rows outer and columns inner.
            maxAbs.AsSpan().Clear();
            for (int r = 0; r < BlockSize; r++)
            {
                var row = weight.Slice((b * BlockSize + r) * n, n);
                for (int c = 0; c < n; c++)
                    maxAbs[c] = MathF.Max(maxAbs[c], MathF.Abs(row[c]));
            }
            for (int c = 0; c < n; c++)
                scales[c * blocks + b] = maxAbs[c] / 7f;

            for (int r = 0; r < BlockSize; r++)
            {
                var row = weight.Slice((b * BlockSize + r) * n, n);
                int shift = (r & 1) * 4; // even element in the low nibble
                for (int c = 0; c < n; c++)
                {
                    float scale = scales[c * blocks + b];
                    int q = scale == 0f ? 8 : Math.Clamp((int)MathF.Round(row[c] / scale) + 8, 0, 15);
                    ref byte slot = ref packed[(c * blocks + b) * BytesPerBlock + (r >> 1)];
                    slot |= (byte)(q << shift);
                }
            }
        }
    }
}
