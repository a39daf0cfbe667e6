using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Cache.Ssd;

/// <summary>What reading a prompt's blocks back from the SSD tier costs the engine thread in allocations.</summary>
public class SsdReadAllocationTests
{
    [Test]
    public async Task Ssd_hits_reuse_their_staging_buffer_instead_of_allocating_one_per_request()
    {
        string dir = Path.Combine(Path.GetTempPath(), "onnxlm-ssd-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var prompts = Enumerable.Range(0, 3).Select(i => EngineDriver.RandomPrompt(950 + i, 300)).ToArray();
            using (var first = EngineDriver.Start(TestModels.TinyFp32, maxBatchSize: 1, ssdDir: dir))
                foreach (var p in prompts) await Assert.That((await EngineDriver.RunAsync(first, EngineDriver.Greedy(p, 2))).Error).IsNull();
            // shutdown wrote the RAM blocks to disk; a restart starts with an empty RAM pool

            using var engine = EngineDriver.Start(TestModels.TinyFp32, maxBatchSize: 1, ssdDir: dir);
            long chainBytes = 18 * engine.Cache!.Layout.BlockBytes;   // (300 - 1) / 16 whole blocks per prompt
            var atFirstPrefill = new List<long>();
            bool sampled = false;
            engine.BeforeRun = prefill =>
            {
                // On the engine thread: its allocations so far, at each request's first prefill run.
                if (prefill && !sampled) atFirstPrefill.Add(GC.GetAllocatedBytesForCurrentThread());
                sampled |= prefill;
            };
            foreach (var p in prompts)
            {
                sampled = false;
                var r = await EngineDriver.RunAsync(engine, EngineDriver.Greedy(p, 2));
                await Assert.That(r.Error).IsNull();
                await Assert.That(r.CachedTokens).IsEqualTo(288);   // every whole block came from disk
            }
            engine.BeforeRun = null;
            await Assert.That(atFirstPrefill.Count).IsEqualTo(3);
            // Between the second and the third request's first prefill: the second one's decode and end, the third one's
            // admission and SSD read. Its staging buffer is the one the second returned, not a new one the chain's size.
            long between = atFirstPrefill[2] - atFirstPrefill[1];
            await Assert.That(between).IsLessThan(chainBytes / 2);
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); }
            catch (IOException) { }
        }
    }
}
