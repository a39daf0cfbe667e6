namespace OnnxLm.Engine.Model.Builder;

/// <summary>
/// Packs a float MatMul weight <c>W[K, N]</c> into the <c>com.microsoft::MatMulNBits</c> layout (bits 4, block 32,
/// no zero-point input, so the zero point is 8): <c>B[N, K/32, 16]</c> bytes with the even element in the low nibble,
/// and <c>scales[N * K/32]</c> with <c>scale = max|w| / 7</c> and <c>q = clamp(round(w / scale) + 8, 0, 15)</c>.
/// </summary>
internal static class Int4Quantizer
{
    public const int BlockSize = 32;
    public const int BytesPerBlock = BlockSize / 2;

    public static void Quantize(ReadOnlySpan<float> weight, int k, int n, Span<byte> packed, Span<float> scales)
    {
        int blocks = k / BlockSize;
        if (k % BlockSize != 0 || weight.Length != k * n || packed.Length != n * blocks * BytesPerBlock
            || scales.Length != n * blocks)
            throw new ArgumentException("Int4 buffers do not match [K, N] with K a multiple of 32.");

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
