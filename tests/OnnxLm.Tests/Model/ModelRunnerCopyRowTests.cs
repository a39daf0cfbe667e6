using OnnxLm.Engine.Model;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Model;

/// <summary><see cref="ModelRunner.CopyRow"/>: compaction, prefix reuse and forks copy KV between rows on the engine thread.</summary>
public class ModelRunnerCopyRowTests
{
    [Test]
    public async Task CopyRow_copies_every_layer_and_head_and_allocates_nothing()
    {
        using var runner = new ModelRunner(ModelContract.Inspect(TestModels.TinyFp32), slots: 3, maxLen: 64, maxPrefillTokens: 16, threads: 1);
        runner.Prefill(0, 0, EngineDriver.RandomPrompt(11, 12));
        runner.CopyRow(0, 2, 12);   // warm: the first call may JIT
        runner.Prefill(1, 0, EngineDriver.RandomPrompt(12, 12));

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++) runner.CopyRow(1, 2, 12);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        await Assert.That(allocated).IsEqualTo(0L);

        var c = runner.Contract.Config;
        for (int l = 0; l < c.NumLayers; l++)
            for (int kv = 0; kv < 2; kv++)
                for (int h = 0; h < c.NumKvHeads; h++)
                    await Assert.That(runner.RowBytes(2, l, kv == 1, h, 12).SequenceEqual(runner.RowBytes(1, l, kv == 1, h, 12))).IsTrue();
    }
}
