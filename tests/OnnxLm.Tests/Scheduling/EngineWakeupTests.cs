using System.Diagnostics;
using OnnxLm.Engine.Scheduling;

namespace OnnxLm.Tests.Scheduling;

/// <summary>
/// No lost wake-ups, asserted without a wall-clock bound that a loaded machine could break: every wait is unbounded, so
/// a lost wake-up leaves a thread asleep on work forever, and a watchdog fails the test once the work stops advancing for
/// <see cref="StallLimit"/> (a slow machine keeps advancing; only a lost wake-up stops it).
/// </summary>
public class EngineWakeupTests
{
    private static readonly TimeSpan StallLimit = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Waits for <paramref name="threads"/> to finish while <paramref name="progress"/> keeps moving; returns null when they
    /// finished, otherwise why the test fails (the threads are background threads, left asleep).
    /// </summary>
    private static string? RunWithoutStall(Func<long> progress, long total, params Thread[] threads)
    {
        foreach (var t in threads) t.Start();
        long last = -1;
        var still = Stopwatch.StartNew();
        while (threads.Any(t => t.IsAlive))
        {
            Thread.Sleep(50);
            long now = progress();
            if (now != last) { last = now; still.Restart(); }
            else if (still.Elapsed > StallLimit)
                return $"no progress for {StallLimit.TotalSeconds:0} s at {now} of {total}: a wake-up was lost (a thread sleeps on published work)";
        }
        return null;
    }

    [Test]
    public async Task Ping_pong_of_100k_round_trips_never_loses_a_wake_up()
    {
        const int RoundTrips = 100_000;
        var requests = new MpscRing<int>(16);
        using var engineWakeup = new EngineWakeup();
        using var clientWakeup = new EngineWakeup();
        int acknowledged = 0, outOfOrder = 0;

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
                if (!any && expected < RoundTrips) engineWakeup.Wait(Timeout.Infinite);
            }
        })
        { IsBackground = true };
        var client = new Thread(() =>
        {
            for (int i = 0; i < RoundTrips; i++)
            {
                requests.TryEnqueue(i);
                engineWakeup.Signal();
                while (Volatile.Read(ref acknowledged) != i + 1)
                    clientWakeup.Wait(Timeout.Infinite);
            }
        })
        { IsBackground = true };

        string? stall = RunWithoutStall(() => Volatile.Read(ref acknowledged), RoundTrips, engine, client);
        await Assert.That(stall).IsNull();
        await Assert.That(Volatile.Read(ref acknowledged)).IsEqualTo(RoundTrips);
        await Assert.That(outOfOrder).IsEqualTo(0);
    }

    [Test]
    public async Task Many_producers_with_bursts_never_leave_the_engine_asleep_on_work()
    {
        const int Producers = 3;
        const int PerProducer = 50_000;
        const long Total = (long)Producers * PerProducer;
        var ring = new MpscRing<int>(64);
        using var wakeup = new EngineWakeup();
        long received = 0;

        var engine = new Thread(() =>
        {
            while (Volatile.Read(ref received) < Total)
            {
                bool any = false;
                while (ring.TryDequeue(out _)) { any = true; Volatile.Write(ref received, received + 1); }
                if (!any && Volatile.Read(ref received) < Total) wakeup.Wait(Timeout.Infinite);
            }
        })
        { IsBackground = true };
        var threads = new Thread[Producers + 1];
        threads[0] = engine;
        for (int p = 0; p < Producers; p++)
        {
            int seed = p;
            threads[p + 1] = new Thread(() =>
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
            })
            { IsBackground = true };
        }

        string? stall = RunWithoutStall(() => Volatile.Read(ref received), Total, threads);
        await Assert.That(stall).IsNull();
        await Assert.That(Volatile.Read(ref received)).IsEqualTo(Total);
    }

    [Test]
    public async Task Wait_returns_at_once_when_a_signal_came_before_it()
    {
        using var wakeup = new EngineWakeup();
        wakeup.Signal();
        // Nothing else signals: true can only come from the permit the earlier signal left (a lost permit times out).
        await Assert.That(wakeup.Wait(60_000)).IsTrue();
        // The permit was consumed: with no new signal the next wait times out.
        await Assert.That(wakeup.Wait(50)).IsFalse();
    }
}
