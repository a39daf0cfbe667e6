using OnnxLm.Engine.Scheduling;
using TUnit.Assertions.Enums;

namespace OnnxLm.Tests.Scheduling;

public class SpscRingTests
{
    [Test]
    public async Task Items_come_out_in_fifo_order_across_many_wrap_arounds()
    {
        var ring = new SpscRing<int>(8);
        var received = new List<int>();
        int next = 0;
        for (int batch = 0; batch < 64; batch++)
        {
            for (int i = 0; i < 7; i++) await Assert.That(ring.TryWrite(next++)).IsTrue();
            await Assert.That(ring.Count).IsEqualTo(7);
            while (ring.TryRead(out int item)) received.Add(item);
        }
        await Assert.That(received).IsEquivalentTo(Enumerable.Range(0, 448), CollectionOrdering.Matching);
        await Assert.That(ring.TryRead(out _)).IsFalse();
    }

    [Test]
    public async Task Full_ring_rejects_write_until_the_reader_frees_a_slot()
    {
        var ring = new SpscRing<int>(4);
        for (int i = 0; i < 4; i++) await Assert.That(ring.TryWrite(i)).IsTrue();
        await Assert.That(ring.TryWrite(4)).IsFalse();
        await Assert.That(ring.TryRead(out int first)).IsTrue();
        await Assert.That(first).IsEqualTo(0);
        await Assert.That(ring.TryWrite(4)).IsTrue();
        await Assert.That(ring.TryWrite(5)).IsFalse();
    }

    [Test]
    public async Task Async_reader_receives_a_million_items_in_order_from_a_pausing_producer()
    {
        const int Items = 1_000_000;
        var ring = new SpscRing<long>(256);
        var producer = new Thread(() =>
        {
            var random = new Random(12345);
            int nextPause = random.Next(1, 5000);
            var spin = new SpinWait();
            for (long i = 0; i < Items; i++)
            {
                while (!ring.TryWrite(i)) spin.SpinOnce();
                spin.Reset();
                if (--nextPause == 0)
                {
                    // Pauses of varying length let the reader drain and park, so both the synchronous and the
                    // armed-wait paths are exercised many times.
                    int kind = random.Next(3);
                    if (kind == 0) Thread.Sleep(1);
                    else if (kind == 1) Thread.Yield();
                    else Thread.SpinWait(random.Next(10, 2000));
                    nextPause = random.Next(1, 5000);
                }
            }
            ring.Complete();
        })
        { IsBackground = true };

        var reader = Task.Run(async () =>
        {
            long expected = 0, mismatches = 0;
            while (await ring.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
            {
                while (ring.TryRead(out long item))
                {
                    if (item != expected) mismatches++;
                    expected = item + 1;
                }
            }
            return (expected, mismatches);
        });
        producer.Start();

        var (count, outOfOrder) = await reader.WaitAsync(TimeSpan.FromSeconds(60));
        await Assert.That(outOfOrder).IsEqualTo(0L);
        await Assert.That(count).IsEqualTo((long)Items);
        await Assert.That(ring.IsCompleted).IsTrue();
    }

    [Test]
    public async Task Completion_wakes_a_waiting_reader_which_drains_and_then_sees_false()
    {
        var ring = new SpscRing<int>(16);
        ValueTask<bool> pending = ring.WaitToReadAsync(CancellationToken.None);
        await Assert.That(pending.IsCompleted).IsFalse();

        var producer = new Thread(() =>
        {
            ring.TryWrite(1);
            ring.TryWrite(2);
            ring.Complete();
        });
        producer.Start();
        await Assert.That(await pending.AsTask().WaitAsync(TimeSpan.FromSeconds(10))).IsTrue();
        producer.Join();

        // Completed but not drained: the reader is still told to read.
        await Assert.That(await ring.WaitToReadAsync(CancellationToken.None)).IsTrue();
        var items = new List<int>();
        while (ring.TryRead(out int item)) items.Add(item);
        await Assert.That(items).IsEquivalentTo(new[] { 1, 2 }, CollectionOrdering.Matching);
        await Assert.That(await ring.WaitToReadAsync(CancellationToken.None)).IsFalse();
    }

    [Test]
    public async Task Completion_with_no_items_completes_a_pending_wait_with_false()
    {
        var ring = new SpscRing<int>(16);
        ValueTask<bool> pending = ring.WaitToReadAsync(CancellationToken.None);
        await Assert.That(pending.IsCompleted).IsFalse();
        new Thread(ring.Complete).Start();
        await Assert.That(await pending.AsTask().WaitAsync(TimeSpan.FromSeconds(10))).IsFalse();
    }

    [Test]
    public async Task Cancelling_a_pending_wait_throws_and_a_later_wait_still_works()
    {
        var ring = new SpscRing<int>(16);
        using var cts = new CancellationTokenSource();
        ValueTask<bool> pending = ring.WaitToReadAsync(cts.Token);
        await Assert.That(pending.IsCompleted).IsFalse();
        cts.Cancel();
        await Assert.That(async () => await pending).Throws<OperationCanceledException>();
        await Assert.That(ring.IsReaderWaiting).IsFalse();

        // The ring is intact: a new wait is woken by a write from the producer thread.
        using var live = new CancellationTokenSource();
        ValueTask<bool> next = ring.WaitToReadAsync(live.Token);
        await Assert.That(next.IsCompleted).IsFalse();
        new Thread(() => ring.TryWrite(42)).Start();
        await Assert.That(await next.AsTask().WaitAsync(TimeSpan.FromSeconds(10))).IsTrue();
        await Assert.That(ring.TryRead(out int item)).IsTrue();
        await Assert.That(item).IsEqualTo(42);
    }

    [Test]
    public async Task Reader_continuation_never_runs_on_the_producer_thread()
    {
        var ring = new SpscRing<int>(16);
        int producerThreadId = 0;
        var armed = new ManualResetEventSlim();
        var producer = new Thread(() =>
        {
            producerThreadId = Environment.CurrentManagedThreadId;
            armed.Wait();
            ring.TryWrite(1);
            Thread.Sleep(200); // stay alive: an inline continuation would run right here, before we return
        });
        producer.Start();

        int resumedOn = await Task.Run(async () =>
        {
            ValueTask<bool> wait = ring.WaitToReadAsync(CancellationToken.None);
            armed.Set();
            await wait; // no ConfigureAwait(false) needed: the pool thread has no context to return to
            return Environment.CurrentManagedThreadId;
        });
        producer.Join();
        await Assert.That(resumedOn).IsNotEqualTo(producerThreadId);
    }

    [Test]
    public async Task Wait_with_an_already_cancelled_token_throws()
    {
        var ring = new SpscRing<int>(16);
        await Assert.That(async () => await ring.WaitToReadAsync(new CancellationToken(canceled: true)))
            .Throws<OperationCanceledException>();
    }

    [Test]
    public async Task Reset_makes_a_completed_ring_reusable()
    {
        var ring = new SpscRing<int>(4);
        ring.TryWrite(7);
        ring.Complete();
        ring.Reset();
        await Assert.That(ring.IsCompleted).IsFalse();
        await Assert.That(ring.TryRead(out _)).IsFalse();
        for (int i = 0; i < 4; i++) await Assert.That(ring.TryWrite(i)).IsTrue();
        await Assert.That(ring.TryRead(out int first)).IsTrue();
        await Assert.That(first).IsEqualTo(0);
    }

    [Test]
    public async Task Steady_state_write_and_read_allocate_nothing()
    {
        var ring = new SpscRing<long>(64);
        long allocated = MeasureSynchronous(ring, 1_000); // warm-up: JIT and tiering
        allocated = MeasureSynchronous(ring, 100_000);
        await Assert.That(allocated).IsEqualTo(0L);
    }

    private static long MeasureSynchronous(SpscRing<long> ring, int items)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        long checksum = 0;
        for (int i = 0; i < items; i++)
        {
            ring.TryWrite(i);
            if (ring.TryRead(out long v)) checksum += v;
        }
        long after = GC.GetAllocatedBytesForCurrentThread();
        if (checksum != (long)items * (items - 1) / 2) throw new InvalidOperationException("ring lost items");
        return after - before;
    }

