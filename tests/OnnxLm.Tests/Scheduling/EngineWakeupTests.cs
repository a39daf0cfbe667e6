using System.Diagnostics;
using OnnxLm.Engine.Scheduling;

namespace OnnxLm.Tests.Scheduling;

public class EngineWakeupTests
{
    // Long enough that even a handful of lost wake-ups would blow the time bound and show up as timeouts.
    private const int WaitTimeoutMs = 5_000;

    [Test]
    public async Task Ping_pong_of_100k_round_trips_never_loses_a_wake_up()
    {
        const int RoundTrips = 100_000;
        var requests = new MpscRing<int>(16);
        using var engineWakeup = new EngineWakeup();
        using var clientWakeup = new EngineWakeup();
        int acknowledged = 0, engineTimeouts = 0, clientTimeouts = 0, outOfOrder = 0;

        var engine = new Thread(() =>
        {
            int expected = 0;
            while (expected < RoundTrips)
            {
                bool any = false;
                while (requests.TryDequeue(out int request))
                {
                    any = true;
                    if (request != expected) outOfOrder++;
                    expected = request + 1;
                    Volatile.Write(ref acknowledged, expected);
                    clientWakeup.Signal();
                }
                if (!any && expected < RoundTrips && !engineWakeup.Wait(WaitTimeoutMs)) engineTimeouts++;
            }
        }) { IsBackground = true };
        var client = new Thread(() =>
        {
            for (int i = 0; i < RoundTrips; i++)
            {
                requests.TryEnqueue(i);
                engineWakeup.Signal();
                while (Volatile.Read(ref acknowledged) != i + 1)
                    if (!clientWakeup.Wait(WaitTimeoutMs)) clientTimeouts++;
            }
        }) { IsBackground = true };

        var clock = Stopwatch.StartNew();
        engine.Start();
        client.Start();
        await Assert.That(client.Join(TimeSpan.FromSeconds(60))).IsTrue();
        await Assert.That(engine.Join(TimeSpan.FromSeconds(60))).IsTrue();
        clock.Stop();

        await Assert.That(engineTimeouts).IsEqualTo(0);
        await Assert.That(clientTimeouts).IsEqualTo(0);
        await Assert.That(outOfOrder).IsEqualTo(0);
        await Assert.That(clock.Elapsed).IsLessThan(TimeSpan.FromSeconds(20)); // hang guard only
    }

    [Test]
    public async Task Many_producers_with_bursts_never_leave_the_engine_asleep_on_work()
    {
        const int Producers = 3;
        const int PerProducer = 50_000;
        var ring = new MpscRing<int>(64);
        using var wakeup = new EngineWakeup();
        int timeouts = 0;
        long received = 0;

        var engine = new Thread(() =>
        {
            while (received < (long)Producers * PerProducer)
            {
                bool any = false;
                while (ring.TryDequeue(out _)) { any = true; received++; }
                if (!any && received < (long)Producers * PerProducer && !wakeup.Wait(WaitTimeoutMs)) timeouts++;
            }
        }) { IsBackground = true };
        var producers = new Thread[Producers];
        for (int p = 0; p < Producers; p++)
        {
            int seed = p;
            producers[p] = new Thread(() =>
            {
                var random = new Random(seed);
                var spin = new SpinWait();
                for (int i = 0; i < PerProducer; i++)
                {
                    while (!ring.TryEnqueue(i)) { wakeup.Signal(); spin.SpinOnce(); }
                    spin.Reset();
                    wakeup.Signal();
                    // Irregular gaps so the engine keeps falling asleep and being woken mid-burst.
                    if (random.Next(64) == 0) Thread.Sleep(0);
                }
            }) { IsBackground = true };
        }

        engine.Start();
        foreach (var t in producers) t.Start();
        foreach (var t in producers) await Assert.That(t.Join(TimeSpan.FromSeconds(60))).IsTrue();
        await Assert.That(engine.Join(TimeSpan.FromSeconds(60))).IsTrue();
        await Assert.That(timeouts).IsEqualTo(0);
        await Assert.That(received).IsEqualTo((long)Producers * PerProducer);
    }

    [Test]
    public async Task Wait_returns_at_once_when_a_signal_came_before_it()
    {
        using var wakeup = new EngineWakeup();
        wakeup.Signal();
        var clock = Stopwatch.StartNew();
        await Assert.That(wakeup.Wait(WaitTimeoutMs)).IsTrue();
        await Assert.That(clock.ElapsedMilliseconds).IsLessThan(1_000L);
        // The permit was consumed: with no new signal the next wait times out.
        await Assert.That(wakeup.Wait(50)).IsFalse();
    }
}
