using OnnxLm.Engine.Sampling;
using OnnxLm.Engine.Scheduling;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Scheduling;

/// <summary><see cref="InferenceEngine.WaitForIdleAsync"/> from other threads while requests come and go.</summary>
public class EngineIdleTests
{
    [Test, NotInParallel]   // alone: two spinning observers would slow the timing-sensitive tests around it
    public async Task WaitForIdle_never_reports_idle_while_a_submitted_request_is_unfinished()
    {
        // An observer polls idleness (timeout zero: a plain read of the engine's published state) as fast as it can while
        // requests are submitted one after another; whenever it sees idle, every request submitted before it looked must
        // have its events completed. Reading the active count before the pending one, or an engine-thread list, lets it see
        // idle in the instant a request moves from the queue into a row.
        using var engine = EngineDriver.Start(TestModels.TinyFp32, maxBatchSize: 2, maxQueue: 8);
        const int Requests = 400;
        var requests = new GenerationRequest[Requests];
        int submitted = 0, falseIdle = 0, idleSeen = 0;
        bool done = false;
        // Two observers: a false idle needs an observer's two reads to straddle the engine's two writes of one admission.
        var observers = Enumerable.Range(0, 2).Select(_ => new Thread(() =>
        {
            while (!Volatile.Read(ref done))
            {
                int before = Volatile.Read(ref submitted);
                var idle = engine.WaitForIdleAsync(TimeSpan.Zero);
                if (!idle.IsCompleted || !idle.Result) continue;
                Interlocked.Increment(ref idleSeen);
                for (int i = 0; i < before; i++)
                    if (!requests[i].Events.IsCompleted) { Interlocked.Increment(ref falseIdle); break; }
            }
        })
        { IsBackground = true, Name = "idle-observer" }).ToList();
        observers.ForEach(o => o.Start());
        var collectors = new List<Collector>(Requests);
        for (int i = 0; i < Requests; i++)
        {
            // Small event rings and some longer outputs: some requests finish with events still waiting for ring room.
            var request = new GenerationRequest(EngineDriver.RandomPrompt(7000 + i, 1 + i % 9), SamplingParams.Greedy, 1 + i % 5,
                ignoreEos: true, eventCapacity: 2);
            requests[i] = request;
            collectors.Add(EngineDriver.Submit(engine, request));
            Volatile.Write(ref submitted, i + 1);   // only once TrySubmit returned: the engine owes it from here on
            // Mostly one at a time, so most requests arrive at an idle engine (the moment a false idle can be seen);
            // every fifth waits behind the previous one.
            if (i % 5 != 3) await collectors[^1].Completion;
        }
        await Task.WhenAll(collectors.Select(c => c.Completion));
        await Assert.That(await engine.WaitForIdleAsync(TimeSpan.FromSeconds(10))).IsTrue();
        Volatile.Write(ref done, true);
        observers.ForEach(o => o.Join());
        await Assert.That(idleSeen).IsGreaterThan(0);
        await Assert.That(falseIdle).IsEqualTo(0);
    }
}
