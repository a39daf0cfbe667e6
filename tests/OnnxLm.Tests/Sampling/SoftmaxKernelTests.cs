using OnnxLm.Engine.Sampling;

namespace OnnxLm.Tests.Sampling;

public class SoftmaxKernelTests
{
    [Test]
    [Arguments(true)]
    [Arguments(false)]
    public async Task Exp_shifted_matches_double_precision_exp(bool useVector512)
    {
        // Lengths cover the vector bodies and the scalar tail; values span the whole useful exponent range.
        foreach (int length in new[] { 1, 7, 16, 33, 1000, 4099 })
        {
            var random = new Random(length);
            var x = new float[length];
            for (int i = 0; i < length; i++) x[i] = (float)(random.NextDouble() * 120 - 100);
            int minusInfinity = length > 1 ? length / 2 : -1;
            if (minusInfinity >= 0) x[minusInfinity] = float.NegativeInfinity;
            float max = x.Max();
            const float scale = 0.9f;
            var dest = new float[length];
            float sum = SoftmaxKernel.ExpShifted(x, max, scale, dest, useVector512);

            double expectedSum = 0, worst = 0;
            for (int i = 0; i < length; i++)
            {
                double z = ((double)x[i] - max) * scale;
                double expected = z < -87.33654 ? 0 : Math.Exp((float)((x[i] - max) * scale));
                expectedSum += expected;
                double error = expected == 0 ? dest[i] : Math.Abs(dest[i] - expected) / expected;
                worst = Math.Max(worst, error);
            }
            await Assert.That(worst).IsLessThan(5e-7);
            await Assert.That(Math.Abs(sum - expectedSum) / expectedSum).IsLessThan(1e-5);
            await Assert.That(dest[Array.IndexOf(x, max)]).IsEqualTo(1f);
            if (minusInfinity >= 0) await Assert.That(dest[minusInfinity]).IsEqualTo(0f);
        }
    }

    [Test]
    public async Task Exp_shifted_can_run_in_place()
    {
        float[] x = Enumerable.Range(0, 40).Select(i => -i * 0.25f).ToArray();
        float[] copy = (float[])x.Clone();
        var separate = new float[40];
        SoftmaxKernel.ExpShifted(copy, 0f, 1f, separate);
        SoftmaxKernel.ExpShifted(x, 0f, 1f, x);
        await Assert.That(x).IsEquivalentTo(separate);
    }
}
