using OnnxLm.Engine.Scheduling;

namespace OnnxLm.Tests.Scheduling;

public class MpscRingTests
{
    private readonly record struct Tagged(int Producer, int Sequence);

    [Test]
    public async Task Items_come_out_in_fifo_order_across_many_wrap_arounds()
    {
        var ring = new MpscRing<int>(8);
        var received = new List<int>();
        int next = 0;
        // Batches of 5 into 8 slots: the positions wrap every few batches, 40 laps in all.
        for (int batch = 0; batch < 64; batch++)
        {
            for (int i = 0; i < 5; i++) await Assert.That(ring.TryEnqueue(next++)).IsTrue();
            await Assert.That(ring.Count).IsEqualTo(5);
            while (ring.TryDequeue(out int item)) received.Add(item);
        }
        await Assert.That(received).IsEquivalentTo(Enumerable.Range(0, 320), TUnit.Assertions.Enums.CollectionOrdering.Matching);
        await Assert.That(ring.TryDequeue(out _)).IsFalse();
        await Assert.That(ring.Count).IsEqualTo(0);
    }

    [Test]
    public async Task Full_ring_rejects_enqueue_until_the_consumer_frees_a_slot()
    {
        var ring = new MpscRing<long>(4);
        for (int i = 0; i < 4; i++) await Assert.That(ring.TryEnqueue(i)).IsTrue();
        await Assert.That(ring.TryEnqueue(99)).IsFalse();
        await Assert.That(ring.Count).IsEqualTo(4);

        await Assert.That(ring.TryDequeue(out long first)).IsTrue();
        await Assert.That(first).IsEqualTo(0L);
        await Assert.That(ring.TryEnqueue(4)).IsTrue();
        await Assert.That(ring.TryEnqueue(5)).IsFalse();

        var rest = new List<long>();
        while (ring.TryDequeue(out long item)) rest.Add(item);
        await Assert.That(rest).IsEquivalentTo(new long[] { 1, 2, 3, 4 }, TUnit.Assertions.Enums.CollectionOrdering.Matching);
    }

    [Test]
    public async Task Capacity_must_be_a_power_of_two()
    {
        await Assert.That(() => new MpscRing<int>(6)).Throws<ArgumentOutOfRangeException>();
        await Assert.That(() => new MpscRing<int>(1)).Throws<ArgumentOutOfRangeException>();
    }

    [Test]
    [Arguments(16)]      // always full or empty: every slot is reused thousands of times under contention
    [Arguments(1 << 16)] // rarely full: producers run unthrottled side by side, where claim races happen
    public async Task Four_producers_deliver_every_item_exactly_once_in_per_producer_order(int capacity)
    {
        const int Producers = 4;
        const int PerProducer = 200_000;
        var ring = new MpscRing<Tagged>(capacity);
        var nextExpected = new int[Producers];
        long outOfOrder = 0, received = 0;
        bool producersDone = false;

        var consumer = new Thread(() =>
        {
            var spin = new SpinWait();
            while (received < (long)Producers * PerProducer)
            {
                if (!ring.TryDequeue(out Tagged t))
                {
                    // A lost item would otherwise keep us polling forever: once every producer has returned, an empty
                    // ring is final.
                    if (!Volatile.Read(ref producersDone)) { spin.SpinOnce(); continue; }
                    if (!ring.TryDequeue(out t)) break;
                }
                spin.Reset();
                // A duplicate or a skipped item shows up as a sequence that is not exactly the next one expected.
                if (t.Sequence != nextExpected[t.Producer]) outOfOrder++;
                nextExpected[t.Producer] = t.Sequence + 1;
                received++;
            }
        })
        { IsBackground = true };
        var producers = new Thread[Producers];
        for (int p = 0; p < Producers; p++)
        {
            int id = p;
            producers[p] = new Thread(() =>
            {
                var spin = new SpinWait();
                for (int i = 0; i < PerProducer; i++)
                {
                    while (!ring.TryEnqueue(new Tagged(id, i))) spin.SpinOnce();
                    spin.Reset();
                }
            })
            { IsBackground = true };
        }

        consumer.Start();
        foreach (var t in producers) t.Start();
        foreach (var t in producers) await Assert.That(t.Join(TimeSpan.FromSeconds(30))).IsTrue();
        Volatile.Write(ref producersDone, true);
        await Assert.That(consumer.Join(TimeSpan.FromSeconds(30))).IsTrue();

        await Assert.That(outOfOrder).IsEqualTo(0L);
        await Assert.That(received).IsEqualTo((long)Producers * PerProducer);
        await Assert.That(nextExpected).IsEquivalentTo(new[] { PerProducer, PerProducer, PerProducer, PerProducer });
        await Assert.That(ring.TryDequeue(out _)).IsFalse();
    }

    [Test]
    public async Task Steady_state_enqueue_and_dequeue_allocate_nothing()
    {
        var ring = new MpscRing<Tagged>(64);
        long allocated = MeasureAllocations(ring, 1_000); // warm-up: JIT and tiering
        allocated = MeasureAllocations(ring, 100_000);
        await Assert.That(allocated).IsEqualTo(0L);
    }

    private static long MeasureAllocations(MpscRing<Tagged> ring, int items)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        long checksum = 0;
        for (int i = 0; i < items; i++)
        {
            ring.TryEnqueue(new Tagged(1, i));
            if (ring.TryDequeue(out Tagged t)) checksum += t.Sequence;
        }
        long after = GC.GetAllocatedBytesForCurrentThread();
        if (checksum != (long)items * (items - 1) / 2) throw new InvalidOperationException("ring lost items");
        return after - before;
    }
}
