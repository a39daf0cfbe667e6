using OnnxLm.Builder;

namespace OnnxLm.Tests.Builder;

public class Int4QuantizerTests
{
    [Test]
    public async Task Packs_each_column_block_with_the_even_element_in_the_low_nibble()
    {
        const int k = 32, n = 3;
        var weight = new float[k * n];
        for (int r = 0; r < k; r++)
        {
            float w = r % 15 + 1 - 8; // q - 8 for q in 1..15; max |w| = 7 gives scale 1
            weight[r * n + 0] = w;
            weight[r * n + 1] = -w;
            weight[r * n + 2] = 0f;
        }
        var packed = new byte[n * (Int4Quantizer.DefaultBlockSize / 2)];
        var scales = new float[n];

        Int4Quantizer.Quantize(weight, k, n, packed, scales);

        await Assert.That(scales).IsEquivalentTo(new[] { 1f, 1f, 0f });
        for (int r = 0; r < k; r++)
        {
            int q = r % 15 + 1;
            int shift = (r & 1) * 4;
            await Assert.That((packed[0 * 16 + r / 2] >> shift) & 0xF).IsEqualTo(q);
            await Assert.That((packed[1 * 16 + r / 2] >> shift) & 0xF).IsEqualTo(16 - q);
            await Assert.That((packed[2 * 16 + r / 2] >> shift) & 0xF).IsEqualTo(8);
        }
    }

    [Test]
    public async Task Dequantized_weights_are_within_half_a_step()
    {
        const int k = 96, n = 5, blocks = k / 32;
        var weight = new float[k * n];
        new WeightRandom(42).FillNormal(weight, 0f, 0.3f);
        var packed = new byte[n * blocks * 16];
        var scales = new float[n * blocks];

        Int4Quantizer.Quantize(weight, k, n, packed, scales);

        double worst = 0;
        for (int c = 0; c < n; c++)
            for (int r = 0; r < k; r++)
            {
                int b = r / 32, j = r % 32;
                int q = (packed[(c * blocks + b) * 16 + j / 2] >> ((j & 1) * 4)) & 0xF;
                float scale = scales[c * blocks + b];
                worst = Math.Max(worst, Math.Abs((q - 8) * scale - weight[r * n + c]) / scale);
            }
        await Assert.That(worst).IsLessThanOrEqualTo(0.5 + 1e-5);
    }
}