    [Test, NotInParallel] // runs alone: the allocation counter is process-wide
    public async Task Awaited_wait_path_allocates_nothing_per_item()
    {
        const int Warmup = 5_000;
        const int Windows = 5;
        const int PerWindow = 10_000;
        var ring = new SpscRing<long>(64);
        using var cts = new CancellationTokenSource(); // a cancellable token also exercises register/unregister
        long consumed = 0, mismatches = 0;
        var windowBytes = new long[Windows];

        var reader = Task.Run(async () =>
        {
            long expected = 0;
            while (await ring.WaitToReadAsync(cts.Token).ConfigureAwait(false))
            {
                while (ring.TryRead(out long item))
                {
                    if (item != expected) mismatches++;
                    expected++;
                    Volatile.Write(ref consumed, expected);
                }
            }
        });
        var producer = new Thread(() =>
        {
            long total = Warmup + (long)Windows * PerWindow, windowStart = 0;
            for (long i = 0; i < total; i++)
            {
                if (i >= Warmup && (i - Warmup) % PerWindow == 0)
                {
                    long now = GC.GetTotalAllocatedBytes(precise: true);
                    if (i > Warmup) windowBytes[(i - Warmup) / PerWindow - 1] = now - windowStart;
                    windowStart = now;
                }
                // Write only once the reader has armed its wait, so every item goes through the awaited path:
                // arm, producer CAS, SetResult, asynchronous continuation, GetResult.
                var spin = new SpinWait();
                while (!ring.IsReaderWaiting) spin.SpinOnce(sleep1Threshold: -1);
                ring.TryWrite(i);
                while (Volatile.Read(ref consumed) != i + 1) spin.SpinOnce(sleep1Threshold: -1);
            }
            windowBytes[Windows - 1] = GC.GetTotalAllocatedBytes(precise: true) - windowStart;
            ring.Complete();
        })
        { IsBackground = true };
        producer.Start();
        await reader.WaitAsync(TimeSpan.FromSeconds(120));
        producer.Join();

        await Assert.That(mismatches).IsEqualTo(0L);
        await Assert.That(Volatile.Read(ref consumed)).IsEqualTo(Warmup + (long)Windows * PerWindow);
        // The counter is process-wide, so unrelated runtime work can allocate in one window; an allocation per item
        // would show in every window (the smallest object is 24 bytes: ≥ 240 KB per window).
        long quietest = windowBytes.Min();
        await Assert.That(quietest).IsLessThan((long)PerWindow);
    }
}
